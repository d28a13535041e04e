-- Hourly and daily rollups kept current incrementally: an invalidation log
-- filled by statement-level triggers on measurements, a watermark per
-- rollup, and refresh functions that recompute only invalidated buckets.

-- Tables, not materialized views: a materialized view can only be
-- refreshed whole, and the point of these rollups is to recompute only the
-- buckets that changed. The names are the ones reports already use.
CREATE TABLE reporting.mv_measurements_hourly (
    series_id         integer NOT NULL,
    bucket            timestamptz NOT NULL,
    sample_count      integer NOT NULL,
    bad_count         integer NOT NULL,
    substituted_count integer NOT NULL,
    value_sum         double precision,
    value_min         double precision,
    value_max         double precision,
    value_first       double precision,
    value_last        double precision,
    PRIMARY KEY (series_id, bucket)
);
COMMENT ON TABLE reporting.mv_measurements_hourly IS
    'Hourly rollup: one row per series and local hour that ends at or before the hourly watermark. avg = value_sum / sample_count; bad readings are only counted.';

CREATE TABLE reporting.mv_measurements_daily (LIKE reporting.mv_measurements_hourly INCLUDING ALL);
COMMENT ON TABLE reporting.mv_measurements_daily IS
    'Daily rollup: one row per series and local day of its station (23 to 25 hours at DST changes) that ends at or before the daily watermark.';

CREATE TABLE reporting.rollup_watermarks (
    rollup      text PRIMARY KEY CHECK (rollup IN ('hourly', 'daily')),
    watermark   timestamptz NOT NULL DEFAULT '-infinity',
    updated_at  timestamptz
);
COMMENT ON TABLE reporting.rollup_watermarks IS
    'Per rollup, the time up to which buckets are materialized; reads compute later buckets from raw rows.';
INSERT INTO reporting.rollup_watermarks (rollup) VALUES ('hourly'), ('daily');

CREATE TABLE reporting.rollup_invalidations (
    invalidation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rollup          text NOT NULL CHECK (rollup IN ('hourly', 'daily')),
    series_id       integer NOT NULL,
    range_start     timestamptz NOT NULL,
    range_end       timestamptz NOT NULL,
    logged_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (range_start <= range_end)
);
CREATE INDEX rollup_invalidations_series_idx ON reporting.rollup_invalidations (rollup, series_id, range_start);
COMMENT ON TABLE reporting.rollup_invalidations IS
    'Time ranges (inclusive) of raw readings written since the last refresh, per rollup and series; buckets they touch are recomputed.';

CREATE TABLE reporting.rollup_refresh_log (
    refresh_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rollup              text NOT NULL,
    mode                text NOT NULL CHECK (mode IN ('incremental', 'rebuild')),
    status              text NOT NULL CHECK (status IN ('done', 'skipped')),
    started_at          timestamptz NOT NULL,
    finished_at         timestamptz NOT NULL,
    duration_ms         double precision NOT NULL,
    watermark_before    timestamptz,
    watermark_after     timestamptz,
    invalidations       integer NOT NULL DEFAULT 0,
    buckets_deleted     integer NOT NULL DEFAULT 0,
    buckets_written     integer NOT NULL DEFAULT 0,
    raw_rows            bigint NOT NULL DEFAULT 0
);
CREATE INDEX rollup_refresh_log_started_idx ON reporting.rollup_refresh_log (rollup, started_at);
COMMENT ON TABLE reporting.rollup_refresh_log IS 'One row per rollup refresh: what it recomputed and how long it took.';

GRANT SELECT ON reporting.mv_measurements_hourly, reporting.mv_measurements_daily, reporting.rollup_watermarks,
    reporting.rollup_invalidations, reporting.rollup_refresh_log TO pumpdash_read;

-- The raw aggregation of the first reporting functions is replaced by
-- reporting.aggregate_windows.
DROP FUNCTION IF EXISTS reporting.aggregate_raw(integer[], timestamptz, timestamptz, text);

-- Readings stored before this migration are logged as invalidations, so
-- the first refresh materializes all existing history.
INSERT INTO reporting.rollup_invalidations (rollup, series_id, range_start, range_end)
SELECT r.rollup, m.series_id, min(m.ts), max(m.ts)
FROM public.measurements AS m
CROSS JOIN (VALUES ('hourly'), ('daily')) AS r(rollup)
GROUP BY r.rollup, m.series_id;

CREATE OR REPLACE FUNCTION reporting.read_rollup(
    p_rollup text,
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz
)
RETURNS TABLE (
    series_id integer,
    bucket timestamptz,
    sample_count integer,
    bad_count integer,
    substituted_count integer,
    value_sum double precision,
    value_min double precision,
    value_max double precision,
    value_first double precision,
    value_last double precision
)
LANGUAGE plpgsql
STABLE
AS $$
-- Buckets starting in [p_from, p_to): materialized rows where they are
-- clean, raw aggregates where they are dirty. A bucket is dirty when it may
-- end after the watermark or may overlap a pending invalidation. Both tests
-- use the unit's margin, an upper bound of the bucket length. The raw
-- windows are widened by the same margin, so every dirty bucket lies wholly
-- inside a window and no bucket is read twice or missed.
DECLARE
    v_unit text := reporting.rollup_unit(p_rollup);
    v_margin interval;
    v_watermark timestamptz;
BEGIN
    -- No cap on the number of series: refreshes read every changed series.
    PERFORM reporting.check_series_range(p_series_ids, p_from, p_to, NULL);
    v_margin := reporting.rollup_margin(v_unit);
    SELECT w.watermark INTO v_watermark FROM reporting.rollup_watermarks AS w WHERE w.rollup = p_rollup;

    RETURN QUERY
    WITH pending AS (
        SELECT i.series_id, i.range_start, i.range_end
        FROM reporting.rollup_invalidations AS i
        WHERE i.rollup = p_rollup
          AND i.series_id = ANY (p_series_ids)
          AND i.range_start < p_to + v_margin
          AND i.range_end >= p_from - v_margin
    ),
    windows AS (
        SELECT s.series_id, greatest(p_from, v_watermark - v_margin) AS window_start, p_to + v_margin AS window_end
        FROM unnest(p_series_ids) AS s(series_id)
        WHERE p_to + v_margin > v_watermark
        UNION ALL
        SELECT p.series_id, greatest(p_from, p.range_start - v_margin), least(p_to + v_margin, p.range_end + v_margin)
        FROM pending AS p
    ),
    fresh AS (
        SELECT a.*
        FROM (SELECT array_agg(w.series_id) AS ids, array_agg(w.window_start) AS starts, array_agg(w.window_end) AS ends
              FROM windows AS w) AS packed
        CROSS JOIN LATERAL reporting.aggregate_windows(packed.ids, packed.starts, packed.ends, v_unit) AS a
        WHERE packed.ids IS NOT NULL
    ),
    stored AS (
        SELECT r.series_id, r.bucket, r.sample_count, r.bad_count, r.substituted_count,
               r.value_sum, r.value_min, r.value_max, r.value_first, r.value_last
        FROM reporting.mv_measurements_hourly AS r
        WHERE p_rollup = 'hourly' AND r.series_id = ANY (p_series_ids) AND r.bucket >= p_from AND r.bucket < p_to
        UNION ALL
        SELECT r.series_id, r.bucket, r.sample_count, r.bad_count, r.substituted_count,
               r.value_sum, r.value_min, r.value_max, r.value_first, r.value_last
        FROM reporting.mv_measurements_daily AS r
        WHERE p_rollup = 'daily' AND r.series_id = ANY (p_series_ids) AND r.bucket >= p_from AND r.bucket < p_to
    ),
    combined AS (
        SELECT s.*, false AS from_raw
        FROM stored AS s
        UNION ALL
        SELECT f.*, true
        FROM fresh AS f
        WHERE f.bucket >= p_from AND f.bucket < p_to
    )
    SELECT c.series_id, c.bucket, c.sample_count, c.bad_count, c.substituted_count,
           c.value_sum, c.value_min, c.value_max, c.value_first, c.value_last
    FROM combined AS c
    WHERE c.from_raw = (
        c.bucket + v_margin > v_watermark
        OR EXISTS (SELECT 1 FROM pending AS p
                   WHERE p.series_id = c.series_id AND c.bucket <= p.range_end AND c.bucket + v_margin > p.range_start))
    ORDER BY 1, 2;
END
$$;
COMMENT ON FUNCTION reporting.read_rollup(text, integer[], timestamptz, timestamptz) IS
    'Rollup-shaped buckets of p_rollup (hourly or daily) starting in [p_from, p_to): materialized where clean, computed from raw rows past the watermark or under a pending invalidation.';
-- Not granted to the app's read role, because it reads public tables.
-- The app reaches it only through reporting.get_metrics_hourly,
-- get_metrics_daily and refresh_rollup, which run with their owner's
-- rights (SECURITY DEFINER).
REVOKE EXECUTE ON FUNCTION reporting.read_rollup(text, integer[], timestamptz, timestamptz) FROM pumpdash_read;

CREATE OR REPLACE FUNCTION reporting.get_rollup_buckets(
    p_rollup text,
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz
)
RETURNS TABLE (
    series_id integer,
    bucket timestamptz,
    value double precision,
    value_avg double precision,
    value_min double precision,
    value_max double precision,
    value_sum double precision,
    value_first double precision,
    value_last double precision,
    sample_count bigint,
    bad_count bigint,
    substituted_count bigint
)
LANGUAGE sql
STABLE
AS $$
    SELECT r.series_id,
           r.bucket,
           CASE mt.agg_kind
               WHEN 'sum' THEN r.value_sum
               WHEN 'last' THEN r.value_last
               WHEN 'max' THEN r.value_max
               ELSE r.value_sum / nullif(r.sample_count, 0)
           END,
           r.value_sum / nullif(r.sample_count, 0),
           r.value_min, r.value_max, r.value_sum, r.value_first, r.value_last,
           r.sample_count::bigint, r.bad_count::bigint, r.substituted_count::bigint
    FROM reporting.read_rollup(p_rollup, p_series_ids, p_from, p_to) AS r
    JOIN public.series AS se ON se.series_id = r.series_id
    JOIN public.metrics AS mt ON mt.metric_id = se.metric_id
    WHERE reporting.check_series_range(p_series_ids, p_from, p_to)
    ORDER BY r.series_id, r.bucket;
$$;
COMMENT ON FUNCTION reporting.get_rollup_buckets(text, integer[], timestamptz, timestamptz) IS
    'Chart-shaped buckets of p_rollup starting in [p_from, p_to): value follows the metric''s agg_kind, value_avg = value_sum / sample_count.';
-- Not granted to the app's read role, because it reads public tables.
-- The app reaches it only through reporting.get_metrics_hourly and
-- get_metrics_daily, which run with their owner's rights (SECURITY
-- DEFINER).
REVOKE EXECUTE ON FUNCTION reporting.get_rollup_buckets(text, integer[], timestamptz, timestamptz) FROM pumpdash_read;

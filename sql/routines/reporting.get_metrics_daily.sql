CREATE OR REPLACE FUNCTION reporting.get_metrics_daily(
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
PARALLEL SAFE
AS $$
    SELECT * FROM reporting.aggregate_raw(p_series_ids, p_from, p_to, 'day');
$$;
COMMENT ON FUNCTION reporting.get_metrics_daily(integer[], timestamptz, timestamptz) IS
    'Daily buckets (local days of each station, 23 or 25 hours at DST changes) of the given series for readings in [p_from, p_to): avg, min, max, sum, first, last, counts; value follows the metric''s agg_kind.';
GRANT EXECUTE ON FUNCTION reporting.get_metrics_daily(integer[], timestamptz, timestamptz) TO pumpdash_read;

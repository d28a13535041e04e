CREATE OR REPLACE FUNCTION reporting.get_metrics_hourly(
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
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    -- SECURITY DEFINER: the app's read role has no privileges on public
    -- tables or on reporting.read_rollup, which this function reaches with
    -- its owner's rights.
    SELECT * FROM reporting.get_rollup_buckets('hourly', p_series_ids, p_from, p_to);
$$;
COMMENT ON FUNCTION reporting.get_metrics_hourly(integer[], timestamptz, timestamptz) IS
    'Hourly buckets (local hours of each station) of the given series that start in [p_from, p_to), from the hourly rollup plus raw readings past its watermark or under pending invalidations; value follows the metric''s agg_kind.';
GRANT EXECUTE ON FUNCTION reporting.get_metrics_hourly(integer[], timestamptz, timestamptz) TO pumpdash_read;

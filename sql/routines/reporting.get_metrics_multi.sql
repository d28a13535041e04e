CREATE OR REPLACE FUNCTION reporting.get_metrics_multi(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_granularity text
)
RETURNS TABLE (
    granularity text,
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
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_granularity IS NULL OR p_granularity NOT IN ('raw', 'hourly', 'daily') THEN
        RAISE EXCEPTION 'invalid p_granularity %: expected raw, hourly or daily', quote_nullable(p_granularity)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    RETURN QUERY
    SELECT p_granularity, r.*
    FROM (
        SELECT * FROM reporting.get_metrics_raw(p_series_ids, p_from, p_to) WHERE p_granularity = 'raw'
        UNION ALL
        SELECT * FROM reporting.get_metrics_hourly(p_series_ids, p_from, p_to) WHERE p_granularity = 'hourly'
        UNION ALL
        SELECT * FROM reporting.get_metrics_daily(p_series_ids, p_from, p_to) WHERE p_granularity = 'daily'
    ) AS r;
END
$$;
COMMENT ON FUNCTION reporting.get_metrics_multi(integer[], timestamptz, timestamptz, text) IS
    'Series of several points at a chosen granularity (raw, hourly or daily) for [p_from, p_to); each row names its granularity.';
GRANT EXECUTE ON FUNCTION reporting.get_metrics_multi(integer[], timestamptz, timestamptz, text) TO pumpdash_read;

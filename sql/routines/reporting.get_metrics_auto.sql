CREATE OR REPLACE FUNCTION reporting.get_metrics_auto(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_max_points integer DEFAULT 4000
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
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT *
    FROM reporting.get_metrics_multi(
        p_series_ids, p_from, p_to,
        coalesce(reporting.choose_granularity(p_series_ids, p_from, p_to, p_max_points), 'raw'));
$$;
COMMENT ON FUNCTION reporting.get_metrics_auto(integer[], timestamptz, timestamptz, integer) IS
    'Series of several points at the granularity reporting.choose_granularity picks so no series exceeds p_max_points; each row names the granularity picked.';
GRANT EXECUTE ON FUNCTION reporting.get_metrics_auto(integer[], timestamptz, timestamptz, integer) TO pumpdash_read;

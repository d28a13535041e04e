CREATE OR REPLACE FUNCTION reporting.choose_granularity(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_max_points integer DEFAULT 4000
)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    -- SECURITY DEFINER: the app's read role has no privileges on public
    -- tables, so public.series is read with the owner's rights.

    -- The finest of raw, hourly and daily whose expected points per series
    -- stay within p_max_points. Raw points are estimated from the shortest
    -- nominal sample interval of the series; unknown intervals count as one
    -- minute, the finest SCADA rate this product expects.
    SELECT CASE
        WHEN extract(epoch FROM p_to - p_from) / min(coalesce(se.sample_interval_s, 60)) <= p_max_points THEN 'raw'
        WHEN extract(epoch FROM p_to - p_from) / 3600 <= p_max_points THEN 'hourly'
        ELSE 'daily'
    END
    FROM public.series AS se
    WHERE se.series_id = ANY (p_series_ids)
      AND reporting.check_series_range(p_series_ids, p_from, p_to)
      AND p_max_points > 0;
$$;
COMMENT ON FUNCTION reporting.choose_granularity(integer[], timestamptz, timestamptz, integer) IS
    'raw, hourly or daily: the finest granularity that keeps at most p_max_points points per series over [p_from, p_to); NULL when no series matches.';
GRANT EXECUTE ON FUNCTION reporting.choose_granularity(integer[], timestamptz, timestamptz, integer) TO pumpdash_read;

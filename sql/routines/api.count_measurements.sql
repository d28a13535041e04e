CREATE OR REPLACE FUNCTION api.count_measurements(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_quality smallint[] DEFAULT NULL,
    p_source text DEFAULT NULL,
    p_cap integer DEFAULT 100000
)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
    -- The filter of api.get_measurements, counted up to p_cap: exact for
    -- the few thousand rows an operator pages through, and bounded in cost
    -- for a filter over years of minute data, where the caller shows
    -- "more than p_cap".
    -- Checked first, in a statement of its own: a quality outside the
    -- partitions' CHECK constraints lets the planner skip the query below,
    -- and a check inside it, entirely.
    SELECT public.check_reading_filter(p_quality, p_source);
    SELECT count(*)
    FROM (
        SELECT 1
        FROM public.matching_measurements(p_series_ids, p_from, p_to, p_quality, p_source)
        WHERE p_cap BETWEEN 1 AND 10000000
        LIMIT p_cap
    ) AS matching;
$$;
COMMENT ON FUNCTION api.count_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer) IS
    'How many readings match the filter of api.get_measurements, counted up to p_cap (1-10000000); p_cap means "at least p_cap".';
GRANT EXECUTE ON FUNCTION api.count_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer) TO pumpdash_write;

CREATE OR REPLACE FUNCTION api.get_measurements(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_quality smallint[] DEFAULT NULL,
    p_source text DEFAULT NULL,
    p_after_series_id integer DEFAULT NULL,
    p_after_ts timestamptz DEFAULT NULL,
    p_limit integer DEFAULT 200
)
RETURNS SETOF public.reading
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
    -- Keyset pagination on (series_id, ts): pass the last row's pair to get
    -- the next page, which stays correct while rows are added or deleted.
    -- Checked first, in a statement of its own: a quality outside the
    -- partitions' CHECK constraints lets the planner skip the query below,
    -- and a check inside it, entirely.
    SELECT public.check_reading_filter(p_quality, p_source);
    SELECT mm.*
    FROM public.matching_measurements(p_series_ids, p_from, p_to, p_quality, p_source) AS mm
    WHERE (p_after_series_id IS NULL OR (mm.series_id, mm.ts) > (p_after_series_id, p_after_ts))
      AND p_limit BETWEEN 1 AND 5000
    ORDER BY mm.series_id, mm.ts
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION api.get_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer, timestamptz, integer) IS
    'Raw readings of the series in [p_from, p_to), filtered by quality and source, one page of p_limit (1-5000) rows after (p_after_series_id, p_after_ts), with version for corrections.';
GRANT EXECUTE ON FUNCTION api.get_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer, timestamptz, integer) TO pumpdash_write;

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
RETURNS TABLE (
    series_id integer,
    ts timestamptz,
    value double precision,
    original_value double precision,
    quality smallint,
    substituted boolean,
    source text,
    version integer,
    updated_at timestamptz,
    updated_by text
)
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
    -- Keyset pagination on (series_id, ts): pass the last row's pair to get
    -- the next page, which stays correct while rows are added or deleted.
    SELECT m.series_id, m.ts, m.value, m.original_value, m.quality, m.substituted, s.code, m.version,
           m.updated_at, m.updated_by
    FROM public.measurements AS m
    JOIN public.measurement_sources AS s ON s.source_id = m.source_id
    WHERE m.series_id = ANY (p_series_ids)
      AND m.ts >= p_from AND m.ts < p_to
      AND (p_quality IS NULL OR m.quality = ANY (p_quality))
      AND (p_source IS NULL OR s.code = p_source)
      AND (p_after_series_id IS NULL OR (m.series_id, m.ts) > (p_after_series_id, p_after_ts))
      AND reporting.check_series_range(p_series_ids, p_from, p_to)
      AND p_limit BETWEEN 1 AND 5000
    ORDER BY m.series_id, m.ts
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION api.get_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer, timestamptz, integer) IS
    'Raw readings of the series in [p_from, p_to), filtered by quality and source, one page of p_limit (1-5000) rows after (p_after_series_id, p_after_ts), with version for corrections.';
GRANT EXECUTE ON FUNCTION api.get_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer, timestamptz, integer) TO pumpdash_write;

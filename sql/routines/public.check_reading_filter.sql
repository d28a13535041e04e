CREATE OR REPLACE FUNCTION public.check_reading_filter(p_quality smallint[], p_source text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
-- A filter that names an unknown quality or source can match nothing, so it
-- is a mistake. An error says so, where an empty table would look like
-- "no readings".
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(p_quality) AS q WHERE q IS NULL OR q NOT BETWEEN 0 AND 2) THEN
        RAISE EXCEPTION 'invalid quality filter %: qualities are 0 (good), 1 (uncertain) and 2 (bad)',
            left(p_quality::text, 100)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'quality';
    END IF;
    IF p_source IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.measurement_sources WHERE code = p_source) THEN
        RAISE EXCEPTION 'invalid source filter %: expected one of %', quote_literal(left(p_source, 100)),
            (SELECT string_agg(code, ', ' ORDER BY source_id) FROM public.measurement_sources)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'source';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION public.check_reading_filter(smallint[], text) IS
    'Raise invalid_parameter_value (COLUMN quality or source) when a reading filter names a quality outside 0-2 or an unknown source code; true otherwise.';

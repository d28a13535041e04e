CREATE OR REPLACE FUNCTION reporting.get_corrections(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_limit integer DEFAULT 2000
)
RETURNS SETOF public.reading
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the read role may not select public tables; this
-- function exposes only the corrected readings of the given series.
SET search_path = pg_catalog, public
AS $$
    -- Corrected (substituted) readings, for the chart's markers. The partial
    -- index on substituted readings keeps this to the corrections, however
    -- many raw rows the range holds.
    SELECT mm.*
    FROM public.matching_measurements(p_series_ids, p_from, p_to) AS mm
    WHERE mm.substituted
      AND p_limit BETWEEN 1 AND 10000
    ORDER BY mm.series_id, mm.ts
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION reporting.get_corrections(integer[], timestamptz, timestamptz, integer) IS
    'Corrected readings of the given series in [p_from, p_to), at most p_limit (1-10000), with their first ingested value and who corrected them when.';
GRANT EXECUTE ON FUNCTION reporting.get_corrections(integer[], timestamptz, timestamptz, integer) TO pumpdash_read;

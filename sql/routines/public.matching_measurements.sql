CREATE OR REPLACE FUNCTION public.matching_measurements(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_quality smallint[] DEFAULT NULL,
    p_source text DEFAULT NULL
)
RETURNS SETOF public.reading
LANGUAGE sql
STABLE
AS $$
    -- The one definition of the operators' filter. Kept a plain SQL
    -- function (no SECURITY DEFINER, no SET) so the planner inlines it into
    -- its callers and still prunes partitions and uses their indexes.
    SELECT m.series_id, m.ts, m.value, m.original_value, m.quality, m.substituted, s.code, m.version,
           m.updated_at, m.updated_by
    FROM public.measurements AS m
    JOIN public.measurement_sources AS s ON s.source_id = m.source_id
    WHERE m.series_id = ANY (p_series_ids)
      AND m.ts >= p_from AND m.ts < p_to
      AND (p_quality IS NULL OR m.quality = ANY (p_quality))
      AND (p_source IS NULL OR s.code = p_source)
      AND reporting.check_series_range(p_series_ids, p_from, p_to)
$$;
COMMENT ON FUNCTION public.matching_measurements(integer[], timestamptz, timestamptz, smallint[], text) IS
    'Readings of the series in [p_from, p_to) with the given qualities (NULL: any) and source code (NULL: any), unordered; the filter behind api.get_measurements, api.count_measurements and reporting.get_corrections.';

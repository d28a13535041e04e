CREATE OR REPLACE FUNCTION reporting.get_series_extent(p_series_ids integer[])
RETURNS TABLE (series_id integer, first_ts timestamptz, last_ts timestamptz)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    -- SECURITY DEFINER: the app's read role has no privileges on public
    -- tables, so they are read with the owner's rights.

    -- Each bound is one descent of the (series_id, ts) primary key.
    SELECT se.series_id,
           (SELECT min(m.ts) FROM public.measurements AS m WHERE m.series_id = se.series_id),
           (SELECT max(m.ts) FROM public.measurements AS m WHERE m.series_id = se.series_id)
    FROM public.series AS se
    WHERE se.series_id = ANY (p_series_ids)
    ORDER BY se.series_id;
$$;
COMMENT ON FUNCTION reporting.get_series_extent(integer[]) IS
    'First and last reading time of each given series; NULLs for a series without readings.';
GRANT EXECUTE ON FUNCTION reporting.get_series_extent(integer[]) TO pumpdash_read;

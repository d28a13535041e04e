CREATE OR REPLACE FUNCTION public.unit_conversion(p_from_unit text, p_to_unit text)
RETURNS TABLE (factor double precision, offset_value double precision)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    SELECT 1::double precision, 0::double precision
    WHERE coalesce(nullif(trim(p_from_unit), ''), p_to_unit) = p_to_unit
    UNION ALL
    SELECT c.factor, c.offset_value
    FROM public.unit_conversions AS c
    WHERE c.from_unit = trim(p_from_unit)
      AND c.to_unit = p_to_unit
      AND trim(p_from_unit) <> p_to_unit
    LIMIT 1;
$$;
COMMENT ON FUNCTION public.unit_conversion(text, text) IS
    'Factor and offset that turn a value in p_from_unit into p_to_unit (identity when equal or p_from_unit is empty); no row when unknown.';
GRANT EXECUTE ON FUNCTION public.unit_conversion(text, text) TO pumpdash_import;

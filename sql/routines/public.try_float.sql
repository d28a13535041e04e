-- Parse a decimal number without a subtransaction per value: plpgsql
-- exception blocks would cost one subtransaction per staged row.
CREATE OR REPLACE FUNCTION public.try_float(p_text text)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        -- Up to 60 characters with an exponent of at most two digits always
        -- fit a double precision value (at most about 1e159), so the usual
        -- reading costs one pattern match.
        WHEN length(p_text) <= 60
             AND p_text ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,2})?\s*$'
        THEN trim(p_text)::double precision
        -- Longer numbers and three-digit exponents may leave the double
        -- precision range, where the cast raises instead of returning NULL.
        -- numeric represents them exactly, so the range is checked there.
        WHEN length(p_text) <= 1000
             AND p_text ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
             AND (abs(trim(p_text)::numeric) = 0
                  OR abs(trim(p_text)::numeric) BETWEEN 4.9406564584124654e-324 AND 1.7976931348623157e308)
        THEN trim(p_text)::double precision
    END;
$$;
COMMENT ON FUNCTION public.try_float(text) IS
    'The number in p_text (decimal point, optional exponent), or NULL when p_text is not a decimal number within the double precision range.';
GRANT EXECUTE ON FUNCTION public.try_float(text) TO pumpdash_import;

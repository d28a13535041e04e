-- Parse a decimal number without a subtransaction per value: plpgsql
-- exception blocks would cost one subtransaction per staged row.
CREATE OR REPLACE FUNCTION public.try_float(p_text text)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_text !~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$' THEN NULL
        -- An exponent of three digits may leave the double precision range,
        -- where the cast raises instead of returning NULL. numeric can
        -- represent any such value, so the range is checked there first.
        -- Only texts with a three-digit exponent take this slower path.
        WHEN p_text ~ '[eE][-+]?[0-9]{3}\s*$'
             AND NOT (abs(trim(p_text)::numeric) = 0
                      OR abs(trim(p_text)::numeric) BETWEEN 4.9406564584124654e-324 AND 1.7976931348623157e308)
        THEN NULL
        ELSE trim(p_text)::double precision
    END;
$$;
COMMENT ON FUNCTION public.try_float(text) IS
    'The number in p_text (decimal point, optional exponent), or NULL when p_text is not a decimal number within the double precision range.';

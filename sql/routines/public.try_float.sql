-- Parse a decimal number without a subtransaction per value: plpgsql
-- exception blocks would cost one subtransaction per staged row.
CREATE OR REPLACE FUNCTION public.try_float(p_text text)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT CASE
        WHEN p_text ~ '^\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*$'
        THEN trim(p_text)::double precision
    END;
$$;
COMMENT ON FUNCTION public.try_float(text) IS
    'The number in p_text (decimal point, optional exponent), or NULL when p_text is not a finite decimal number.';

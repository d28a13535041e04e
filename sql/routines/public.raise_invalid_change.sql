CREATE OR REPLACE FUNCTION public.raise_invalid_change(p_problem text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
AS $$
-- The field name before the colon travels in the error's COLUMN field, so
-- callers can point at the form field without parsing the message.
BEGIN
    IF p_problem IS NOT NULL THEN
        RAISE EXCEPTION 'invalid %', p_problem
            USING ERRCODE = 'invalid_parameter_value', COLUMN = split_part(p_problem, ':', 1);
    END IF;
END
$$;
COMMENT ON FUNCTION public.raise_invalid_change(text) IS
    'Raise invalid_parameter_value for a ''field: problem'' text from check_measurement_change, with the field in the COLUMN diagnostic; nothing when NULL.';

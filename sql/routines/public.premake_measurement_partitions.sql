CREATE OR REPLACE FUNCTION public.premake_measurement_partitions(p_months_ahead integer DEFAULT 3)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_months_ahead IS NULL OR p_months_ahead NOT BETWEEN 0 AND 120 THEN
        RAISE EXCEPTION 'invalid p_months_ahead: %', p_months_ahead
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a whole number of months from 0 to 120.';
    END IF;
    RETURN public.ensure_measurement_partitions(
        date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
        (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => p_months_ahead)) AT TIME ZONE 'UTC');
END
$$;
COMMENT ON FUNCTION public.premake_measurement_partitions(integer) IS
    'Create the current month''s measurements partition and the next p_months_ahead months; returns how many were created.';

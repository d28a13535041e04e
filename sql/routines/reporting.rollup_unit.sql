CREATE OR REPLACE FUNCTION reporting.rollup_unit(p_rollup text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_rollup = 'hourly' THEN
        RETURN 'hour';
    ELSIF p_rollup = 'daily' THEN
        RETURN 'day';
    END IF;
    RAISE EXCEPTION 'invalid p_rollup %: expected hourly or daily', quote_nullable(p_rollup)
        USING ERRCODE = 'invalid_parameter_value';
END
$$;
COMMENT ON FUNCTION reporting.rollup_unit(text) IS
    'date_trunc unit of a rollup: hour for hourly, day for daily; raises invalid_parameter_value for any other name.';
GRANT EXECUTE ON FUNCTION reporting.rollup_unit(text) TO pumpdash_read;

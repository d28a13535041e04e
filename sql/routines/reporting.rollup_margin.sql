CREATE OR REPLACE FUNCTION reporting.rollup_margin(p_unit text)
RETURNS interval
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- At least the longest bucket of the unit: a local day lasts 23 to 25
    -- hours at DST changes, so 26 hours bounds every daily bucket.
    SELECT CASE p_unit WHEN 'hour' THEN interval '1 hour' WHEN 'day' THEN interval '26 hours' END;
$$;
COMMENT ON FUNCTION reporting.rollup_margin(text) IS
    'Upper bound of a bucket''s length for p_unit (hour: 1 hour, day: 26 hours); windows widened by it contain every bucket they touch.';
GRANT EXECUTE ON FUNCTION reporting.rollup_margin(text) TO pumpdash_read;

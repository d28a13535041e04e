CREATE OR REPLACE FUNCTION reporting.bucket_end(p_unit text, p_bucket timestamptz, p_timezone text)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- A local day ends at the next local midnight, 23 or 25 hours later
    -- across a DST change; an hour always lasts one hour.
    SELECT CASE p_unit
        WHEN 'hour' THEN p_bucket + interval '1 hour'
        WHEN 'day' THEN ((p_bucket AT TIME ZONE p_timezone) + interval '1 day') AT TIME ZONE p_timezone
    END;
$$;
COMMENT ON FUNCTION reporting.bucket_end(text, timestamptz, text) IS
    'End of the hour or local day (in p_timezone) that starts at p_bucket.';
GRANT EXECUTE ON FUNCTION reporting.bucket_end(text, timestamptz, text) TO pumpdash_read;

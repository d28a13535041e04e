CREATE OR REPLACE FUNCTION public.lock_reading(
    p_series_id integer,
    p_ts timestamptz,
    p_expected_version integer
)
RETURNS public.measurements
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Lock one reading for a change and make sure it is still the version the
-- operator saw, so a concurrent change is reported instead of overwritten.
DECLARE
    v_reading public.measurements%ROWTYPE;
BEGIN
    SELECT * INTO v_reading FROM public.measurements AS m
    WHERE m.series_id = p_series_id AND m.ts = p_ts
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'reading of series % at % not found', p_series_id, p_ts
            USING ERRCODE = 'no_data_found', HINT = 'It may have been deleted; reload the table.';
    END IF;
    IF p_expected_version IS DISTINCT FROM v_reading.version THEN
        RAISE EXCEPTION 'reading of series % at % changed: version % expected, % found', p_series_id, p_ts,
            p_expected_version, v_reading.version
            USING ERRCODE = 'serialization_failure', HINT = 'Another user changed it; reload and apply your change again.';
    END IF;
    RETURN v_reading;
END
$$;
COMMENT ON FUNCTION public.lock_reading(integer, timestamptz, integer) IS
    'Lock one reading FOR UPDATE and return it; raise no_data_found when it is missing and serialization_failure when its version is not p_expected_version.';

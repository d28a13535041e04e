CREATE OR REPLACE FUNCTION api.update_measurement_value(
    p_series_id integer,
    p_ts timestamptz,
    p_value double precision,
    p_quality smallint,
    p_reason_code text,
    p_comment text,
    p_expected_version integer,
    p_changed_by text
)
RETURNS TABLE (series_id integer, ts timestamptz, value double precision, quality smallint, version integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges; this function
-- is its only way to change a reading, with checks and audit.
SET search_path = pg_catalog, public
AS $$
-- Correct one reading as an operator saw it: the change is applied only
-- when the reading still has the version the operator saw, so of two
-- concurrent corrections the second gets a conflict instead of silently
-- overwriting the first. The first ingested value is kept in
-- original_value and the change is audited in the same transaction.
DECLARE
    v_old public.measurements%ROWTYPE;
BEGIN
    PERFORM public.raise_invalid_change(
        public.check_measurement_change(p_series_id, p_value, p_quality, p_reason_code, p_comment, p_changed_by));

    v_old := public.lock_reading(p_series_id, p_ts, p_expected_version);
    IF v_old.value IS NOT DISTINCT FROM p_value AND v_old.quality = p_quality THEN
        RAISE EXCEPTION 'invalid value: % with quality % is what the reading already has', p_value, p_quality
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'value', DETAIL = 'unchanged',
                  HINT = 'Change the value or the quality; a correction that changes nothing is not saved.';
    END IF;

    UPDATE public.measurements AS m
    SET value = p_value,
        quality = p_quality,
        substituted = true,
        original_value = coalesce(m.original_value, m.value),
        version = m.version + 1,
        updated_at = now(),
        updated_by = p_changed_by
    WHERE m.series_id = p_series_id AND m.ts = p_ts;

    INSERT INTO public.measurement_audit (series_id, ts, action, old_value, new_value, old_quality, new_quality,
                                          old_version, new_version, reason_code, comment, source_id, changed_by)
    VALUES (p_series_id, p_ts, 'update', v_old.value, p_value, v_old.quality, p_quality,
            v_old.version, v_old.version + 1, p_reason_code, trim(p_comment), 3, p_changed_by);

    RETURN QUERY SELECT p_series_id, p_ts, p_value, p_quality, v_old.version + 1;
END
$$;
COMMENT ON FUNCTION api.update_measurement_value(integer, timestamptz, double precision, smallint, text, text, integer, text) IS
    'Correct one reading (value, quality, reason, comment) if it still has p_expected_version, else raise serialization_failure; keeps the first value, marks it substituted, audits the change.';
GRANT EXECUTE ON FUNCTION api.update_measurement_value(integer, timestamptz, double precision, smallint, text, text, integer, text) TO pumpdash_write;

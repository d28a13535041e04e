CREATE OR REPLACE FUNCTION api.delete_measurement(
    p_series_id integer,
    p_ts timestamptz,
    p_expected_version integer,
    p_reason_code text,
    p_comment text,
    p_changed_by text
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
-- Delete one reading the operator saw at p_expected_version; the audit row
-- keeps value, quality, version, source, first value and substituted flag,
-- so api.restore_measurement can undo it.
-- Returns the audit id.
DECLARE
    v_old public.measurements%ROWTYPE;
    v_audit_id bigint;
BEGIN
    v_old := public.lock_reading(p_series_id, p_ts, p_expected_version);
    PERFORM public.raise_invalid_change(
        public.check_measurement_change(p_series_id, v_old.value, v_old.quality, p_reason_code, p_comment, p_changed_by));

    DELETE FROM public.measurements AS m WHERE m.series_id = p_series_id AND m.ts = p_ts;
    INSERT INTO public.measurement_audit (series_id, ts, action, old_value, new_value, old_quality, new_quality,
                                          old_version, new_version, reason_code, comment, source_id, changed_by,
                                          old_source_id, old_original_value, old_substituted)
    VALUES (p_series_id, p_ts, 'delete', v_old.value, NULL, v_old.quality, NULL,
            v_old.version, NULL, p_reason_code, trim(p_comment), 3, p_changed_by,
            v_old.source_id, v_old.original_value, v_old.substituted)
    RETURNING audit_id INTO v_audit_id;
    RETURN v_audit_id;
END
$$;
COMMENT ON FUNCTION api.delete_measurement(integer, timestamptz, integer, text, text, text) IS
    'Delete one reading if it still has p_expected_version (else serialization_failure), with reason and comment; returns the audit id that api.restore_measurement takes.';
GRANT EXECUTE ON FUNCTION api.delete_measurement(integer, timestamptz, integer, text, text, text) TO pumpdash_write;

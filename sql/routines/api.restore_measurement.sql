CREATE OR REPLACE FUNCTION api.restore_measurement(
    p_audit_id bigint,
    p_comment text,
    p_changed_by text
)
RETURNS TABLE (series_id integer, ts timestamptz, value double precision, quality smallint, version integer)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
-- Undo a delete from its audit row: the reading comes back with its old
-- value, quality, source, first value and substituted flag and the next
-- version, and the restore is audited.
DECLARE
    v_audit public.measurement_audit%ROWTYPE;
    v_version integer;
BEGIN
    SELECT * INTO v_audit FROM public.measurement_audit AS a WHERE a.audit_id = p_audit_id;
    IF NOT FOUND OR v_audit.action <> 'delete' THEN
        RAISE EXCEPTION 'audit entry % is not a delete', p_audit_id
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'audit_id',
                  HINT = 'Pass the audit id of a delete from the reading''s history.';
    END IF;
    PERFORM public.raise_invalid_change(
        public.check_measurement_change(v_audit.series_id, v_audit.old_value, v_audit.old_quality, 'other',
                                        p_comment, p_changed_by));
    IF EXISTS (SELECT 1 FROM public.measurements AS m WHERE m.series_id = v_audit.series_id AND m.ts = v_audit.ts) THEN
        RAISE EXCEPTION 'reading of series % at % exists again; nothing to restore', v_audit.series_id, v_audit.ts
            USING ERRCODE = 'unique_violation', HINT = 'Correct the existing reading instead.';
    END IF;

    PERFORM public.ensure_measurement_partitions(v_audit.ts, v_audit.ts);
    v_version := coalesce(v_audit.old_version, 0) + 1;
    -- Deletes audited before their source, first value and substituted flag
    -- were recorded come back as manual readings.
    INSERT INTO public.measurements (series_id, ts, value, quality, source_id, version, substituted, original_value,
                                     updated_at, updated_by)
    VALUES (v_audit.series_id, v_audit.ts, v_audit.old_value, v_audit.old_quality, coalesce(v_audit.old_source_id, 3),
            v_version, coalesce(v_audit.old_substituted, true), v_audit.old_original_value, now(), p_changed_by);
    INSERT INTO public.measurement_audit (series_id, ts, action, old_value, new_value, old_quality, new_quality,
                                          old_version, new_version, reason_code, comment, source_id, changed_by)
    VALUES (v_audit.series_id, v_audit.ts, 'restore', NULL, v_audit.old_value, NULL, v_audit.old_quality,
            v_audit.old_version, v_version, 'other', trim(p_comment), 3, p_changed_by);

    RETURN QUERY SELECT v_audit.series_id, v_audit.ts, v_audit.old_value, v_audit.old_quality, v_version;
END
$$;
COMMENT ON FUNCTION api.restore_measurement(bigint, text, text) IS
    'Undo the delete recorded in audit entry p_audit_id: re-insert the reading as it was (value, quality, source, first value, substituted flag), audited as a restore.';
GRANT EXECUTE ON FUNCTION api.restore_measurement(bigint, text, text) TO pumpdash_write;

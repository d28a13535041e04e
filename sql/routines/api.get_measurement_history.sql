CREATE OR REPLACE FUNCTION api.get_measurement_history(p_series_id integer, p_ts timestamptz)
RETURNS TABLE (
    audit_id bigint,
    action text,
    old_value double precision,
    new_value double precision,
    old_quality smallint,
    new_quality smallint,
    reason_code text,
    comment text,
    changed_by text,
    changed_at timestamptz
)
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
    SELECT a.audit_id, a.action, a.old_value, a.new_value, a.old_quality, a.new_quality, a.reason_code,
           a.comment, a.changed_by, a.changed_at
    FROM public.measurement_audit AS a
    WHERE a.series_id = p_series_id AND a.ts = p_ts
    ORDER BY a.changed_at, a.audit_id;
$$;
COMMENT ON FUNCTION api.get_measurement_history(integer, timestamptz) IS
    'Audit history of one reading, oldest first: each change with old and new value and quality, reason, comment, who and when.';
GRANT EXECUTE ON FUNCTION api.get_measurement_history(integer, timestamptz) TO pumpdash_write;

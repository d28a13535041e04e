CREATE OR REPLACE FUNCTION api.get_deleted_measurements(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_limit integer DEFAULT 500
)
RETURNS TABLE (
    audit_id bigint,
    series_id integer,
    ts timestamptz,
    old_value double precision,
    old_quality smallint,
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
    -- The last delete of each reading in the range that is still gone: what
    -- api.restore_measurement can bring back. Newest deletes first.
    SELECT d.audit_id, d.series_id, d.ts, d.old_value, d.old_quality, d.reason_code, d.comment, d.changed_by,
           d.changed_at
    FROM (
        SELECT DISTINCT ON (a.series_id, a.ts) a.*
        FROM public.measurement_audit AS a
        WHERE a.series_id = ANY (p_series_ids)
          AND a.ts >= p_from AND a.ts < p_to
          AND reporting.check_series_range(p_series_ids, p_from, p_to)
        ORDER BY a.series_id, a.ts, a.audit_id DESC
    ) AS d
    WHERE d.action = 'delete'
      AND NOT EXISTS (SELECT 1 FROM public.measurements AS m WHERE m.series_id = d.series_id AND m.ts = d.ts)
      AND p_limit BETWEEN 1 AND 5000
    ORDER BY d.changed_at DESC, d.series_id, d.ts
    LIMIT p_limit;
$$;
COMMENT ON FUNCTION api.get_deleted_measurements(integer[], timestamptz, timestamptz, integer) IS
    'Readings of the series in [p_from, p_to) whose last audit entry is a delete and that are still gone, newest delete first, at most p_limit (1-5000); pass audit_id to api.restore_measurement.';
GRANT EXECUTE ON FUNCTION api.get_deleted_measurements(integer[], timestamptz, timestamptz, integer) TO pumpdash_write;

CREATE OR REPLACE FUNCTION reporting.rebuild_rollup(
    p_rollup text,
    p_until timestamptz DEFAULT now()
)
RETURNS TABLE (
    status text,
    watermark_before timestamptz,
    watermark_after timestamptz,
    invalidations integer,
    buckets_deleted integer,
    buckets_written integer,
    raw_rows bigint,
    duration_ms double precision
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
-- Recovery: forget the rollup's state, invalidate every series' whole
-- history and refresh. Rows are deleted, not truncated, so readers are not
-- blocked and keep the old rows until this transaction commits.
-- SECURITY DEFINER: the maintenance role has no table privileges.
BEGIN
    PERFORM reporting.rollup_unit(p_rollup);
    PERFORM pg_advisory_xact_lock(hashtext('pumpdash.refresh_rollup'), hashtext(p_rollup));

    EXECUTE format('DELETE FROM reporting.%I', 'mv_measurements_' || p_rollup);
    DELETE FROM reporting.rollup_invalidations AS i WHERE i.rollup = p_rollup;
    INSERT INTO reporting.rollup_invalidations (rollup, series_id, range_start, range_end)
    SELECT p_rollup, e.series_id, e.first_ts, e.last_ts
    FROM public.series AS se
    CROSS JOIN LATERAL reporting.get_series_extent(ARRAY[se.series_id]) AS e
    WHERE e.first_ts IS NOT NULL;
    UPDATE reporting.rollup_watermarks AS w SET watermark = '-infinity', updated_at = now() WHERE w.rollup = p_rollup;

    -- The advisory lock is held by this transaction, so the refresh below
    -- acquires it again instead of skipping.
    RETURN QUERY SELECT * FROM reporting.refresh_rollup(p_rollup, p_until);
    UPDATE reporting.rollup_refresh_log AS l SET mode = 'rebuild'
    WHERE l.refresh_id = (SELECT max(refresh_id) FROM reporting.rollup_refresh_log WHERE rollup = p_rollup);
END
$$;
COMMENT ON FUNCTION reporting.rebuild_rollup(text, timestamptz) IS
    'Full rebuild of p_rollup (hourly or daily) from raw readings for recovery; blocks other refreshes of it but not readers.';
GRANT EXECUTE ON FUNCTION reporting.rebuild_rollup(text, timestamptz) TO pumpdash_maint;

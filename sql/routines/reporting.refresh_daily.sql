CREATE OR REPLACE FUNCTION reporting.refresh_daily(p_until timestamptz DEFAULT now())
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
LANGUAGE sql
VOLATILE
AS $$
    SELECT * FROM reporting.refresh_rollup('daily', p_until);
$$;
COMMENT ON FUNCTION reporting.refresh_daily(timestamptz) IS
    'Incremental refresh of reporting.mv_measurements_daily up to p_until; see reporting.refresh_rollup.';
GRANT EXECUTE ON FUNCTION reporting.refresh_daily(timestamptz) TO pumpdash_maint;

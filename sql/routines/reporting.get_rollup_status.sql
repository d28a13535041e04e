CREATE OR REPLACE FUNCTION reporting.get_rollup_status()
RETURNS TABLE (
    rollup text,
    watermark timestamptz,
    pending_invalidations bigint,
    pending_series bigint,
    oldest_pending timestamptz,
    last_refresh_at timestamptz,
    last_refresh_ms double precision
)
LANGUAGE sql
STABLE
AS $$
    SELECT w.rollup,
           nullif(w.watermark, '-infinity'),
           (SELECT count(*) FROM reporting.rollup_invalidations AS i WHERE i.rollup = w.rollup AND i.range_start < w.watermark),
           (SELECT count(DISTINCT i.series_id) FROM reporting.rollup_invalidations AS i
            WHERE i.rollup = w.rollup AND i.range_start < w.watermark),
           (SELECT min(i.range_start) FROM reporting.rollup_invalidations AS i
            WHERE i.rollup = w.rollup AND i.range_start < w.watermark),
           l.finished_at,
           l.duration_ms
    FROM reporting.rollup_watermarks AS w
    LEFT JOIN LATERAL (
        SELECT r.finished_at, r.duration_ms FROM reporting.rollup_refresh_log AS r
        WHERE r.rollup = w.rollup AND r.status = 'done'
        ORDER BY r.refresh_id DESC LIMIT 1
    ) AS l ON true
    ORDER BY w.rollup DESC;
$$;
COMMENT ON FUNCTION reporting.get_rollup_status() IS
    'Per rollup: watermark (NULL before the first refresh), invalidations pending below it (count, series, oldest time) and the last refresh''s time and duration.';
GRANT EXECUTE ON FUNCTION reporting.get_rollup_status() TO pumpdash_read;

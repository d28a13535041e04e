CREATE OR REPLACE FUNCTION reporting.log_measurement_changes()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Statement-level: one invalidation per series and rollup per statement,
-- spanning the earliest to the latest written time, so the cost is one
-- aggregate over the transition table, not work per row. Every write is
-- logged, including times past the watermark: a writer cannot see a
-- concurrent refresh move the watermark, so skipping such rows could lose
-- them.
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO reporting.rollup_invalidations (rollup, series_id, range_start, range_end)
        SELECT r.rollup, n.series_id, min(n.ts), max(n.ts)
        FROM new_rows AS n
        CROSS JOIN (VALUES ('hourly'), ('daily')) AS r(rollup)
        GROUP BY r.rollup, n.series_id;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO reporting.rollup_invalidations (rollup, series_id, range_start, range_end)
        SELECT r.rollup, o.series_id, min(o.ts), max(o.ts)
        FROM old_rows AS o
        CROSS JOIN (VALUES ('hourly'), ('daily')) AS r(rollup)
        GROUP BY r.rollup, o.series_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reporting.log_measurement_changes() IS
    'Statement trigger on public.measurements: logs the written time range of each series as a rollup invalidation.';

DROP TRIGGER IF EXISTS measurements_log_insert ON public.measurements;
DROP TRIGGER IF EXISTS measurements_log_update ON public.measurements;
DROP TRIGGER IF EXISTS measurements_log_delete ON public.measurements;
CREATE TRIGGER measurements_log_insert AFTER INSERT ON public.measurements
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.log_measurement_changes();
CREATE TRIGGER measurements_log_update AFTER UPDATE ON public.measurements
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.log_measurement_changes();
CREATE TRIGGER measurements_log_delete AFTER DELETE ON public.measurements
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.log_measurement_changes();

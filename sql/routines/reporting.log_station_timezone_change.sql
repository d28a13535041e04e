CREATE OR REPLACE FUNCTION reporting.log_station_timezone_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- A new time zone moves every local-day and local-hour bucket of the
-- station, so all of its history is invalidated.
BEGIN
    INSERT INTO reporting.rollup_invalidations (rollup, series_id, range_start, range_end)
    SELECT r.rollup, e.series_id, e.first_ts, e.last_ts
    FROM public.series AS se
    CROSS JOIN LATERAL reporting.get_series_extent(ARRAY[se.series_id]) AS e
    CROSS JOIN (VALUES ('hourly'), ('daily')) AS r(rollup)
    WHERE se.station_id = NEW.station_id AND e.first_ts IS NOT NULL;

    DELETE FROM reporting.mv_measurements_hourly AS h
    USING public.series AS se
    WHERE se.station_id = NEW.station_id AND h.series_id = se.series_id;
    DELETE FROM reporting.mv_measurements_daily AS d
    USING public.series AS se
    WHERE se.station_id = NEW.station_id AND d.series_id = se.series_id;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reporting.log_station_timezone_change() IS
    'Row trigger on public.stations: when a station''s time zone changes, drops its rollup rows and invalidates its whole history.';

DROP TRIGGER IF EXISTS stations_timezone_change ON public.stations;
CREATE TRIGGER stations_timezone_change AFTER UPDATE OF timezone ON public.stations
    FOR EACH ROW WHEN (OLD.timezone IS DISTINCT FROM NEW.timezone)
    EXECUTE FUNCTION reporting.log_station_timezone_change();

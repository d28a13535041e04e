CREATE OR REPLACE FUNCTION reporting.window_zones(
    p_series_ids integer[],
    p_starts timestamptz[],
    p_ends timestamptz[]
)
RETURNS TABLE (series_id integer, window_start timestamptz, window_end timestamptz, timezone text)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- OFFSET 0 keeps this subquery from being flattened into the caller, so
    -- a caller's LATERAL scan is parameterized by the window columns alone.
    SELECT w.series_id, w.window_start, w.window_end, st.timezone
    FROM reporting.merge_windows(p_series_ids, p_starts, p_ends) AS w
    JOIN public.series AS se ON se.series_id = w.series_id
    JOIN public.stations AS st ON st.station_id = se.station_id
    OFFSET 0;
$$;
COMMENT ON FUNCTION reporting.window_zones(integer[], timestamptz[], timestamptz[]) IS
    'Merged windows [start, end) per series (see reporting.merge_windows) with the time zone of each series'' station.';
-- Not granted to the app's read role, because it reads public tables.
-- The app reaches it only through reporting.get_metrics_hourly,
-- get_metrics_daily and refresh_rollup, which run with their owner's
-- rights (SECURITY DEFINER).
REVOKE EXECUTE ON FUNCTION reporting.window_zones(integer[], timestamptz[], timestamptz[]) FROM pumpdash_read;

CREATE OR REPLACE FUNCTION reporting.get_station_overview(p_at timestamptz DEFAULT now())
RETURNS TABLE (
    station_id integer,
    station_code text,
    station_name_zh text,
    station_name_en text,
    timezone text,
    series_count integer,
    last_sample_at timestamptz,
    last_sample_age_s double precision,
    samples_today bigint,
    bad_today bigint,
    expected_today bigint
)
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    -- SECURITY DEFINER: the app's read role has no privileges on public
    -- tables, so they are read with the owner's rights.

    -- "Today" is the station's local day that contains p_at. Readings after
    -- p_at are left out, so a card can be computed for any moment. The last
    -- reading of a series is one backward descent of the (series_id, ts)
    -- primary key, and today's count scans at most one day of each series.
    -- expected_today assumes readings aligned to local midnight at the
    -- series' nominal interval, and series without an interval add nothing.
    WITH station_day AS (
        SELECT st.station_id,
               st.code,
               st.name_zh,
               st.name_en,
               st.timezone,
               date_trunc('day', p_at, st.timezone) AS day_start
        FROM public.stations AS st
    ),
    series_state AS (
        SELECT se.station_id,
               se.series_id,
               se.sample_interval_s,
               (SELECT max(m.ts)
                FROM public.measurements AS m
                WHERE m.series_id = se.series_id AND m.ts <= p_at) AS last_ts,
               today.good_count,
               today.bad_count,
               floor(extract(epoch FROM p_at - sd.day_start) / se.sample_interval_s) + 1 AS expected_count
        FROM public.series AS se
        JOIN station_day AS sd ON sd.station_id = se.station_id
        CROSS JOIN LATERAL (
            SELECT count(*) FILTER (WHERE m.quality < 2) AS good_count,
                   count(*) FILTER (WHERE m.quality = 2) AS bad_count
            FROM public.measurements AS m
            WHERE m.series_id = se.series_id
              AND m.ts >= sd.day_start
              AND m.ts <= p_at
        ) AS today
    )
    SELECT sd.station_id,
           sd.code,
           sd.name_zh,
           sd.name_en,
           sd.timezone,
           count(ss.series_id)::integer,
           max(ss.last_ts),
           extract(epoch FROM p_at - max(ss.last_ts))::double precision,
           coalesce(sum(ss.good_count), 0)::bigint,
           coalesce(sum(ss.bad_count), 0)::bigint,
           coalesce(sum(ss.expected_count), 0)::bigint
    FROM station_day AS sd
    LEFT JOIN series_state AS ss ON ss.station_id = sd.station_id
    GROUP BY sd.station_id, sd.code, sd.name_zh, sd.name_en, sd.timezone
    ORDER BY sd.code;
$$;
COMMENT ON FUNCTION reporting.get_station_overview(timestamptz) IS
    'One row per station for the overview cards: series count, last reading at or before p_at and its age in seconds, good and bad readings of the station''s local day up to p_at, and readings expected so far from the nominal sample intervals.';
GRANT EXECUTE ON FUNCTION reporting.get_station_overview(timestamptz) TO pumpdash_read;

CREATE OR REPLACE FUNCTION reporting.aggregate_windows(
    p_series_ids integer[],
    p_starts timestamptz[],
    p_ends timestamptz[],
    p_unit text
)
RETURNS TABLE (
    series_id integer,
    bucket timestamptz,
    sample_count integer,
    bad_count integer,
    substituted_count integer,
    value_sum double precision,
    value_min double precision,
    value_max double precision,
    value_first double precision,
    value_last double precision
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- Aggregate raw readings in the given windows into hour or local-day
    -- buckets of each station's zone. Windows are merged first, so a reading
    -- is counted once, and only buckets lying wholly inside a window are
    -- returned: a bucket cut by a window edge would miss readings. Bad
    -- readings are counted and kept out of the statistics.
    SELECT m.series_id,
           b.bucket,
           (count(*) FILTER (WHERE m.quality < 2))::integer,
           (count(*) FILTER (WHERE m.quality = 2))::integer,
           (count(*) FILTER (WHERE m.substituted))::integer,
           sum(m.value) FILTER (WHERE m.quality < 2),
           min(m.value) FILTER (WHERE m.quality < 2),
           max(m.value) FILTER (WHERE m.quality < 2),
           (array_agg(m.value ORDER BY m.ts) FILTER (WHERE m.quality < 2))[1],
           (array_agg(m.value ORDER BY m.ts DESC) FILTER (WHERE m.quality < 2))[1]
    FROM reporting.merge_windows(p_series_ids, p_starts, p_ends) AS w
    JOIN public.series AS se ON se.series_id = w.series_id
    JOIN public.stations AS st ON st.station_id = se.station_id
    JOIN public.measurements AS m ON m.series_id = w.series_id AND m.ts >= w.window_start AND m.ts < w.window_end
    CROSS JOIN LATERAL (SELECT date_trunc(p_unit, m.ts, st.timezone) AS bucket) AS b
    GROUP BY m.series_id, b.bucket, w.window_start, w.window_end, st.timezone
    HAVING b.bucket >= w.window_start AND reporting.bucket_end(p_unit, b.bucket, st.timezone) <= w.window_end;
$$;
COMMENT ON FUNCTION reporting.aggregate_windows(integer[], timestamptz[], timestamptz[], text) IS
    'Rollup-shaped buckets (counts, sum, min, max, first, last) of raw readings in windows [start, end) per series, for p_unit hour or day; only buckets wholly inside a window.';
GRANT EXECUTE ON FUNCTION reporting.aggregate_windows(integer[], timestamptz[], timestamptz[], text) TO pumpdash_read;

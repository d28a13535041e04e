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
    -- Hour buckets aggregate raw readings; day buckets aggregate the hourly
    -- read of the same windows, which is exact at any moment (rollup rows
    -- where clean, raw rows where dirty) and 60 times smaller than raw at
    -- one-minute sampling. Local hours never cross a local midnight, so the
    -- hours of a local day add up to it. Windows are merged first, so a
    -- reading is counted once, and only buckets lying wholly inside a window
    -- are returned: a bucket cut by a window edge would miss readings. Bad
    -- readings are counted and kept out of the statistics.
    SELECT w.series_id,
           b.bucket,
           (count(*) FILTER (WHERE m.quality < 2))::integer,
           (count(*) FILTER (WHERE m.quality = 2))::integer,
           (count(*) FILTER (WHERE m.substituted))::integer,
           sum(m.value) FILTER (WHERE m.quality < 2),
           min(m.value) FILTER (WHERE m.quality < 2),
           max(m.value) FILTER (WHERE m.quality < 2),
           (array_agg(m.value ORDER BY m.ts) FILTER (WHERE m.quality < 2))[1],
           (array_agg(m.value ORDER BY m.ts DESC) FILTER (WHERE m.quality < 2))[1]
    FROM reporting.window_zones(p_series_ids, p_starts, p_ends) AS w
    -- One index range scan per window. As a plain join the planner took
    -- series_id from the series table and left the time bounds out of the
    -- index condition, reading each series' whole history.
    CROSS JOIN LATERAL (
        SELECT r.ts, r.value, r.quality, r.substituted
        FROM public.measurements AS r
        WHERE r.series_id = w.series_id AND r.ts >= w.window_start AND r.ts < w.window_end
    ) AS m
    CROSS JOIN LATERAL (SELECT date_trunc('hour', m.ts, w.timezone) AS bucket) AS b
    WHERE p_unit = 'hour'
    GROUP BY w.series_id, b.bucket, w.window_start, w.window_end, w.timezone
    HAVING b.bucket >= w.window_start AND reporting.bucket_end('hour', b.bucket, w.timezone) <= w.window_end

    UNION ALL

    SELECT h.series_id,
           d.bucket,
           sum(h.sample_count)::integer,
           sum(h.bad_count)::integer,
           sum(h.substituted_count)::integer,
           sum(h.value_sum),
           min(h.value_min),
           max(h.value_max),
           (array_agg(h.value_first ORDER BY h.bucket) FILTER (WHERE h.sample_count > 0))[1],
           (array_agg(h.value_last ORDER BY h.bucket DESC) FILTER (WHERE h.sample_count > 0))[1]
    FROM reporting.window_zones(p_series_ids, p_starts, p_ends) AS w
    -- One hourly read over the union of all windows costs one plan instead
    -- of one per window; the join keeps each window's own hours.
    JOIN reporting.read_rollup('hourly', p_series_ids,
                               (SELECT min(start_at) FROM unnest(p_starts) AS start_at),
                               (SELECT max(end_at) FROM unnest(p_ends) AS end_at)) AS h
        ON h.series_id = w.series_id AND h.bucket >= w.window_start AND h.bucket < w.window_end
    CROSS JOIN LATERAL (SELECT date_trunc('day', h.bucket, w.timezone) AS bucket) AS d
    WHERE p_unit = 'day'
    GROUP BY h.series_id, d.bucket, w.window_start, w.window_end, w.timezone
    HAVING d.bucket >= w.window_start AND reporting.bucket_end('day', d.bucket, w.timezone) <= w.window_end;
$$;
COMMENT ON FUNCTION reporting.aggregate_windows(integer[], timestamptz[], timestamptz[], text) IS
    'Rollup-shaped buckets (counts, sum, min, max, first, last) of the readings in windows [start, end) per series: hours from raw rows, local days from hourly reads; only buckets wholly inside a window.';
-- Not granted to the app's read role, because it reads public tables.
-- The app reaches it only through reporting.get_metrics_hourly,
-- get_metrics_daily and refresh_rollup, which run with their owner's
-- rights (SECURITY DEFINER).
REVOKE EXECUTE ON FUNCTION reporting.aggregate_windows(integer[], timestamptz[], timestamptz[], text) FROM pumpdash_read;

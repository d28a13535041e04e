CREATE OR REPLACE FUNCTION reporting.aggregate_raw(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_bucket_unit text
)
RETURNS TABLE (
    series_id integer,
    bucket timestamptz,
    value double precision,
    value_avg double precision,
    value_min double precision,
    value_max double precision,
    value_sum double precision,
    value_first double precision,
    value_last double precision,
    sample_count bigint,
    bad_count bigint,
    substituted_count bigint
)
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- Buckets are truncated in the station's own zone, so a daily bucket is
    -- a local day (23 or 25 hours at a DST change) and hourly buckets follow
    -- zones with half-hour offsets. Bad readings are counted but kept out of
    -- avg, min, max, sum, first and last.
    WITH picked AS (
        SELECT se.series_id, st.timezone, mt.agg_kind
        FROM public.series AS se
        JOIN public.stations AS st ON st.station_id = se.station_id
        JOIN public.metrics AS mt ON mt.metric_id = se.metric_id
        WHERE se.series_id = ANY (p_series_ids)
          AND reporting.check_series_range(p_series_ids, p_from, p_to)
    ),
    buckets AS (
        SELECT m.series_id,
               date_trunc(p_bucket_unit, m.ts, p.timezone) AS bucket,
               p.agg_kind,
               avg(m.value) FILTER (WHERE m.quality < 2) AS value_avg,
               min(m.value) FILTER (WHERE m.quality < 2) AS value_min,
               max(m.value) FILTER (WHERE m.quality < 2) AS value_max,
               sum(m.value) FILTER (WHERE m.quality < 2) AS value_sum,
               (array_agg(m.value ORDER BY m.ts) FILTER (WHERE m.quality < 2))[1] AS value_first,
               (array_agg(m.value ORDER BY m.ts DESC) FILTER (WHERE m.quality < 2))[1] AS value_last,
               count(*) FILTER (WHERE m.quality < 2) AS sample_count,
               count(*) FILTER (WHERE m.quality = 2) AS bad_count,
               count(*) FILTER (WHERE m.substituted) AS substituted_count
        FROM picked AS p
        JOIN public.measurements AS m ON m.series_id = p.series_id
        WHERE m.ts >= p_from AND m.ts < p_to
        GROUP BY m.series_id, 2, p.agg_kind
    )
    SELECT b.series_id,
           b.bucket,
           CASE b.agg_kind
               WHEN 'sum' THEN b.value_sum
               WHEN 'last' THEN b.value_last
               WHEN 'max' THEN b.value_max
               ELSE b.value_avg
           END,
           b.value_avg, b.value_min, b.value_max, b.value_sum, b.value_first, b.value_last,
           b.sample_count, b.bad_count, b.substituted_count
    FROM buckets AS b
    ORDER BY b.series_id, b.bucket;
$$;
COMMENT ON FUNCTION reporting.aggregate_raw(integer[], timestamptz, timestamptz, text) IS
    'Aggregate raw readings of the given series in [p_from, p_to) into buckets of p_bucket_unit (hour or day) truncated in each station''s time zone; value follows the metric''s agg_kind.';
GRANT EXECUTE ON FUNCTION reporting.aggregate_raw(integer[], timestamptz, timestamptz, text) TO pumpdash_read;

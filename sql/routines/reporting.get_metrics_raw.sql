CREATE OR REPLACE FUNCTION reporting.get_metrics_raw(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz
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
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    -- SECURITY DEFINER: the app's read role has no privileges on public
    -- tables, so this function reads public.measurements with its owner's
    -- rights.

    -- Raw readings in the same shape as buckets, so a chart draws any
    -- granularity the same way. A bad reading has no value.
    SELECT m.series_id,
           m.ts,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           CASE WHEN m.quality < 2 THEN m.value END,
           (m.quality < 2)::int::bigint,
           (m.quality = 2)::int::bigint,
           m.substituted::int::bigint
    FROM public.measurements AS m
    WHERE m.series_id = ANY (p_series_ids)
      AND m.ts >= p_from AND m.ts < p_to
      AND reporting.check_series_range(p_series_ids, p_from, p_to)
    ORDER BY m.series_id, m.ts;
$$;
COMMENT ON FUNCTION reporting.get_metrics_raw(integer[], timestamptz, timestamptz) IS
    'Raw readings of the given series in [p_from, p_to), one row per reading in the bucket shape of get_metrics_hourly (counts are 0 or 1).';
GRANT EXECUTE ON FUNCTION reporting.get_metrics_raw(integer[], timestamptz, timestamptz) TO pumpdash_read;

CREATE OR REPLACE VIEW reporting.v_metrics_daily AS
SELECT v.series_id,
       v.station_code,
       v.station_name_zh,
       v.station_name_en,
       v.timezone,
       v.device_code,
       v.device_name_zh,
       v.device_name_en,
       v.metric_code,
       v.metric_name_zh,
       v.metric_name_en,
       v.unit,
       v.decimals,
       (d.bucket AT TIME ZONE v.timezone)::date AS local_day,
       d.bucket,
       d.value,
       d.value_avg,
       d.value_min,
       d.value_max,
       d.value_sum,
       d.value_first,
       d.value_last,
       d.sample_count,
       d.bad_count,
       d.substituted_count
FROM reporting.v_series AS v
CROSS JOIN LATERAL reporting.get_metrics_daily(ARRAY[v.series_id], '-infinity', 'infinity') AS d;

COMMENT ON VIEW reporting.v_metrics_daily IS
    'Daily buckets of every series with station, device and metric names and unit; current like get_metrics_daily (rollup plus raw past the watermark). Filter by series_id or station_code.';
GRANT SELECT ON reporting.v_metrics_daily TO pumpdash_read;

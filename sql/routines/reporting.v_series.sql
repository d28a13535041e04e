CREATE OR REPLACE VIEW reporting.v_series AS
SELECT
    se.series_id,
    st.station_id,
    st.code AS station_code,
    st.name_zh AS station_name_zh,
    st.name_en AS station_name_en,
    st.timezone,
    d.device_id,
    d.code AS device_code,
    d.kind AS device_kind,
    d.name_zh AS device_name_zh,
    d.name_en AS device_name_en,
    mt.metric_id,
    mt.code AS metric_code,
    mt.name_zh AS metric_name_zh,
    mt.name_en AS metric_name_en,
    mt.unit,
    mt.agg_kind,
    mt.decimals,
    mt.valid_min,
    mt.valid_max,
    se.sample_interval_s,
    -- Pickers list station-wide points first, then wells and tanks, pumps,
    -- valves, meters and sensors; within a kind, codes compare their first
    -- number numerically (pump 2 before pump 10).
    dense_rank() OVER (
        PARTITION BY st.station_id
        ORDER BY array_position(ARRAY['station', 'tank', 'pump', 'valve', 'meter', 'sensor'], d.kind),
                 substring(d.code FROM '^[^0-9]*'),
                 nullif(substring(d.code FROM '[0-9]+'), '')::numeric NULLS FIRST,
                 d.code
    )::integer AS device_order
FROM public.series AS se
JOIN public.devices AS d USING (device_id)
JOIN public.stations AS st ON st.station_id = se.station_id
JOIN public.metrics AS mt USING (metric_id);

COMMENT ON VIEW reporting.v_series IS
    'Every series with its station (and time zone), device and metric names, unit, decimals and valid range, and device_order for listing devices: the pickers'' catalogue.';
GRANT SELECT ON reporting.v_series TO pumpdash_read;

CREATE OR REPLACE FUNCTION public.ensure_series(
    p_station_code text,
    p_device_code text,
    p_metric_code text,
    p_sample_interval_s integer DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_device record;
    v_metric_id smallint;
    v_series_id integer;
BEGIN
    SELECT d.device_id, d.station_id INTO v_device
    FROM public.devices AS d
    JOIN public.stations AS s USING (station_id)
    WHERE s.code = p_station_code AND d.code = p_device_code;
    IF v_device.device_id IS NULL THEN
        RAISE EXCEPTION 'device % of station % not found', quote_literal(p_device_code), quote_literal(p_station_code)
            USING ERRCODE = 'foreign_key_violation', HINT = 'Create it with public.ensure_device first.';
    END IF;

    SELECT metric_id INTO v_metric_id FROM public.metrics WHERE code = p_metric_code;
    IF v_metric_id IS NULL THEN
        RAISE EXCEPTION 'metric % not found', quote_literal(p_metric_code)
            USING ERRCODE = 'foreign_key_violation',
                  HINT = 'Use a code from public.metrics: ' || (SELECT string_agg(code, ', ' ORDER BY code) FROM public.metrics);
    END IF;

    INSERT INTO public.series AS s (station_id, device_id, metric_id, sample_interval_s)
    VALUES (v_device.station_id, v_device.device_id, v_metric_id, p_sample_interval_s)
    ON CONFLICT (device_id, metric_id) DO UPDATE
        SET sample_interval_s = coalesce(EXCLUDED.sample_interval_s, s.sample_interval_s)
        WHERE EXCLUDED.sample_interval_s IS DISTINCT FROM s.sample_interval_s AND EXCLUDED.sample_interval_s IS NOT NULL
    RETURNING series_id INTO v_series_id;

    IF v_series_id IS NULL THEN
        SELECT series_id INTO v_series_id FROM public.series WHERE device_id = v_device.device_id AND metric_id = v_metric_id;
    END IF;
    RETURN v_series_id;
END
$$;
COMMENT ON FUNCTION public.ensure_series(text, text, text, integer) IS
    'Create the series for metric p_metric_code of a device, or update its nominal sample interval; returns its series_id.';
GRANT EXECUTE ON FUNCTION public.ensure_series(text, text, text, integer) TO pumpdash_import;

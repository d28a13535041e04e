CREATE OR REPLACE FUNCTION public.ensure_device(
    p_station_code text,
    p_code text,
    p_kind text,
    p_name_zh text,
    p_name_en text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_station_id integer;
    v_device_id integer;
BEGIN
    SELECT station_id INTO v_station_id FROM public.stations WHERE code = p_station_code;
    IF v_station_id IS NULL THEN
        RAISE EXCEPTION 'station % not found', quote_literal(p_station_code)
            USING ERRCODE = 'foreign_key_violation', HINT = 'Create the station with public.ensure_station first.';
    END IF;

    INSERT INTO public.devices AS d (station_id, code, kind, name_zh, name_en)
    VALUES (v_station_id, p_code, p_kind, p_name_zh, p_name_en)
    ON CONFLICT (station_id, code) DO UPDATE
        SET kind = EXCLUDED.kind, name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en
        WHERE (d.kind, d.name_zh, d.name_en) IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.name_zh, EXCLUDED.name_en)
    RETURNING device_id INTO v_device_id;

    IF v_device_id IS NULL THEN
        SELECT device_id INTO v_device_id FROM public.devices WHERE station_id = v_station_id AND code = p_code;
    END IF;
    RETURN v_device_id;
END
$$;
COMMENT ON FUNCTION public.ensure_device(text, text, text, text, text) IS
    'Create device p_code of station p_station_code or update its kind and names; returns its device_id.';
GRANT EXECUTE ON FUNCTION public.ensure_device(text, text, text, text, text) TO pumpdash_import;

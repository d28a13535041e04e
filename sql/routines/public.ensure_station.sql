CREATE OR REPLACE FUNCTION public.ensure_station(
    p_code text,
    p_name_zh text,
    p_name_en text,
    p_timezone text DEFAULT 'Asia/Shanghai'
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_station_id integer;
BEGIN
    IF NOT public.is_valid_timezone(p_timezone) THEN
        RAISE EXCEPTION 'invalid time zone % for station %', quote_literal(p_timezone), p_code
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Use an IANA zone name such as Asia/Shanghai or Europe/Helsinki.';
    END IF;

    INSERT INTO public.stations AS s (code, name_zh, name_en, timezone)
    VALUES (p_code, p_name_zh, p_name_en, p_timezone)
    ON CONFLICT (code) DO UPDATE
        SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, timezone = EXCLUDED.timezone
        WHERE (s.name_zh, s.name_en, s.timezone) IS DISTINCT FROM (EXCLUDED.name_zh, EXCLUDED.name_en, EXCLUDED.timezone)
    RETURNING station_id INTO v_station_id;

    IF v_station_id IS NULL THEN
        SELECT station_id INTO v_station_id FROM public.stations WHERE code = p_code;
    END IF;
    RETURN v_station_id;
END
$$;
COMMENT ON FUNCTION public.ensure_station(text, text, text, text) IS
    'Create the station p_code or update its names and time zone; returns its station_id.';
GRANT EXECUTE ON FUNCTION public.ensure_station(text, text, text, text) TO pumpdash_import;

CREATE OR REPLACE FUNCTION api.upsert_measurements_json(
    p_rows jsonb,
    p_source text,
    p_changed_by text,
    p_overwrite_substituted boolean DEFAULT false
)
RETURNS TABLE (row_index integer, ok boolean, action text, field text, error text)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
-- A batch as a JSON array of objects with series_id, ts, value, quality and
-- optional reason_code and comment. Each row gets its own result. A row
-- whose fields do not parse (a ts that is not a time, a value that is not a
-- number) is rejected with that field, and the other rows are still stored.
DECLARE
    v_row jsonb;
    v_index integer := 0;
    v_field text;
    v_series_id integer;
    v_ts timestamptz;
    v_value double precision;
    v_quality smallint;
BEGIN
    IF p_rows IS NULL OR jsonb_typeof(p_rows) <> 'array' THEN
        RAISE EXCEPTION 'invalid rows: expected a JSON array of objects, got %', coalesce(jsonb_typeof(p_rows), 'NULL')
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'rows';
    END IF;
    IF jsonb_array_length(p_rows) > 10000 THEN
        RAISE EXCEPTION 'invalid rows: % rows, more than 10000 per call', jsonb_array_length(p_rows)
            USING ERRCODE = 'invalid_parameter_value', COLUMN = 'rows';
    END IF;

    FOR v_row IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
        BEGIN
            v_field := 'series_id';
            v_series_id := (v_row ->> 'series_id')::integer;
            v_field := 'ts';
            v_ts := (v_row ->> 'ts')::timestamptz;
            v_field := 'value';
            v_value := (v_row ->> 'value')::double precision;
            v_field := 'quality';
            v_quality := coalesce((v_row ->> 'quality')::smallint, 0);
        EXCEPTION WHEN data_exception THEN
            RETURN QUERY SELECT v_index, false, 'rejected', v_field,
                format('%s: %s is not valid', v_field, left(coalesce(v_row ->> v_field, 'NULL'), 100));
            v_index := v_index + 1;
            CONTINUE;
        END;

        RETURN QUERY
        SELECT v_index, r.ok, r.action, r.field, r.error
        FROM public.safe_upsert_measurement(v_series_id, v_ts, v_value, v_quality, p_source, p_changed_by,
                                            v_row ->> 'reason_code', v_row ->> 'comment', p_overwrite_substituted) AS r;
        v_index := v_index + 1;
    END LOOP;
END
$$;
COMMENT ON FUNCTION api.upsert_measurements_json(jsonb, text, text, boolean) IS
    'Upsert a JSON array of readings (series_id, ts, value, quality, reason_code, comment); returns one result per row (index, ok, action, field, error) and never stops at a bad row.';
GRANT EXECUTE ON FUNCTION api.upsert_measurements_json(jsonb, text, text, boolean) TO pumpdash_write;

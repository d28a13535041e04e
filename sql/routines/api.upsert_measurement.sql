CREATE OR REPLACE FUNCTION api.upsert_measurement(
    p_series_id integer,
    p_ts timestamptz,
    p_value double precision,
    p_quality smallint,
    p_source text,
    p_changed_by text,
    p_reason_code text DEFAULT NULL,
    p_comment text DEFAULT NULL,
    p_overwrite_substituted boolean DEFAULT false
)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
-- One reading from a form or a client. A rejected row raises
-- invalid_parameter_value with the field in the COLUMN diagnostic, and any
-- other outcome returns the action taken.
DECLARE
    v_result record;
BEGIN
    SELECT * INTO v_result
    FROM public.safe_upsert_measurement(p_series_id, p_ts, p_value, p_quality, p_source, p_changed_by,
                                        p_reason_code, p_comment, p_overwrite_substituted);
    IF NOT v_result.ok THEN
        PERFORM public.raise_invalid_change(v_result.error);
    END IF;
    RETURN v_result.action;
END
$$;
COMMENT ON FUNCTION api.upsert_measurement(integer, timestamptz, double precision, smallint, text, text, text, text, boolean) IS
    'Insert or update one reading through public.safe_upsert_measurement; raises invalid_parameter_value naming the field when it is rejected, else returns the action.';
GRANT EXECUTE ON FUNCTION api.upsert_measurement(integer, timestamptz, double precision, smallint, text, text, text, text, boolean) TO pumpdash_write;

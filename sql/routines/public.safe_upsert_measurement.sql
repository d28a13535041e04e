CREATE OR REPLACE FUNCTION public.safe_upsert_measurement(
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
RETURNS TABLE (ok boolean, action text, field text, error text)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Insert or update one reading and report the outcome instead of raising,
-- so one bad row never aborts a batch. Actions: inserted, updated,
-- unchanged, kept_substituted (an operator's correction wins unless
-- p_overwrite_substituted), rejected (with the field at fault). Manual
-- writes need a reason and a comment; every manual write is audited.
DECLARE
    v_manual boolean := p_source = 'manual';
    v_source_id smallint;
    v_problem text;
    v_old public.measurements%ROWTYPE;
BEGIN
    SELECT source_id INTO v_source_id FROM public.measurement_sources WHERE code = p_source;
    IF v_source_id IS NULL OR p_source = 'demo' THEN
        RETURN QUERY SELECT false, 'rejected', 'source',
            format('source: %s is not one of import, manual, api', quote_nullable(left(p_source, 100)));
        RETURN;
    END IF;
    IF p_ts IS NULL OR p_ts > now() + interval '5 minutes' THEN
        RETURN QUERY SELECT false, 'rejected', 'ts',
            format('ts: %s is missing or in the future', coalesce(p_ts::text, 'NULL'));
        RETURN;
    END IF;
    v_problem := public.check_measurement_change(p_series_id, p_value, p_quality, p_reason_code, p_comment,
                                                 p_changed_by, v_manual);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT false, 'rejected', split_part(v_problem, ':', 1), v_problem;
        RETURN;
    END IF;

    PERFORM public.ensure_measurement_partitions(p_ts, p_ts);
    SELECT * INTO v_old FROM public.measurements AS m WHERE m.series_id = p_series_id AND m.ts = p_ts FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO public.measurements (series_id, ts, value, quality, source_id, substituted, updated_at, updated_by)
        VALUES (p_series_id, p_ts, p_value, p_quality, v_source_id, v_manual,
                CASE WHEN v_manual THEN now() END, CASE WHEN v_manual THEN p_changed_by END);
        IF v_manual THEN
            INSERT INTO public.measurement_audit (series_id, ts, action, new_value, new_quality, new_version,
                                                  reason_code, comment, source_id, changed_by)
            VALUES (p_series_id, p_ts, 'insert', p_value, p_quality, 1, p_reason_code, trim(p_comment), v_source_id,
                    p_changed_by);
        END IF;
        RETURN QUERY SELECT true, 'inserted', NULL::text, NULL::text;
        RETURN;
    END IF;
    IF v_old.substituted AND NOT v_manual AND NOT p_overwrite_substituted THEN
        RETURN QUERY SELECT true, 'kept_substituted', NULL::text, NULL::text;
        RETURN;
    END IF;
    IF (v_old.value, v_old.quality) IS NOT DISTINCT FROM (p_value, p_quality) THEN
        RETURN QUERY SELECT true, 'unchanged', NULL::text, NULL::text;
        RETURN;
    END IF;

    UPDATE public.measurements AS m
    SET value = p_value, quality = p_quality, source_id = v_source_id,
        original_value = coalesce(m.original_value, m.value), version = m.version + 1,
        substituted = v_manual, updated_at = now(), updated_by = p_changed_by
    WHERE m.series_id = p_series_id AND m.ts = p_ts;
    INSERT INTO public.measurement_audit (series_id, ts, action, old_value, new_value, old_quality, new_quality,
                                          old_version, new_version, reason_code, comment, source_id, changed_by)
    VALUES (p_series_id, p_ts, 'update', v_old.value, p_value, v_old.quality, p_quality, v_old.version,
            v_old.version + 1, p_reason_code, trim(p_comment), v_source_id, p_changed_by);
    RETURN QUERY SELECT true, 'updated', NULL::text, NULL::text;
END
$$;
COMMENT ON FUNCTION public.safe_upsert_measurement(integer, timestamptz, double precision, smallint, text, text, text, text, boolean) IS
    'Insert or update one reading after validation and report ok, action (inserted, updated, unchanged, kept_substituted, rejected), field and error instead of raising.';

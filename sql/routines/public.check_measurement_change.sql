CREATE OR REPLACE FUNCTION public.check_measurement_change(
    p_series_id integer,
    p_value double precision,
    p_quality smallint,
    p_reason_code text,
    p_comment text,
    p_changed_by text,
    p_comment_required boolean DEFAULT true
)
RETURNS text
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, public
AS $$
-- The one place that decides whether a manual change is acceptable. Returns
-- NULL when it is, else 'field: problem' naming the field at fault, so a
-- batch can report a bad row without raising.
DECLARE
    v_metric record;
BEGIN
    SELECT mt.code, mt.unit, mt.valid_min, mt.valid_max INTO v_metric
    FROM public.series AS se JOIN public.metrics AS mt USING (metric_id)
    WHERE se.series_id = p_series_id;
    IF NOT FOUND THEN
        RETURN format('series_id: series %s not found', p_series_id);
    END IF;
    IF p_quality IS NULL OR p_quality NOT BETWEEN 0 AND 2 THEN
        RETURN format('quality: %s is not 0 (good), 1 (uncertain) or 2 (bad)', coalesce(p_quality::text, 'NULL'));
    END IF;
    IF p_value IS NULL AND p_quality <> 2 THEN
        RETURN 'value: missing; only a bad reading (quality 2) may have no value';
    END IF;
    IF p_value::text IN ('NaN', 'Infinity', '-Infinity') THEN
        RETURN format('value: %s is not a finite number', p_value);
    END IF;
    IF p_value NOT BETWEEN v_metric.valid_min AND v_metric.valid_max THEN
        RETURN format('value: %s %s is outside the valid range %s to %s of metric %s',
                      p_value, v_metric.unit, v_metric.valid_min, v_metric.valid_max, v_metric.code);
    END IF;
    IF p_reason_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM public.reason_codes WHERE code = p_reason_code) THEN
        RETURN format('reason_code: %s is not one of %s', quote_literal(left(p_reason_code, 100)),
                      (SELECT string_agg(code, ', ' ORDER BY sort_order) FROM public.reason_codes));
    END IF;
    IF p_comment_required AND (p_reason_code IS NULL) THEN
        RETURN 'reason_code: missing; every manual change needs a reason';
    END IF;
    IF p_comment_required AND nullif(trim(p_comment), '') IS NULL THEN
        RETURN 'comment: missing; describe why the reading is changed';
    END IF;
    IF length(p_comment) > 2000 THEN
        RETURN format('comment: %s characters, more than 2000', length(p_comment));
    END IF;
    IF nullif(trim(p_changed_by), '') IS NULL OR length(p_changed_by) > 100 THEN
        RETURN 'changed_by: missing or longer than 100 characters; pass the signed-in user name';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION public.check_measurement_change(integer, double precision, smallint, text, text, text, boolean) IS
    'NULL when a manual change of a reading is acceptable (series exists, quality 0-2, finite value in the metric''s range, known reason, comment, user); else ''field: problem''.';

CREATE OR REPLACE FUNCTION api.delete_measurements_by_filter(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_quality smallint[] DEFAULT NULL,
    p_dry_run boolean DEFAULT true,
    p_expected_count bigint DEFAULT NULL,
    p_reason_code text DEFAULT NULL,
    p_comment text DEFAULT NULL,
    p_changed_by text DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges.
SET search_path = pg_catalog, public
AS $$
-- A dry run returns how many readings of the series in [p_from, p_to) (and
-- of the given qualities) match. The real run must be given that count and
-- raises when the rows changed in between, so an operator deletes exactly
-- what the preview showed. Every deleted reading is audited.
DECLARE
    v_matching bigint;
    v_deleted bigint;
BEGIN
    PERFORM reporting.check_series_range(p_series_ids, p_from, p_to);
    PERFORM public.check_reading_filter(p_quality, NULL);
    SELECT count(*) INTO v_matching
    FROM public.measurements AS m
    WHERE m.series_id = ANY (p_series_ids) AND m.ts >= p_from AND m.ts < p_to
      AND (p_quality IS NULL OR m.quality = ANY (p_quality));
    IF p_dry_run THEN
        RETURN v_matching;
    END IF;

    PERFORM public.raise_invalid_change(
        public.check_measurement_change(p_series_ids[1], NULL, 2::smallint, p_reason_code, p_comment, p_changed_by));
    IF p_expected_count IS DISTINCT FROM v_matching THEN
        RAISE EXCEPTION 'the filter now matches % readings, not the % previewed', v_matching, p_expected_count
            USING ERRCODE = 'serialization_failure', COLUMN = 'expected_count',
                  HINT = 'Run the preview again and confirm the new count.';
    END IF;

    WITH deleted AS (
        DELETE FROM public.measurements AS m
        WHERE m.series_id = ANY (p_series_ids) AND m.ts >= p_from AND m.ts < p_to
          AND (p_quality IS NULL OR m.quality = ANY (p_quality))
        RETURNING m.*
    )
    INSERT INTO public.measurement_audit (series_id, ts, action, old_value, old_quality, old_version,
                                          reason_code, comment, source_id, changed_by,
                                          old_source_id, old_original_value, old_substituted)
    SELECT d.series_id, d.ts, 'delete', d.value, d.quality, d.version, p_reason_code, trim(p_comment), 3, p_changed_by,
           d.source_id, d.original_value, d.substituted
    FROM deleted AS d;
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$$;
COMMENT ON FUNCTION api.delete_measurements_by_filter(integer[], timestamptz, timestamptz, smallint[], boolean, bigint, text, text, text) IS
    'Count (p_dry_run) or delete the readings of the series in [p_from, p_to) with the given qualities; the real run needs the previewed count, a reason and a comment, and audits each row.';
GRANT EXECUTE ON FUNCTION api.delete_measurements_by_filter(integer[], timestamptz, timestamptz, smallint[], boolean, bigint, text, text, text) TO pumpdash_write;

CREATE OR REPLACE FUNCTION public.merge_staged_measurements(
    p_run_id text,
    p_batch_no integer,
    p_source text DEFAULT 'import',
    p_changed_by text DEFAULT NULL,
    p_partition_horizon_months integer DEFAULT 240
)
RETURNS TABLE (
    rows_staged bigint,
    rows_accepted bigint,
    rows_rejected bigint,
    rows_duplicate bigint,
    rows_inserted bigint,
    rows_updated bigint,
    rows_unchanged bigint,
    partitions_created integer
)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Validate one staged batch, record its rejects, create the partitions its
-- times need and upsert it. The caller runs it in one transaction per batch,
-- so a batch is merged whole or not at all. A reading an operator has
-- substituted is never overwritten by an import. A row counts as inserted
-- when its version is 1: xmax cannot be read on a partitioned table.
DECLARE
    v_source_id smallint;
    v_changed_by text := coalesce(p_changed_by, session_user);
    v_min_ts timestamptz;
    v_max_ts timestamptz;
    v_horizon interval := make_interval(months => p_partition_horizon_months);
BEGIN
    SELECT source_id INTO v_source_id FROM public.measurement_sources WHERE code = p_source;
    IF v_source_id IS NULL THEN
        RAISE EXCEPTION 'invalid p_source %: expected one of %', quote_literal(p_source),
            (SELECT string_agg(code, ', ' ORDER BY source_id) FROM public.measurement_sources)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    CREATE TEMP TABLE IF NOT EXISTS merge_batch (
        line_no bigint, column_name text, value_text text, series_id integer, ts timestamptz,
        value double precision, reason text, is_duplicate boolean
    ) ON COMMIT DROP;
    TRUNCATE merge_batch;

    INSERT INTO merge_batch (line_no, column_name, value_text, series_id, ts, value, reason, is_duplicate)
    SELECT st.line_no, st.column_name, st.value_text, se.series_id, parsed.ts,
           parsed.number * conv.factor + conv.offset_value,
           CASE
               WHEN se.series_id IS NULL THEN 'unknown_point'
               WHEN parsed.ts IS NULL THEN 'missing_time'
               -- A local time skipped by a DST spring-forward does not exist;
               -- PostgreSQL would silently shift it by an hour.
               WHEN st.ts_utc IS NULL AND (parsed.ts AT TIME ZONE sn.timezone) <> st.ts_local THEN 'nonexistent_local_time'
               WHEN nullif(trim(st.value_text), '') IS NULL THEN 'missing_value'
               WHEN lower(trim(st.value_text)) IN ('nan', '-nan', '+nan', 'inf', '+inf', '-inf',
                                                   'infinity', '+infinity', '-infinity') THEN 'not_finite'
               WHEN parsed.number IS NULL THEN 'not_a_number'
               WHEN conv.factor IS NULL THEN 'unknown_unit'
               WHEN parsed.number * conv.factor + conv.offset_value NOT BETWEEN mt.valid_min AND mt.valid_max THEN 'out_of_range'
               WHEN parsed.ts NOT BETWEEN now() - v_horizon AND now() + v_horizon THEN 'outside_horizon'
           END,
           false
    FROM public.measurement_staging AS st
    LEFT JOIN public.stations AS sn ON sn.code = st.station_code
    LEFT JOIN public.devices AS d ON d.station_id = sn.station_id AND d.code = st.device_code
    LEFT JOIN public.metrics AS mt ON mt.code = st.metric_code
    LEFT JOIN public.series AS se ON se.device_id = d.device_id AND se.metric_id = mt.metric_id
    LEFT JOIN LATERAL public.unit_conversion(st.unit, mt.unit) AS conv ON true
    CROSS JOIN LATERAL (
        SELECT coalesce(st.ts_utc, st.ts_local AT TIME ZONE sn.timezone) AS ts,
               public.try_float(st.value_text) AS number
    ) AS parsed
    WHERE st.run_id = p_run_id AND st.batch_no = p_batch_no;

    -- The same point and time twice in a batch: the later line wins.
    UPDATE merge_batch AS b
    SET is_duplicate = true
    FROM (
        SELECT line_no, column_name,
               row_number() OVER (PARTITION BY series_id, ts ORDER BY line_no DESC) AS rank_from_last
        FROM merge_batch
        WHERE reason IS NULL
    ) AS ranked
    WHERE b.line_no = ranked.line_no AND b.column_name = ranked.column_name AND ranked.rank_from_last > 1;

    INSERT INTO public.import_rejects (run_id, line_no, column_name, value_text, reason_code)
    SELECT p_run_id, line_no, column_name, left(value_text, 200), reason
    FROM merge_batch
    WHERE reason IS NOT NULL AND EXISTS (SELECT 1 FROM public.import_runs WHERE run_id = p_run_id);

    SELECT min(ts), max(ts) INTO v_min_ts, v_max_ts FROM merge_batch WHERE reason IS NULL;
    partitions_created := CASE WHEN v_min_ts IS NULL THEN 0
                               ELSE public.ensure_measurement_partitions(v_min_ts, v_max_ts) END;

    WITH upserted AS (
        INSERT INTO public.measurements AS m (series_id, ts, value, quality, source_id)
        SELECT series_id, ts, value, 0, v_source_id
        FROM merge_batch
        WHERE reason IS NULL AND NOT is_duplicate
        ON CONFLICT (series_id, ts) DO UPDATE
            SET value = EXCLUDED.value,
                quality = EXCLUDED.quality,
                source_id = EXCLUDED.source_id,
                original_value = coalesce(m.original_value, m.value),
                version = m.version + 1,
                updated_at = now(),
                updated_by = v_changed_by
            WHERE m.value IS DISTINCT FROM EXCLUDED.value AND NOT m.substituted
        RETURNING (m.version = 1) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
    INTO rows_inserted, rows_updated
    FROM upserted;

    SELECT count(*),
           count(*) FILTER (WHERE reason IS NULL AND NOT is_duplicate),
           count(*) FILTER (WHERE reason IS NOT NULL),
           count(*) FILTER (WHERE is_duplicate)
    INTO rows_staged, rows_accepted, rows_rejected, rows_duplicate
    FROM merge_batch;
    rows_unchanged := rows_accepted - rows_inserted - rows_updated;

    DELETE FROM public.measurement_staging WHERE run_id = p_run_id AND batch_no = p_batch_no;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION public.merge_staged_measurements(text, integer, text, text, integer) IS
    'Validate, de-duplicate and upsert one staged import batch; rejects go to import_rejects. rows_staged = accepted + rejected + duplicate.';

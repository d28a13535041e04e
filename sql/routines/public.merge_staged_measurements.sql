-- p_overwrite_substituted and rows_kept were added; the earlier signature
-- is dropped because CREATE OR REPLACE cannot change parameters or results.
DROP FUNCTION IF EXISTS public.merge_staged_measurements(text, integer, text, text, integer);

CREATE OR REPLACE FUNCTION public.merge_staged_measurements(
    p_run_id text,
    p_batch_no integer,
    p_source text DEFAULT 'import',
    p_changed_by text DEFAULT NULL,
    p_partition_horizon_months integer DEFAULT 240,
    p_overwrite_substituted boolean DEFAULT false
)
RETURNS TABLE (
    rows_staged bigint,
    rows_accepted bigint,
    rows_rejected bigint,
    rows_duplicate bigint,
    rows_inserted bigint,
    rows_updated bigint,
    rows_unchanged bigint,
    partitions_created integer,
    rows_kept bigint
)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Validate one staged batch, record its rejects, create the partitions its
-- times need and upsert it. The caller runs it in one transaction per batch,
-- so a batch is merged whole or not at all. A reading an operator has
-- substituted is kept (and counted in rows_kept) unless
-- p_overwrite_substituted, which replaces it and clears the flag. A row counts as inserted
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

    -- The batch is first copied into temporary tables. measurement_staging
    -- is shared by all runs and its statistics rarely describe the batch at
    -- hand, which made the planner choose nested loops over hundreds of
    -- thousands of rows. A fresh temporary table is estimated from its size.
    CREATE TEMP TABLE IF NOT EXISTS merge_raw (
        line_no bigint, column_name text, station_code text, device_code text, metric_code text,
        unit_key text, ts_local timestamp, ts_utc timestamptz, value_text text
    ) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS merge_points (
        station_code text, device_code text, metric_code text, unit_key text, series_id integer,
        timezone text, metric_unit text, valid_min double precision, valid_max double precision,
        factor double precision, offset_value double precision
    ) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS merge_batch (
        line_no bigint, column_name text, value_text text, series_id integer, ts timestamptz,
        value double precision, reason text, detail text
    ) ON COMMIT DROP;
    TRUNCATE merge_raw, merge_points, merge_batch;

    INSERT INTO merge_raw
    SELECT line_no, column_name, station_code, device_code, metric_code, coalesce(unit, ''), ts_local, ts_utc,
           value_text
    FROM public.measurement_staging
    WHERE run_id = p_run_id AND batch_no = p_batch_no;

    -- Points are resolved once per distinct (station, device, metric, unit):
    -- a batch has a few dozen points and up to hundreds of thousands of readings.
    INSERT INTO merge_points
    SELECT k.station_code, k.device_code, k.metric_code, k.unit_key,
           se.series_id, sn.timezone, mt.unit, mt.valid_min, mt.valid_max, conv.factor, conv.offset_value
    FROM (SELECT DISTINCT station_code, device_code, metric_code, unit_key FROM merge_raw) AS k
    LEFT JOIN public.stations AS sn ON sn.code = k.station_code
    LEFT JOIN public.devices AS d ON d.station_id = sn.station_id AND d.code = k.device_code
    LEFT JOIN public.metrics AS mt ON mt.code = k.metric_code
    LEFT JOIN public.series AS se ON se.device_id = d.device_id AND se.metric_id = mt.metric_id
    LEFT JOIN LATERAL public.unit_conversion(k.unit_key, mt.unit) AS conv ON true;

    WITH parsed AS (
        SELECT r.line_no, r.column_name, r.value_text, r.ts_local, r.ts_utc, r.unit_key, p.station_code,
               p.device_code, p.metric_code, p.series_id, p.timezone, p.metric_unit, p.valid_min, p.valid_max,
               p.factor, p.offset_value,
               coalesce(r.ts_utc, r.ts_local AT TIME ZONE p.timezone) AS ts,
               public.try_float(r.value_text) AS number
        FROM merge_raw AS r
        JOIN merge_points AS p USING (station_code, device_code, metric_code, unit_key)
    ),
    checked AS MATERIALIZED (
        SELECT pa.*,
               pa.number * pa.factor + pa.offset_value AS value,
               CASE
                   WHEN pa.series_id IS NULL THEN 'unknown_point'
                   WHEN pa.ts IS NULL THEN 'missing_time'
                   -- A local time skipped by a DST spring-forward does not
                   -- exist; PostgreSQL would silently shift it by an hour.
                   WHEN pa.ts_utc IS NULL AND (pa.ts AT TIME ZONE pa.timezone) <> pa.ts_local THEN 'nonexistent_local_time'
                   WHEN nullif(trim(pa.value_text), '') IS NULL THEN 'missing_value'
                   WHEN lower(trim(pa.value_text)) IN ('nan', '-nan', '+nan', 'inf', '+inf', '-inf',
                                                       'infinity', '+infinity', '-infinity') THEN 'not_finite'
                   WHEN pa.number IS NULL THEN 'not_a_number'
                   WHEN pa.factor IS NULL THEN 'unknown_unit'
                   WHEN pa.number * pa.factor + pa.offset_value NOT BETWEEN pa.valid_min AND pa.valid_max THEN 'out_of_range'
                   WHEN pa.ts NOT BETWEEN now() - v_horizon AND now() + v_horizon THEN 'outside_horizon'
               END AS reason
        FROM parsed AS pa
    )
    INSERT INTO merge_batch (line_no, column_name, value_text, series_id, ts, value, reason, detail)
    SELECT c.line_no, c.column_name, c.value_text, c.series_id, c.ts, c.value, c.reason,
           CASE c.reason
               WHEN 'unknown_point' THEN format('no series for station %s, device %s, metric %s',
                                                c.station_code, c.device_code, c.metric_code)
               WHEN 'missing_time' THEN 'the time cell of this line is empty'
               WHEN 'nonexistent_local_time' THEN format('local time %s does not exist in %s (skipped by a DST change)',
                                                         c.ts_local, c.timezone)
               WHEN 'missing_value' THEN 'the cell is empty'
               WHEN 'not_finite' THEN 'NaN or infinity is not a reading'
               WHEN 'not_a_number' THEN 'not a decimal number'
               WHEN 'out_of_range' THEN format('%s %s is outside the valid range %s to %s of metric %s',
                                               c.value, c.metric_unit, c.valid_min, c.valid_max, c.metric_code)
               WHEN 'unknown_unit' THEN format('no conversion from unit %s to %s in public.unit_conversions',
                                               quote_literal(c.unit_key), quote_literal(c.metric_unit))
               WHEN 'outside_horizon' THEN format('time %s is more than %s months from now',
                                                  c.ts, p_partition_horizon_months)
           END
    FROM checked AS c;

    -- The same point and time twice in a batch: the later line wins. Grouping
    -- finds the few repeated keys without sorting the whole batch.
    UPDATE merge_batch AS b
    SET reason = 'duplicate_time', detail = format('same point and time as line %s, which is kept', d.winner_line_no)
    FROM (
        SELECT series_id, ts, max(line_no) AS winner_line_no
        FROM merge_batch
        WHERE reason IS NULL
        GROUP BY series_id, ts
        HAVING count(*) > 1
    ) AS d
    WHERE b.series_id = d.series_id AND b.ts = d.ts AND b.reason IS NULL AND b.line_no < d.winner_line_no;

    INSERT INTO public.import_rejects (run_id, line_no, column_name, value_text, reason_code, detail)
    SELECT p_run_id, line_no, column_name, left(value_text, 200), reason, detail
    FROM merge_batch
    WHERE reason IS NOT NULL AND EXISTS (SELECT 1 FROM public.import_runs WHERE run_id = p_run_id);

    SELECT min(ts), max(ts) INTO v_min_ts, v_max_ts FROM merge_batch WHERE reason IS NULL;
    partitions_created := CASE WHEN v_min_ts IS NULL THEN 0
                               ELSE public.ensure_measurement_partitions(v_min_ts, v_max_ts) END;

    WITH upserted AS (
        INSERT INTO public.measurements AS m (series_id, ts, value, quality, source_id)
        SELECT series_id, ts, value, 0, v_source_id
        FROM merge_batch
        WHERE reason IS NULL
        ON CONFLICT (series_id, ts) DO UPDATE
            SET value = EXCLUDED.value,
                quality = EXCLUDED.quality,
                source_id = EXCLUDED.source_id,
                original_value = coalesce(m.original_value, m.value),
                version = m.version + 1,
                updated_at = now(),
                updated_by = v_changed_by,
                substituted = false
            WHERE (m.value, m.quality) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.quality)
              AND (NOT m.substituted OR p_overwrite_substituted)
        RETURNING (m.version = 1) AS inserted
    )
    SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
    INTO rows_inserted, rows_updated
    FROM upserted;

    SELECT count(*),
           count(*) FILTER (WHERE reason IS NULL),
           count(*) FILTER (WHERE reason IS NOT NULL AND reason <> 'duplicate_time'),
           count(*) FILTER (WHERE reason = 'duplicate_time')
    INTO rows_staged, rows_accepted, rows_rejected, rows_duplicate
    FROM merge_batch;
    SELECT count(*) INTO rows_kept
    FROM merge_batch AS b
    JOIN public.measurements AS m ON m.series_id = b.series_id AND m.ts = b.ts AND m.substituted
    WHERE b.reason IS NULL AND NOT p_overwrite_substituted AND m.value IS DISTINCT FROM b.value;
    rows_unchanged := rows_accepted - rows_inserted - rows_updated - rows_kept;

    DELETE FROM public.measurement_staging WHERE run_id = p_run_id AND batch_no = p_batch_no;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION public.merge_staged_measurements(text, integer, text, text, integer, boolean) IS
    'Validate, de-duplicate and upsert one staged import batch; rejects and superseded duplicates go to import_rejects with line, reason and detail; substituted readings are kept (rows_kept) unless p_overwrite_substituted. rows_staged = accepted + rejected + duplicate.';

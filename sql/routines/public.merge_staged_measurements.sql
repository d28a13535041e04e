-- p_file_key, p_more_batches and p_ambiguous_local_time were added; earlier signatures are
-- dropped because CREATE OR REPLACE cannot change parameters or results.
DROP FUNCTION IF EXISTS public.merge_staged_measurements(text, integer, text, text, integer);
DROP FUNCTION IF EXISTS public.merge_staged_measurements(text, integer, text, text, integer, boolean);

CREATE OR REPLACE FUNCTION public.merge_staged_measurements(
    p_run_id text,
    p_batch_no integer,
    p_source text DEFAULT 'import',
    p_changed_by text DEFAULT NULL,
    p_partition_horizon_months integer DEFAULT 240,
    p_overwrite_substituted boolean DEFAULT false,
    p_file_key text DEFAULT NULL,
    p_more_batches boolean DEFAULT false,
    p_ambiguous_local_time text DEFAULT 'file_order'
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
--
-- Duplicates: of the readings of one point at one instant in one file, the
-- first valid line is kept and later ones are reported as duplicate_time.
-- Batches of the same file (same p_run_id and p_file_key) are checked
-- against each other through session temporary tables, which the caller's
-- one connection per run keeps between batches. A batch's keys are kept only
-- when p_more_batches is true, because later batches of the file follow. A
-- NULL p_file_key checks the batch alone. Naive times that a DST fall-back repeats arrive with
-- ts_fold set: p_ambiguous_local_time 'file_order' reads fold 0 with the
-- earlier offset and fold 1 with the later one, 'reject' rejects them.
DECLARE
    v_source_id smallint;
    v_changed_by text := coalesce(p_changed_by, session_user);
    v_min_ts timestamptz;
    v_max_ts timestamptz;
    v_horizon interval := make_interval(months => p_partition_horizon_months);
BEGIN
    IF p_ambiguous_local_time NOT IN ('file_order', 'reject') THEN
        RAISE EXCEPTION 'invalid p_ambiguous_local_time %: expected file_order or reject',
            quote_literal(p_ambiguous_local_time)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
        unit_key text, ts_local timestamp, ts_utc timestamptz, ts_fold smallint, value_text text,
        quality smallint, quality_text text
    ) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS merge_points (
        station_code text, device_code text, metric_code text, unit_key text, series_id integer,
        timezone text, metric_unit text, valid_min double precision, valid_max double precision,
        factor double precision, offset_value double precision
    ) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS merge_batch (
        line_no bigint, column_name text, value_text text, series_id integer, ts timestamptz,
        value double precision, quality smallint, reason text, detail text
    ) ON COMMIT DROP;
    TRUNCATE merge_raw, merge_points, merge_batch;

    -- merge_file names the file of the earlier batches and the time range of
    -- their accepted readings, and merge_file_keys contains those readings'
    -- keys. A batch whose times lie outside that range (the usual case, a
    -- file in time order) skips the key lookup.
    CREATE TEMP TABLE IF NOT EXISTS merge_file (
        run_id text, file_key text, min_ts timestamptz, max_ts timestamptz
    );
    CREATE TEMP TABLE IF NOT EXISTS merge_file_keys (series_id integer, ts timestamptz, line_no bigint);
    IF NOT EXISTS (SELECT 1 FROM merge_file WHERE run_id = p_run_id AND file_key IS NOT DISTINCT FROM p_file_key) THEN
        TRUNCATE merge_file, merge_file_keys;
        INSERT INTO merge_file (run_id, file_key) VALUES (p_run_id, p_file_key);
    END IF;

    INSERT INTO merge_raw
    SELECT line_no, column_name, station_code, device_code, metric_code, coalesce(unit, ''), ts_local, ts_utc,
           ts_fold, value_text, quality, quality_text
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
        SELECT r.line_no, r.column_name, r.value_text, r.ts_local, r.ts_utc, r.ts_fold, r.quality, r.quality_text,
               r.unit_key, p.station_code, p.device_code, p.metric_code, p.series_id, p.timezone, p.metric_unit,
               p.valid_min, p.valid_max, p.factor, p.offset_value,
               CASE
                   WHEN r.ts_utc IS NOT NULL THEN r.ts_utc
                   WHEN r.ts_fold IS NULL THEN r.ts_local AT TIME ZONE p.timezone
                   ELSE public.local_time_instant(r.ts_local, p.timezone, r.ts_fold)
               END AS ts,
               public.try_float(r.value_text) AS number
        FROM merge_raw AS r
        JOIN merge_points AS p USING (station_code, device_code, metric_code, unit_key)
        -- OFFSET 0 keeps this a subquery, so ts and number are computed once
        -- per reading. Pulled up into the query below, each reference to them
        -- repeated the time zone conversion or the number pattern match.
        OFFSET 0
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
                   WHEN pa.ts_fold IS NOT NULL AND p_ambiguous_local_time = 'reject' THEN 'ambiguous_local_time'
                   WHEN nullif(trim(pa.value_text), '') IS NULL THEN 'missing_value'
                   WHEN lower(trim(pa.value_text)) IN ('nan', '-nan', '+nan', 'inf', '+inf', '-inf',
                                                       'infinity', '+infinity', '-infinity') THEN 'not_finite'
                   WHEN pa.number IS NULL THEN 'not_a_number'
                   WHEN pa.factor IS NULL THEN 'unknown_unit'
                   WHEN pa.number * pa.factor + pa.offset_value NOT BETWEEN pa.valid_min AND pa.valid_max THEN 'out_of_range'
                   WHEN pa.quality IS NULL AND pa.quality_text IS NOT NULL THEN 'unknown_quality'
                   WHEN pa.ts NOT BETWEEN now() - v_horizon AND now() + v_horizon THEN 'outside_horizon'
               END AS reason
        FROM parsed AS pa
    )
    INSERT INTO merge_batch (line_no, column_name, value_text, series_id, ts, value, quality, reason, detail)
    SELECT c.line_no, c.column_name, c.value_text, c.series_id, c.ts, c.value, coalesce(c.quality, 0), c.reason,
           -- Most rows are valid: testing for NULL first spares them every comparison below.
           CASE WHEN c.reason IS NOT NULL THEN
               CASE c.reason
                   WHEN 'unknown_point' THEN format('no series for station %s, device %s, metric %s',
                                                    c.station_code, c.device_code, c.metric_code)
                   WHEN 'missing_time' THEN 'the time cell of this line is empty'
                   WHEN 'nonexistent_local_time' THEN format('local time %s does not exist in %s (skipped by a DST change)',
                                                             c.ts_local, c.timezone)
                   WHEN 'ambiguous_local_time' THEN format('local time %s occurs twice in %s (repeated by a DST change) '
                                                           'and the profile rejects such times', c.ts_local, c.timezone)
                   WHEN 'missing_value' THEN 'the cell is empty'
                   WHEN 'not_finite' THEN 'NaN or infinity is not a reading'
                   WHEN 'not_a_number' THEN 'not a decimal number within the double precision range'
                   WHEN 'out_of_range' THEN format('%s %s is outside the valid range %s to %s of metric %s',
                                                   c.value, c.metric_unit, c.valid_min, c.valid_max, c.metric_code)
                   WHEN 'unknown_unit' THEN format('no conversion from unit %s to %s in public.unit_conversions',
                                                   quote_literal(c.unit_key), quote_literal(c.metric_unit))
                   WHEN 'outside_horizon' THEN format('time %s is more than %s months from now',
                                                      c.ts, p_partition_horizon_months)
                   WHEN 'unknown_quality' THEN format('quality %s maps to no quality class of the profile',
                                                      quote_literal(c.quality_text))
               END
           END
    FROM checked AS c;

    -- Duplicates keep the time of the reading they repeat, so the range of
    -- valid times is the same before and after they are marked.
    SELECT min(ts), max(ts) INTO v_min_ts, v_max_ts FROM merge_batch WHERE reason IS NULL;

    -- The same point and time twice in a batch: the first line wins. Grouping
    -- finds the few repeated keys without sorting the whole batch.
    UPDATE merge_batch AS b
    SET reason = 'duplicate_time', detail = format('same point and time as line %s, which is kept', d.kept_line_no)
    FROM (
        SELECT series_id, ts, min(line_no) AS kept_line_no
        FROM merge_batch
        WHERE reason IS NULL
        GROUP BY series_id, ts
        HAVING count(*) > 1
    ) AS d
    WHERE b.series_id = d.series_id AND b.ts = d.ts AND b.reason IS NULL AND b.line_no > d.kept_line_no;

    IF p_file_key IS NOT NULL
       AND EXISTS (SELECT 1 FROM merge_file WHERE min_ts <= v_max_ts AND max_ts >= v_min_ts) THEN
        UPDATE merge_batch AS b
        SET reason = 'duplicate_time', detail = format('same point and time as line %s, which is kept', k.line_no)
        FROM merge_file_keys AS k
        WHERE k.series_id = b.series_id AND k.ts = b.ts AND b.reason IS NULL;
    END IF;
    IF p_file_key IS NOT NULL AND p_more_batches THEN
        INSERT INTO merge_file_keys SELECT series_id, ts, line_no FROM merge_batch WHERE reason IS NULL;
        UPDATE merge_file SET min_ts = least(min_ts, v_min_ts), max_ts = greatest(max_ts, v_max_ts);
    END IF;

    INSERT INTO public.import_rejects (run_id, line_no, column_name, value_text, reason_code, detail)
    SELECT p_run_id, line_no, column_name, left(value_text, 200), reason, detail
    FROM merge_batch
    WHERE reason IS NOT NULL AND EXISTS (SELECT 1 FROM public.import_runs WHERE run_id = p_run_id);

    partitions_created := CASE WHEN v_min_ts IS NULL THEN 0
                               ELSE public.ensure_measurement_partitions(v_min_ts, v_max_ts) END;

    WITH upserted AS (
        INSERT INTO public.measurements AS m (series_id, ts, value, quality, source_id)
        SELECT series_id, ts, value, quality, v_source_id
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
COMMENT ON FUNCTION public.merge_staged_measurements(text, integer, text, text, integer, boolean, text, boolean, text) IS
    'Validate, de-duplicate and upsert one staged import batch; rejects and later duplicates in the same file go to import_rejects with line, reason and detail; substituted readings are kept (rows_kept) unless p_overwrite_substituted. rows_staged = accepted + rejected + duplicate.';

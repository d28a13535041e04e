CREATE OR REPLACE FUNCTION public.check_staged_measurements(
    p_run_id text,
    p_batch_no integer,
    p_partition_horizon_months integer DEFAULT 240,
    p_file_key text DEFAULT NULL,
    p_more_batches boolean DEFAULT false,
    p_ambiguous_local_time text DEFAULT 'file_order'
)
RETURNS TABLE (
    rows_staged bigint,
    rows_accepted bigint,
    rows_rejected bigint,
    rows_duplicate bigint
)
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Validate the batch in pg_temp.import_staging into the temporary table
-- merge_batch: a reason for each rejected reading, the series, time,
-- converted value and quality of each accepted one. Rejects other than
-- duplicates go to import_rejects. public.store_checked_measurements then
-- stores the accepted readings in the same transaction. The two steps are
-- separate so that an importer can check one batch on one connection while
-- another connection stores the batch before it.
--
-- Duplicates: of the readings of one point at one instant in one file, the
-- first valid line is kept. This step marks the later lines within the
-- batch. For a batch that more batches of the same file follow
-- (p_more_batches, with p_file_key naming the file), it also writes the
-- accepted keys to public.import_file_keys, which the store step of those
-- later batches reads once this batch has committed. The store step checks
-- the batch against earlier batches of the file and records the duplicates
-- in import_rejects. Rows read = rows_staged = rows_accepted + rows_rejected
-- + rows_duplicate, where the store step may move accepted readings to
-- duplicates.
--
-- Naive times that a DST fall-back repeats arrive with ts_fold set:
-- p_ambiguous_local_time 'file_order' reads fold 0 with the earlier offset
-- and fold 1 with the later one, 'reject' rejects them.
DECLARE
    v_earliest timestamptz := now() - make_interval(months => p_partition_horizon_months);
    v_latest timestamptz := now() + make_interval(months => p_partition_horizon_months);
    v_min_ts timestamptz;
    v_max_ts timestamptz;
BEGIN
    IF p_ambiguous_local_time NOT IN ('file_order', 'reject') THEN
        RAISE EXCEPTION 'invalid p_ambiguous_local_time %: expected file_order or reject',
            quote_literal(p_ambiguous_local_time)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('pg_temp.import_staging') IS NULL THEN
        RAISE EXCEPTION 'this session has no import_staging table to check'
            USING ERRCODE = 'undefined_table',
                  HINT = 'Call public.create_import_staging() and COPY the batch into pg_temp.import_staging first.';
    END IF;
    -- The queries below read the whole staging table: a filter on run and
    -- batch there made the planner expect a few rows and join them in a
    -- nested loop. This check costs one scan.
    IF EXISTS (SELECT 1 FROM pg_temp.import_staging
               WHERE run_id IS DISTINCT FROM p_run_id OR batch_no IS DISTINCT FROM p_batch_no) THEN
        RAISE EXCEPTION 'import_staging contains rows of another run or batch than run % batch %', p_run_id, p_batch_no
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Stage and merge one batch per transaction; the table is emptied at every commit.';
    END IF;

    -- merge_batch is a fresh temporary table without statistics, so the
    -- planner estimates it from its size, which matches the batch.
    CREATE TEMP TABLE IF NOT EXISTS merge_points (
        station_code text, device_code text, metric_code text, unit_key text, series_id integer,
        timezone text, metric_unit text, valid_min double precision, valid_max double precision,
        factor double precision, offset_value double precision
    ) ON COMMIT DROP;
    CREATE TEMP TABLE IF NOT EXISTS merge_batch (
        line_no bigint, column_name text, value_text text, series_id integer, ts timestamptz,
        value double precision, quality smallint, reason text, detail text
    ) ON COMMIT DROP;
    -- The one checked batch that store_checked_measurements stores: its
    -- identity, counts and the time range of its accepted readings.
    CREATE TEMP TABLE IF NOT EXISTS merge_checked (
        run_id text, batch_no integer, file_key text, more_batches boolean, rows_staged bigint,
        rows_accepted bigint, rows_rejected bigint, rows_duplicate bigint, min_ts timestamptz, max_ts timestamptz
    ) ON COMMIT DROP;
    TRUNCATE merge_points, merge_batch, merge_checked;

    -- Points are resolved once per distinct (station, device, metric, unit):
    -- a batch has a few dozen points and up to hundreds of thousands of readings.
    INSERT INTO merge_points
    SELECT k.station_code, k.device_code, k.metric_code, k.unit_key,
           se.series_id, sn.timezone, mt.unit, mt.valid_min, mt.valid_max, conv.factor, conv.offset_value
    FROM (SELECT DISTINCT station_code, device_code, metric_code, coalesce(unit, '') AS unit_key
          FROM pg_temp.import_staging) AS k
    LEFT JOIN public.stations AS sn ON sn.code = k.station_code
    LEFT JOIN public.devices AS d ON d.station_id = sn.station_id AND d.code = k.device_code
    LEFT JOIN public.metrics AS mt ON mt.code = k.metric_code
    LEFT JOIN public.series AS se ON se.device_id = d.device_id AND se.metric_id = mt.metric_id
    LEFT JOIN LATERAL public.unit_conversion(k.unit_key, mt.unit) AS conv ON true;
    -- With its row count known, the planner hashes these few points instead
    -- of sorting the batch to merge-join it.
    ANALYZE merge_points;

    WITH parsed AS (
        SELECT r.line_no, r.column_name, r.value_text, r.ts_local, r.ts_utc, r.ts_fold, r.quality, r.quality_text,
               p.unit_key, p.station_code, p.device_code, p.metric_code, p.series_id, p.timezone, p.metric_unit,
               p.valid_min, p.valid_max, p.factor, p.offset_value,
               CASE
                   WHEN r.ts_utc IS NOT NULL THEN r.ts_utc
                   WHEN r.ts_fold IS NULL THEN r.ts_local AT TIME ZONE p.timezone
                   ELSE public.local_time_instant(r.ts_local, p.timezone, r.ts_fold)
               END AS ts,
               public.try_float(r.value_text) AS number
        FROM pg_temp.import_staging AS r
        JOIN merge_points AS p
          ON p.station_code = r.station_code AND p.device_code = r.device_code
         AND p.metric_code = r.metric_code AND p.unit_key = coalesce(r.unit, '')
        -- OFFSET 0 keeps this a subquery, so ts and number are computed once
        -- per reading. Pulled up into the query below, each reference to them
        -- repeated the time zone conversion or the number pattern match.
        OFFSET 0
    ),
    checked AS (
        SELECT pa.*,
               pa.number * pa.factor + pa.offset_value AS value,
               CASE
                   WHEN pa.series_id IS NULL THEN 'unknown_point'
                   WHEN pa.ts IS NULL THEN 'missing_time'
                   -- A local time skipped by a DST spring-forward does not
                   -- exist; PostgreSQL would silently shift it by an hour.
                   WHEN pa.ts_utc IS NULL AND (pa.ts AT TIME ZONE pa.timezone) <> pa.ts_local THEN 'nonexistent_local_time'
                   WHEN pa.ts_fold IS NOT NULL AND p_ambiguous_local_time = 'reject' THEN 'ambiguous_local_time'
                   -- try_float returns NULL for every text that is not a
                   -- finite decimal number, so the tests that tell empty,
                   -- non-finite and non-numeric cells apart run only there.
                   WHEN pa.number IS NULL THEN
                       CASE
                           WHEN nullif(trim(pa.value_text), '') IS NULL THEN 'missing_value'
                           WHEN lower(trim(pa.value_text)) IN ('nan', '-nan', '+nan', 'inf', '+inf', '-inf',
                                                               'infinity', '+infinity', '-infinity') THEN 'not_finite'
                           ELSE 'not_a_number'
                       END
                   WHEN pa.factor IS NULL THEN 'unknown_unit'
                   WHEN pa.number * pa.factor + pa.offset_value NOT BETWEEN pa.valid_min AND pa.valid_max THEN 'out_of_range'
                   WHEN pa.quality IS NULL AND pa.quality_text IS NOT NULL THEN 'unknown_quality'
                   WHEN pa.ts NOT BETWEEN v_earliest AND v_latest THEN 'outside_horizon'
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
    SELECT count(*),
           count(*) FILTER (WHERE reason IS NULL),
           count(*) FILTER (WHERE reason IS NOT NULL),
           min(ts) FILTER (WHERE reason IS NULL),
           max(ts) FILTER (WHERE reason IS NULL)
    INTO rows_staged, rows_accepted, rows_rejected, v_min_ts, v_max_ts
    FROM merge_batch;

    -- The same point and time twice in a batch: the first line wins. Grouping
    -- finds the few repeated keys without sorting the whole batch. The
    -- filters sit in the aggregates because a WHERE reason IS NULL made the
    -- planner expect a few hundred rows and sort them instead of hashing.
    UPDATE merge_batch AS b
    SET reason = 'duplicate_time', detail = format('same point and time as line %s, which is kept', d.kept_line_no)
    FROM (
        SELECT series_id, ts, min(line_no) FILTER (WHERE reason IS NULL) AS kept_line_no
        FROM merge_batch
        GROUP BY series_id, ts
        HAVING count(*) FILTER (WHERE reason IS NULL) > 1
    ) AS d
    WHERE b.series_id = d.series_id AND b.ts = d.ts AND b.reason IS NULL AND b.line_no > d.kept_line_no;
    GET DIAGNOSTICS rows_duplicate = ROW_COUNT;
    rows_accepted := rows_accepted - rows_duplicate;

    IF rows_rejected > 0 THEN
        INSERT INTO public.import_rejects (run_id, line_no, column_name, value_text, reason_code, detail)
        SELECT p_run_id, line_no, column_name, left(value_text, 200), reason, detail
        FROM merge_batch
        WHERE reason IS NOT NULL AND reason <> 'duplicate_time'
          AND EXISTS (SELECT 1 FROM public.import_runs WHERE run_id = p_run_id);
    END IF;

    IF p_file_key IS NOT NULL AND p_more_batches AND rows_accepted > 0 THEN
        INSERT INTO public.import_file_keys (run_id, file_key, batch_no, series_id, min_ts, max_ts, times, line_nos)
        SELECT p_run_id, p_file_key, p_batch_no, series_id, min(ts), max(ts), array_agg(ts), array_agg(line_no)
        FROM merge_batch
        WHERE reason IS NULL
        GROUP BY series_id;
    END IF;

    INSERT INTO merge_checked (run_id, batch_no, file_key, more_batches, rows_staged, rows_accepted, rows_rejected,
                               rows_duplicate, min_ts, max_ts)
    VALUES (p_run_id, p_batch_no, p_file_key, p_more_batches, rows_staged, rows_accepted, rows_rejected,
            rows_duplicate, v_min_ts, v_max_ts);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION public.check_staged_measurements(text, integer, integer, text, boolean, text) IS
    'Validate the batch staged in pg_temp.import_staging into pg_temp.merge_batch, mark repeated keys within it as duplicate_time (the first valid line wins) and record the other rejects in import_rejects; public.store_checked_measurements stores it in the same transaction. rows_staged = accepted + rejected + duplicate.';
GRANT EXECUTE ON FUNCTION public.check_staged_measurements(text, integer, integer, text, boolean, text) TO pumpdash_import;

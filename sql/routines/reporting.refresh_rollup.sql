CREATE OR REPLACE FUNCTION reporting.refresh_rollup(
    p_rollup text,
    p_until timestamptz DEFAULT now()
)
RETURNS TABLE (
    status text,
    watermark_before timestamptz,
    watermark_after timestamptz,
    invalidations integer,
    buckets_deleted integer,
    buckets_written integer,
    raw_rows bigint,
    duration_ms double precision
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
-- Recompute the buckets that pending invalidations touch and that end at or
-- before the new watermark (p_until truncated to the hour), then move the
-- watermark. The work grows with what was written, not with history. A
-- second refresh of the same rollup returns 'skipped' at once. Readers keep
-- reading the previous rows until this transaction commits, and writers
-- committing meanwhile leave invalidations that the next refresh claims.
-- SECURITY DEFINER: the maintenance role has no table privileges, so the
-- rollup tables are written with the owner's rights.
DECLARE
    v_unit text := reporting.rollup_unit(p_rollup);
    -- Declared after v_unit, whose call has already rejected any other rollup name.
    v_table text := 'mv_measurements_' || p_rollup;
    v_margin interval;
    v_started timestamptz := clock_timestamp();
    v_new_watermark timestamptz;
BEGIN
    v_margin := reporting.rollup_margin(v_unit);
    invalidations := 0;
    buckets_deleted := 0;
    buckets_written := 0;
    raw_rows := 0;

    IF NOT pg_try_advisory_xact_lock(hashtext('pumpdash.refresh_rollup'), hashtext(p_rollup)) THEN
        status := 'skipped';
        duration_ms := extract(epoch FROM clock_timestamp() - v_started) * 1000;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT w.watermark INTO watermark_before
    FROM reporting.rollup_watermarks AS w WHERE w.rollup = p_rollup FOR UPDATE;
    v_new_watermark := greatest(date_trunc('hour', p_until), watermark_before);
    -- Clients cannot represent -infinity (psycopg raises), so "never
    -- refreshed" is reported as NULL.
    watermark_before := nullif(watermark_before, '-infinity');

    -- Scratch tables are dropped and created here, never reused: a table of
    -- the same name that the caller created could carry a trigger, which
    -- would then run with this function's owner's rights.
    DROP TABLE IF EXISTS pg_temp.refresh_claimed, pg_temp.refresh_windows;
    CREATE TEMP TABLE refresh_claimed (
        invalidation_id bigint, series_id integer, range_start timestamptz, range_end timestamptz,
        timezone text, has_remainder boolean
    ) ON COMMIT DROP;
    CREATE TEMP TABLE refresh_windows (
        series_id integer, window_start timestamptz, window_end timestamptz
    ) ON COMMIT DROP;

    -- Only ranges whose first bucket can be complete by the new watermark
    -- are claimed. The rest (today's local day, the current hour) wait, so
    -- live series are not recomputed at every refresh.
    INSERT INTO pg_temp.refresh_claimed
    SELECT i.invalidation_id, i.series_id, i.range_start, i.range_end, st.timezone,
           reporting.bucket_end(v_unit, date_trunc(v_unit, i.range_end, st.timezone), st.timezone) > v_new_watermark
    FROM reporting.rollup_invalidations AS i
    JOIN public.series AS se ON se.series_id = i.series_id
    JOIN public.stations AS st ON st.station_id = se.station_id
    WHERE i.rollup = p_rollup
      AND i.range_start < v_new_watermark
      AND reporting.bucket_end(v_unit, date_trunc(v_unit, i.range_start, st.timezone), st.timezone) <= v_new_watermark;
    GET DIAGNOSTICS invalidations = ROW_COUNT;

    -- Windows cover every bucket that overlaps a claimed range and ends by
    -- the new watermark; aggregate_windows returns only whole buckets.
    INSERT INTO pg_temp.refresh_windows
    SELECT w.*
    FROM (SELECT array_agg(c.series_id) AS ids,
                 array_agg(c.range_start - v_margin) AS starts,
                 array_agg(least(c.range_end + v_margin, v_new_watermark)) AS ends
          FROM pg_temp.refresh_claimed AS c) AS packed
    CROSS JOIN LATERAL reporting.merge_windows(packed.ids, packed.starts, packed.ends) AS w
    WHERE packed.ids IS NOT NULL;

    EXECUTE format(
        'DELETE FROM reporting.%I AS r
         USING pg_temp.refresh_windows AS w, public.series AS se, public.stations AS st
         WHERE r.series_id = w.series_id AND se.series_id = w.series_id AND st.station_id = se.station_id
           AND r.bucket >= w.window_start
           AND reporting.bucket_end(%L, r.bucket, st.timezone) <= w.window_end', v_table, v_unit);
    GET DIAGNOSTICS buckets_deleted = ROW_COUNT;

    EXECUTE format(
        'WITH written AS (
             INSERT INTO reporting.%I (series_id, bucket, sample_count, bad_count, substituted_count,
                                       value_sum, value_min, value_max, value_first, value_last)
             SELECT a.*
             FROM (SELECT array_agg(series_id) AS ids, array_agg(window_start) AS starts,
                          array_agg(window_end) AS ends FROM pg_temp.refresh_windows) AS packed
             CROSS JOIN LATERAL reporting.aggregate_windows(packed.ids, packed.starts, packed.ends, %L) AS a
             WHERE packed.ids IS NOT NULL
             RETURNING sample_count + bad_count AS readings
         )
         SELECT count(*)::integer, coalesce(sum(readings), 0)::bigint FROM written', v_table, v_unit)
    INTO buckets_written, raw_rows;

    -- A claimed range whose last bucket ends after the new watermark still
    -- has buckets that are not materialized. It stays pending from the start
    -- of the bucket containing the watermark, so the next refresh that can
    -- complete that bucket finds it. Other claimed ranges are done.
    UPDATE reporting.rollup_invalidations AS i
    SET range_start = greatest(i.range_start, date_trunc(v_unit, v_new_watermark, c.timezone))
    FROM pg_temp.refresh_claimed AS c
    WHERE i.invalidation_id = c.invalidation_id AND c.has_remainder;
    DELETE FROM reporting.rollup_invalidations AS i
    USING pg_temp.refresh_claimed AS c
    WHERE i.invalidation_id = c.invalidation_id AND NOT c.has_remainder;

    UPDATE reporting.rollup_watermarks AS w
    SET watermark = v_new_watermark, updated_at = now()
    WHERE w.rollup = p_rollup;

    status := 'done';
    watermark_after := v_new_watermark;
    duration_ms := extract(epoch FROM clock_timestamp() - v_started) * 1000;
    INSERT INTO reporting.rollup_refresh_log (rollup, mode, status, started_at, finished_at, duration_ms,
                                              watermark_before, watermark_after, invalidations,
                                              buckets_deleted, buckets_written, raw_rows)
    VALUES (p_rollup, 'incremental', status, v_started, clock_timestamp(), duration_ms,
            watermark_before, watermark_after, invalidations, buckets_deleted, buckets_written, raw_rows);
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION reporting.refresh_rollup(text, timestamptz) IS
    'Recompute the buckets of p_rollup (hourly or daily) that pending invalidations touch, up to p_until truncated to the hour, and move the watermark there; skipped when another refresh of it runs.';
GRANT EXECUTE ON FUNCTION reporting.refresh_rollup(text, timestamptz) TO pumpdash_maint;

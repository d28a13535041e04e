CREATE OR REPLACE FUNCTION public.local_time_instant(p_local timestamp, p_zone text, p_fold smallint)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $$
    -- A local time that a DST fall-back repeats names two instants: the one
    -- with the offset in force before the change (fold 0) and the one with
    -- the offset after it (fold 1). The offsets a day either side are those
    -- two, because no two changes of a zone fall within a day. For a time
    -- that occurs once, both candidates are the same instant.
    WITH candidate AS (
        SELECT (p_local - ((probe AT TIME ZONE p_zone) - (probe AT TIME ZONE 'UTC'))) AT TIME ZONE 'UTC' AS instant
        FROM (VALUES ((p_local AT TIME ZONE p_zone) - interval '1 day'),
                     ((p_local AT TIME ZONE p_zone) + interval '1 day')) AS probes (probe)
    )
    SELECT CASE WHEN p_fold = 0 THEN min(instant) ELSE max(instant) END
    FROM candidate
    WHERE instant AT TIME ZONE p_zone = p_local;
$$;
COMMENT ON FUNCTION public.local_time_instant(timestamp, text, smallint) IS
    'The instant of local time p_local in zone p_zone; for a time that a DST fall-back repeats, fold 0 takes the earlier offset and fold 1 the later one. NULL when the local time does not exist.';
GRANT EXECUTE ON FUNCTION public.local_time_instant(timestamp, text, smallint) TO pumpdash_import;

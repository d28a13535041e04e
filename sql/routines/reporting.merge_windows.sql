CREATE OR REPLACE FUNCTION reporting.merge_windows(
    p_series_ids integer[],
    p_starts timestamptz[],
    p_ends timestamptz[]
)
RETURNS TABLE (series_id integer, window_start timestamptz, window_end timestamptz)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    -- Gaps and islands: a window starts a new island unless it begins at or
    -- before the furthest end seen so far for its series.
    WITH windows AS (
        SELECT w.series_id, w.window_start, w.window_end
        FROM unnest(p_series_ids, p_starts, p_ends) AS w(series_id, window_start, window_end)
        WHERE w.window_start < w.window_end
    ),
    flagged AS (
        SELECT w.*,
               CASE WHEN w.window_start <= max(w.window_end) OVER (
                        PARTITION BY w.series_id ORDER BY w.window_start, w.window_end
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                    THEN 0 ELSE 1 END AS starts_island
        FROM windows AS w
    ),
    numbered AS (
        SELECT f.*, sum(f.starts_island) OVER (PARTITION BY f.series_id ORDER BY f.window_start, f.window_end) AS island
        FROM flagged AS f
    )
    SELECT n.series_id, min(n.window_start), max(n.window_end)
    FROM numbered AS n
    GROUP BY n.series_id, n.island
    ORDER BY 1, 2;
$$;
COMMENT ON FUNCTION reporting.merge_windows(integer[], timestamptz[], timestamptz[]) IS
    'Merge overlapping or touching time windows [start, end) per series into disjoint windows; the arrays are parallel.';
GRANT EXECUTE ON FUNCTION reporting.merge_windows(integer[], timestamptz[], timestamptz[]) TO pumpdash_read;

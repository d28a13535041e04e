-- Imports COPY each batch into a temporary table of this table's shape
-- (public.create_import_staging) instead of into this table: a temporary
-- table needs no index, no DELETE after the merge and no vacuum, and
-- another session's batches never share it. This table keeps the column
-- definition, so its index only cost time.
DROP INDEX IF EXISTS public.measurement_staging_batch_idx;
TRUNCATE public.measurement_staging;
COMMENT ON TABLE public.measurement_staging IS
    'Column definition of import staging: public.create_import_staging gives each importing session a temporary import_staging table with these columns. No rows are stored here.';

-- Of the readings of one point at one instant in one file, the first valid
-- line is kept. An importer may check and store the batches of a file on
-- several connections, so the keys of a file's earlier batches cannot live
-- in one session's temporary tables. Each committed batch adds one row per
-- series here: the range of its accepted times, and those times with their
-- file lines as arrays. A later batch looks up only the rows whose range
-- overlaps its own for the same series, so a file in time order (or a long
-- export sorted by tag) never unpacks an array. UNLOGGED: the rows matter
-- only while their run is importing.
CREATE UNLOGGED TABLE public.import_file_keys (
    run_id      text NOT NULL,
    file_key    text NOT NULL,
    batch_no    integer NOT NULL,
    series_id   integer NOT NULL,
    min_ts      timestamptz NOT NULL,
    max_ts      timestamptz NOT NULL,
    times       timestamptz[] NOT NULL,
    line_nos    bigint[] NOT NULL,
    backend_pid integer NOT NULL DEFAULT pg_backend_pid(),
    PRIMARY KEY (run_id, file_key, batch_no, series_id)
);
-- The arrays are written once and read only when ranges overlap, so
-- compressing them would cost time at every batch for little gain.
ALTER TABLE public.import_file_keys ALTER COLUMN times SET STORAGE EXTERNAL,
                                    ALTER COLUMN line_nos SET STORAGE EXTERNAL;
COMMENT ON TABLE public.import_file_keys IS
    'Accepted (series, time, file line) keys of the committed batches of files still being imported, one row per batch and series; public.store_checked_measurements reports later lines with those keys as duplicate_time. backend_pid is the session that wrote the row, so rows of a killed importer can be found and deleted.';

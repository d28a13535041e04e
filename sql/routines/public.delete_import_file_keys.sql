CREATE OR REPLACE FUNCTION public.delete_import_file_keys(p_run_id text)
RETURNS bigint
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, public
AS $$
    -- A file's last batch deletes its keys. This removes what a run that
    -- failed part way through a file left, and the rows of importers that
    -- were killed: those whose writing session has ended. A later session
    -- that reuses such a pid only delays their removal.
    WITH deleted AS (
        DELETE FROM public.import_file_keys AS k
        WHERE k.run_id = p_run_id
           OR NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = k.backend_pid)
        RETURNING 1
    )
    SELECT count(*) FROM deleted;
$$;
COMMENT ON FUNCTION public.delete_import_file_keys(text) IS
    'Delete the duplicate-check keys of run p_run_id and of every importer session that has ended; returns the number of rows deleted.';
GRANT EXECUTE ON FUNCTION public.delete_import_file_keys(text) TO pumpdash_import;

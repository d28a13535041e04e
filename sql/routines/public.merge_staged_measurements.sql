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
-- Validate, record the rejects of and store one staged batch: the two
-- steps public.check_staged_measurements and store_checked_measurements in
-- one call, with the same parameters and counts. The caller COPYs the batch
-- into pg_temp.import_staging (public.create_import_staging) and calls this
-- in the same transaction, so a batch is merged whole or not at all.
--
-- Duplicates: of the readings of one point at one instant in one file, the
-- first valid line is kept and later ones are reported as duplicate_time.
-- Batches of the same file (same p_run_id and p_file_key) are checked
-- against the earlier ones through public.import_file_keys, so they must be
-- merged in file order. A batch's keys are kept only when p_more_batches is
-- true, because later batches of the file follow. A NULL p_file_key checks
-- the batch alone. Naive times that a DST fall-back repeats arrive with
-- ts_fold set: p_ambiguous_local_time 'file_order' reads fold 0 with the
-- earlier offset and fold 1 with the later one, 'reject' rejects them.
BEGIN
    PERFORM public.check_staged_measurements(p_run_id, p_batch_no, p_partition_horizon_months, p_file_key,
                                             p_more_batches, p_ambiguous_local_time);
    RETURN QUERY SELECT * FROM public.store_checked_measurements(p_source, p_changed_by, p_overwrite_substituted);
END
$$;
COMMENT ON FUNCTION public.merge_staged_measurements(text, integer, text, text, integer, boolean, text, boolean, text) IS
    'Validate, de-duplicate and upsert the import batch staged in pg_temp.import_staging (check_staged_measurements, then store_checked_measurements); rejects and later duplicates in the same file go to import_rejects with line, reason and detail; substituted readings are kept (rows_kept) unless p_overwrite_substituted. rows_staged = accepted + rejected + duplicate.';

CREATE OR REPLACE FUNCTION public.create_import_staging()
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
-- Create this session's staging table pg_temp.import_staging, unless it
-- exists. It has the columns of public.measurement_staging and no index.
-- Each import batch is COPYed into it, checked and stored in one
-- transaction (public.check_staged_measurements and
-- store_checked_measurements, or merge_staged_measurements for both). ON
-- COMMIT DELETE ROWS empties it when that transaction ends, so it never
-- contains more than one batch and nothing needs deleting or vacuuming.
BEGIN
    IF to_regclass('pg_temp.import_staging') IS NULL THEN
        CREATE TEMP TABLE import_staging (LIKE public.measurement_staging) ON COMMIT DELETE ROWS;
    END IF;
END
$$;
COMMENT ON FUNCTION public.create_import_staging() IS
    'Create the session''s temporary import_staging table (columns of public.measurement_staging, emptied at every commit) unless it exists.';
GRANT EXECUTE ON FUNCTION public.create_import_staging() TO pumpdash_import;

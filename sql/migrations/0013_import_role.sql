-- The import page runs imports inside the dashboard's process, whose
-- connections must not use the migrating user. Its login role belongs to
-- the group pumpdash_import, which may load files and do nothing else.
--
-- An import stages each batch in the session's own temporary table and
-- checks and stores it with public.check_staged_measurements and
-- public.store_checked_measurements. Those run with the caller's rights,
-- because a function running as its owner could not read a temporary table
-- that another role created. The group therefore gets exactly the table
-- rights those two functions use: reading the catalogue, writing readings
-- and the run's bookkeeping. It cannot delete readings, touch accounts or
-- the audit trail, or change the catalogue except through
-- public.ensure_station, ensure_device and ensure_series, which run as
-- their owner. Partitions are created by public.create_measurement_partition,
-- which also runs as its owner, since DDL on public.measurements needs that.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pumpdash_import') THEN
        CREATE ROLE pumpdash_import NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'cannot create role pumpdash_import: %', SQLERRM
        USING HINT = 'Grant CREATEROLE to the migrating user, or create the NOLOGIN role pumpdash_import beforehand.';
END
$$;

GRANT USAGE ON SCHEMA reporting TO pumpdash_import;

-- The catalogue that the check step resolves points, units and ranges in.
GRANT SELECT ON public.stations, public.devices, public.metrics, public.series, public.unit_conversions,
    public.measurement_sources, public.measurement_staging TO pumpdash_import;

-- The store step inserts and upserts readings; the statement trigger on
-- measurements logs each written range for the rollups.
GRANT SELECT, INSERT, UPDATE ON public.measurements TO pumpdash_import;
GRANT INSERT ON reporting.rollup_invalidations TO pumpdash_import;

-- Run bookkeeping: the run row, its rejected readings and the keys that
-- the duplicate rule compares later batches of a file with.
GRANT SELECT, INSERT, UPDATE ON public.import_runs TO pumpdash_import;
GRANT SELECT, INSERT ON public.import_rejects TO pumpdash_import;
GRANT SELECT, INSERT, DELETE ON public.import_file_keys TO pumpdash_import;

-- Imports of long exports carry a quality per reading, and a naive time in
-- the hour that a DST fall-back repeats carries which run of that hour it is
-- in (ts_fold 0 for the first run, 1 for the second). quality_text keeps the
-- file's quality code for the rejects report when it maps to no class.
ALTER TABLE public.measurement_staging
    ADD COLUMN ts_fold smallint CHECK (ts_fold IN (0, 1)),
    ADD COLUMN quality smallint CHECK (quality BETWEEN 0 AND 2),
    ADD COLUMN quality_text text;

-- Superseded duplicates were counted as rejected; missing cells are not
-- readings and were not counted at all.
ALTER TABLE public.import_runs
    ADD COLUMN rows_duplicate bigint NOT NULL DEFAULT 0,
    ADD COLUMN rows_missing bigint NOT NULL DEFAULT 0,
    ADD COLUMN tz_fallback bigint NOT NULL DEFAULT 0;
COMMENT ON TABLE public.import_runs IS
    'One row per import run with its counts; rows_read = rows_accepted + rows_rejected + rows_duplicate, and rows_missing counts cells that held no reading.';

-- Spellings of units seen in Chinese SCADA exports.
INSERT INTO public.unit_conversions (from_unit, to_unit, factor, offset_value) VALUES
    ('M3/H', 'm³/h', 1, 0),
    ('M3/h', 'm³/h', 1, 0),
    ('KPa', 'MPa', 0.001, 0),
    ('Mpa', 'MPa', 1, 0),
    ('mWC', 'MPa', 0.00980665, 0),
    ('KW', 'kW', 1, 0);

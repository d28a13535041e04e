-- A restored reading should come back as it was: with its source, its
-- first ingested value and its substituted flag, not as a manual entry.
-- Deletes record those three in the audit row; older delete rows have
-- NULLs there, and a restore from them falls back to a manual reading.
ALTER TABLE public.measurement_audit
    ADD COLUMN old_source_id smallint,
    ADD COLUMN old_original_value double precision,
    ADD COLUMN old_substituted boolean;

COMMENT ON COLUMN public.measurement_audit.old_source_id IS
    'For a delete: the source of the deleted reading, which a restore gives back.';
COMMENT ON COLUMN public.measurement_audit.old_original_value IS
    'For a delete: the deleted reading''s first ingested value (NULL when it was never changed).';
COMMENT ON COLUMN public.measurement_audit.old_substituted IS
    'For a delete: whether the deleted reading had been corrected.';

-- Imports count the corrected readings they leave alone; a partial index on
-- substituted readings makes that lookup cost the few corrections, not the
-- batch.
CREATE INDEX measurements_substituted_idx ON public.measurements (series_id, ts) WHERE substituted;

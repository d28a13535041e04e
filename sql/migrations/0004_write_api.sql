-- Write side: the api schema is executed by the application's write role,
-- whose functions run with their owner's rights (SECURITY DEFINER with a
-- fixed search_path), so the role itself needs no table privileges.

GRANT USAGE ON SCHEMA api TO pumpdash_write;
GRANT USAGE ON SCHEMA reporting TO pumpdash_read;

-- Audit lookups by the time of change, for the history panel and undo.
CREATE INDEX measurement_audit_changed_idx ON public.measurement_audit (changed_at);

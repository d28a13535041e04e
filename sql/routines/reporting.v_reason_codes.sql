CREATE OR REPLACE VIEW reporting.v_reason_codes AS
SELECT rc.code, rc.name_zh, rc.name_en, rc.sort_order
FROM public.reason_codes AS rc;

COMMENT ON VIEW reporting.v_reason_codes IS
    'Reasons an operator may give for changing a reading, with Chinese and English names, in display order: the correction form''s choices.';
GRANT SELECT ON reporting.v_reason_codes TO pumpdash_read;

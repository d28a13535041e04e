-- One row type for a reading as operators and the chart's correction
-- markers see it, so the functions that return readings share one column
-- list instead of repeating it.
CREATE TYPE public.reading AS (
    series_id integer,
    ts timestamptz,
    value double precision,
    original_value double precision,
    quality smallint,
    substituted boolean,
    source text,
    version integer,
    updated_at timestamptz,
    updated_by text
);
COMMENT ON TYPE public.reading IS
    'A reading with its first ingested value, quality, substituted flag, source code, version and last change: rows of api.get_measurements and reporting.get_corrections.';

-- api.get_measurements returned its own column list; its routine file
-- re-creates it returning public.reading, which CREATE OR REPLACE cannot do.
DROP FUNCTION IF EXISTS api.get_measurements(integer[], timestamptz, timestamptz, smallint[], text, integer, timestamptz, integer);

-- The cap became a parameter; the three-argument version is dropped once.
DROP FUNCTION IF EXISTS reporting.check_series_range(integer[], timestamptz, timestamptz);

CREATE OR REPLACE FUNCTION reporting.check_series_range(
    p_series_ids integer[],
    p_from timestamptz,
    p_to timestamptz,
    p_max_series integer DEFAULT 200
)
RETURNS boolean
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
AS $$
BEGIN
    IF p_series_ids IS NULL OR cardinality(p_series_ids) = 0 THEN
        RAISE EXCEPTION 'p_series_ids is empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass at least one series_id from reporting.v_series.';
    END IF;
    IF cardinality(p_series_ids) > p_max_series THEN
        RAISE EXCEPTION 'p_series_ids has % series, more than %', cardinality(p_series_ids), p_max_series
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Split the request into calls of at most %s series.', p_max_series);
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_from >= p_to THEN
        RAISE EXCEPTION 'invalid time range: p_from=%, p_to=%', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass p_from earlier than p_to, both not null.';
    END IF;
    RETURN true;
END
$$;
COMMENT ON FUNCTION reporting.check_series_range(integer[], timestamptz, timestamptz, integer) IS
    'Raise invalid_parameter_value unless 1 to p_max_series series ids (NULL: no limit) and p_from < p_to are given; returns true otherwise.';
GRANT EXECUTE ON FUNCTION reporting.check_series_range(integer[], timestamptz, timestamptz, integer) TO pumpdash_read;

CREATE OR REPLACE FUNCTION public.ensure_measurement_partitions(p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_month date := date_trunc('month', p_from AT TIME ZONE 'UTC')::date;
    v_created integer := 0;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RAISE EXCEPTION 'invalid range for ensure_measurement_partitions: p_from=%, p_to=%', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass p_from <= p_to, both not null.';
    END IF;

    WHILE v_month <= (p_to AT TIME ZONE 'UTC')::date LOOP
        IF public.create_measurement_partition(v_month) IS NOT NULL THEN
            v_created := v_created + 1;
        END IF;
        v_month := (v_month + interval '1 month')::date;
    END LOOP;
    RETURN v_created;
END
$$;
COMMENT ON FUNCTION public.ensure_measurement_partitions(timestamptz, timestamptz) IS
    'Create every missing monthly measurements partition from p_from to p_to inclusive; returns how many were created.';
GRANT EXECUTE ON FUNCTION public.ensure_measurement_partitions(timestamptz, timestamptz) TO pumpdash_import;

CREATE OR REPLACE FUNCTION public.create_measurement_partition(p_month date)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
-- Create the partition for the calendar month (UTC) that contains p_month.
-- Rows that already sit in the default partition for that month are moved
-- into the new partition, because attaching a range for which the default
-- partition still contains rows would fail.
DECLARE
    v_start timestamptz := date_trunc('month', p_month::timestamp) AT TIME ZONE 'UTC';
    v_end   timestamptz := (date_trunc('month', p_month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
    v_name  text := public.measurement_partition_name(p_month);
    v_moved bigint;
BEGIN
    IF to_regclass(format('public.%I', v_name)) IS NOT NULL THEN
        RETURN NULL;
    END IF;

    EXECUTE format('CREATE TABLE public.%I (LIKE public.measurements INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', v_name);

    EXECUTE format(
        'WITH moved AS (DELETE FROM public.measurements_default WHERE ts >= %L AND ts < %L RETURNING *)
         INSERT INTO public.%I SELECT * FROM moved', v_start, v_end, v_name);
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    IF v_moved > 0 THEN
        RAISE WARNING 'moved % rows of % from measurements_default into %', v_moved, to_char(p_month, 'YYYY-MM'), v_name;
    END IF;

    EXECUTE format('ALTER TABLE public.measurements ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                   v_name, v_start, v_end);
    RETURN v_name;
END
$$;
COMMENT ON FUNCTION public.create_measurement_partition(date) IS
    'Create and attach the monthly measurements partition containing p_month, moving any of its rows out of the default partition; NULL when it exists.';
GRANT EXECUTE ON FUNCTION public.create_measurement_partition(date) TO pumpdash_import;

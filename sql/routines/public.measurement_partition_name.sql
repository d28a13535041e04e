CREATE OR REPLACE FUNCTION public.measurement_partition_name(p_month date)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $$
    SELECT 'measurements_p' || to_char(p_month, 'YYYY_MM');
$$;
COMMENT ON FUNCTION public.measurement_partition_name(date) IS
    'Name of the monthly measurements partition holding p_month, such as measurements_p2024_11.';

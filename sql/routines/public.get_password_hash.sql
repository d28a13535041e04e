CREATE OR REPLACE FUNCTION public.get_password_hash(p_username text)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT password_hash FROM public.app_users WHERE username = p_username;
$$;
COMMENT ON FUNCTION public.get_password_hash(text) IS
    'The Argon2id PHC string of p_username for verification in the application, NULL for an unknown user. Disabled and locked accounts are judged by public.record_login_attempt.';
GRANT EXECUTE ON FUNCTION public.get_password_hash(text) TO pumpdash_write;

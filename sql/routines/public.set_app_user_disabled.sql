CREATE OR REPLACE FUNCTION public.set_app_user_disabled(p_username text, p_disabled boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    UPDATE public.app_users SET disabled = p_disabled WHERE username = p_username;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION public.set_app_user_disabled(text, boolean) IS
    'Disable (p_disabled true) or enable the account p_username; a disabled account cannot log in. Returns false for an unknown user.';
GRANT EXECUTE ON FUNCTION public.set_app_user_disabled(text, boolean) TO pumpdash_maint, pumpdash_write;

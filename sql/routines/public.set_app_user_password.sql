CREATE OR REPLACE FUNCTION public.set_app_user_password(
    p_username text,
    p_password_hash text,
    p_rehash boolean DEFAULT false
)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF p_rehash THEN
        -- Same password with current hash parameters: the change date and
        -- the lockout state stay as they are.
        UPDATE public.app_users SET password_hash = p_password_hash WHERE username = p_username;
    ELSE
        UPDATE public.app_users
        SET password_hash = p_password_hash, password_changed_at = now(), failed_logins = 0, locked_until = NULL
        WHERE username = p_username;
    END IF;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION public.set_app_user_password(text, text, boolean) IS
    'Store a new Argon2id hash for p_username. A new password also clears failed logins and any lockout; p_rehash keeps both and the change date. Returns false for an unknown user.';
GRANT EXECUTE ON FUNCTION public.set_app_user_password(text, text, boolean) TO pumpdash_write, pumpdash_maint;

CREATE OR REPLACE FUNCTION public.get_app_user(p_username text)
RETURNS TABLE (user_id integer, username text, display_name text, role text, disabled boolean)
LANGUAGE sql
STABLE
SECURITY DEFINER
-- SECURITY DEFINER: the write role has no table privileges; this returns
-- one account's role and state, never its password hash.
SET search_path = pg_catalog, public
AS $$
    SELECT u.user_id, u.username, u.display_name, u.role, u.disabled
    FROM public.app_users AS u
    WHERE u.username = p_username;
$$;
COMMENT ON FUNCTION public.get_app_user(text) IS
    'Role, display name and disabled flag of account p_username (no row when unknown), so a signed-in session follows role changes and disabling at once.';
GRANT EXECUTE ON FUNCTION public.get_app_user(text) TO pumpdash_write, pumpdash_maint;

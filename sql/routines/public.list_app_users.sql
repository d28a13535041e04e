CREATE OR REPLACE FUNCTION public.list_app_users()
RETURNS TABLE (
    username text,
    display_name text,
    role text,
    disabled boolean,
    failed_logins integer,
    locked_until timestamptz,
    created_at timestamptz,
    password_changed_at timestamptz,
    last_login_at timestamptz
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
    SELECT u.username, u.display_name, u.role, u.disabled, u.failed_logins,
           CASE WHEN u.locked_until > now() THEN u.locked_until END,
           u.created_at, u.password_changed_at, u.last_login_at
    FROM public.app_users AS u
    ORDER BY u.username;
$$;
COMMENT ON FUNCTION public.list_app_users() IS
    'Every dashboard account without its password hash, by username; locked_until is NULL unless a lockout is in force.';
GRANT EXECUTE ON FUNCTION public.list_app_users() TO pumpdash_maint, pumpdash_write;

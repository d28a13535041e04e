CREATE OR REPLACE FUNCTION public.set_app_user_role(p_username text, p_role text)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
BEGIN
    IF public.app_user_problem(p_username, p_role) = 'invalid_role' THEN
        RAISE EXCEPTION 'invalid_role: role %', quote_literal(p_role)
            USING ERRCODE = 'check_violation', DETAIL = 'invalid_role';
    END IF;
    UPDATE public.app_users SET role = p_role WHERE username = p_username;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION public.set_app_user_role(text, text) IS
    'Give account p_username the role p_role (viewer, operator or admin; else check_violation with DETAIL invalid_role); it applies from the next login. Returns false for an unknown user.';
GRANT EXECUTE ON FUNCTION public.set_app_user_role(text, text) TO pumpdash_maint, pumpdash_write;

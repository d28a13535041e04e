CREATE OR REPLACE FUNCTION public.create_app_user(
    p_username text,
    p_role text,
    p_display_name text,
    p_password_hash text
)
RETURNS integer
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_problem text := public.app_user_problem(p_username, p_role);
    v_user_id integer;
BEGIN
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%: username % role %', v_problem, quote_literal(p_username), quote_literal(p_role)
            USING ERRCODE = 'check_violation', DETAIL = v_problem;
    END IF;

    INSERT INTO public.app_users (username, role, display_name, password_hash)
    VALUES (p_username, p_role, coalesce(nullif(btrim(p_display_name), ''), p_username), p_password_hash)
    ON CONFLICT (username) DO NOTHING
    RETURNING user_id INTO v_user_id;

    IF v_user_id IS NULL THEN
        RAISE EXCEPTION 'user % already exists', quote_literal(p_username)
            USING ERRCODE = 'unique_violation', DETAIL = 'user_exists';
    END IF;
    RETURN v_user_id;
END
$$;
COMMENT ON FUNCTION public.create_app_user(text, text, text, text) IS
    'Create a dashboard account with an Argon2id hash computed by the caller; an empty display name becomes the username. Raises check_violation (DETAIL invalid_username or invalid_role) or unique_violation (DETAIL user_exists); returns user_id.';
GRANT EXECUTE ON FUNCTION public.create_app_user(text, text, text, text) TO pumpdash_maint, pumpdash_write;

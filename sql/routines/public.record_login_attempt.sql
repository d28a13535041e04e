CREATE OR REPLACE FUNCTION public.record_login_attempt(
    p_username text,
    p_password_ok boolean,
    p_max_failures integer,
    p_window interval,
    p_lockout interval,
    p_now timestamptz DEFAULT now()
)
RETURNS TABLE (
    success boolean,
    reason text,
    user_id integer,
    display_name text,
    role text,
    failed_logins integer,
    locked_until timestamptz
)
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, public
AS $$
DECLARE
    v_user public.app_users%ROWTYPE;
    v_reason text;
    v_failures integer;
BEGIN
    -- The row lock serializes concurrent attempts on one account, so two
    -- failures at once cannot both read the count below the limit.
    SELECT * INTO v_user FROM public.app_users AS u WHERE u.username = p_username FOR UPDATE;

    v_reason := CASE
        WHEN v_user.user_id IS NULL THEN 'unknown_user'
        WHEN v_user.disabled THEN 'disabled'
        WHEN v_user.locked_until > p_now THEN 'locked'
        WHEN NOT p_password_ok THEN 'bad_password'
        ELSE 'ok'
    END;

    INSERT INTO public.login_events (username, success, reason, at)
    VALUES (left(p_username, 128), v_reason = 'ok', v_reason, p_now);

    IF v_reason = 'ok' THEN
        UPDATE public.app_users AS u
        SET failed_logins = 0, locked_until = NULL, last_login_at = p_now
        WHERE u.user_id = v_user.user_id
        RETURNING * INTO v_user;
        RETURN QUERY SELECT true, v_reason, v_user.user_id, v_user.display_name, v_user.role, 0, NULL::timestamptz;
        RETURN;
    END IF;

    IF v_reason = 'bad_password' THEN
        -- Failures count inside the window, and only after the last success,
        -- the end of the last lockout and the last password change. Each of
        -- those starts a fresh count.
        SELECT count(*) INTO v_failures
        FROM public.login_events AS e
        WHERE e.username = p_username AND e.reason = 'bad_password' AND e.at <= p_now
          AND e.at > greatest(p_now - p_window, v_user.last_login_at, v_user.locked_until, v_user.password_changed_at);

        UPDATE public.app_users AS u
        SET failed_logins = v_failures,
            locked_until = CASE WHEN v_failures >= p_max_failures THEN p_now + p_lockout ELSE u.locked_until END
        WHERE u.user_id = v_user.user_id
        RETURNING * INTO v_user;
    END IF;

    -- A failed attempt returns no account details, only the lockout state.
    RETURN QUERY SELECT false, v_reason, NULL::integer, NULL::text, NULL::text, v_user.failed_logins,
        CASE WHEN v_user.locked_until > p_now THEN v_user.locked_until END;
END
$$;
COMMENT ON FUNCTION public.record_login_attempt(text, boolean, integer, interval, interval, timestamptz) IS
    'Decide and log one login attempt after the application verified the password (p_password_ok). reason is ok, unknown_user, disabled, locked or bad_password; p_max_failures bad passwords within p_window lock the account for p_lockout. Returns the account on success, else failed_logins and locked_until (NULL when not locked).';
GRANT EXECUTE ON FUNCTION public.record_login_attempt(text, boolean, integer, interval, interval, timestamptz) TO pumpdash_write;

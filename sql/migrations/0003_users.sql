-- Dashboard user accounts and an append-only log of login attempts.
-- Passwords are hashed in Python (Argon2id); the database stores only the
-- PHC string and never sees a password.

-- The rules for a username and a role, stated once: the table's CHECK uses
-- this function, and the CLI calls it before prompting for a password so a
-- wrong name fails before any typing.
CREATE FUNCTION public.app_user_problem(p_username text, p_role text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $$
    SELECT CASE
        WHEN p_username IS NULL OR p_username !~ '^[a-z0-9._-]{3,64}$' THEN 'invalid_username'
        WHEN p_role IS NULL OR p_role NOT IN ('viewer', 'operator', 'admin') THEN 'invalid_role'
    END;
$$;
COMMENT ON FUNCTION public.app_user_problem(text, text) IS
    'NULL when p_username (3-64 lower-case letters, digits, dot, underscore or hyphen) and p_role (viewer, operator or admin) are valid, else invalid_username or invalid_role.';

CREATE TABLE public.app_users (
    user_id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username             text NOT NULL UNIQUE,
    display_name         text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    role                 text NOT NULL,
    password_hash        text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    disabled             boolean NOT NULL DEFAULT false,
    failed_logins        integer NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until         timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    last_login_at        timestamptz,
    CONSTRAINT app_users_valid CHECK (public.app_user_problem(username, role) IS NULL)
);
COMMENT ON TABLE public.app_users IS
    'Dashboard accounts: role viewer (read pages), operator (edit and import) or admin (jobs, indexes, users); password_hash is an Argon2id PHC string. failed_logins counts password failures in the current window; locked_until ends a lockout.';

CREATE TABLE public.login_events (
    event_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username  text NOT NULL,
    success   boolean NOT NULL,
    reason    text NOT NULL CHECK (reason IN ('ok', 'unknown_user', 'disabled', 'locked', 'bad_password')),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_events_username_at_idx ON public.login_events (username, at);
COMMENT ON TABLE public.login_events IS
    'Append-only log of login attempts: the username as typed (lower-cased, at most 128 characters), the outcome and its reason. Never holds a password.';

-- Append-only: UPDATE and DELETE are rejected for every role, the owner
-- included. TRUNCATE fires no such trigger, so retention can still use it.
CREATE FUNCTION public.reject_login_event_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
AS $$
BEGIN
    RAISE EXCEPTION 'public.login_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
COMMENT ON FUNCTION public.reject_login_event_change() IS
    'Trigger function that rejects UPDATE and DELETE on public.login_events.';

CREATE TRIGGER login_events_append_only
    BEFORE UPDATE OR DELETE ON public.login_events
    FOR EACH STATEMENT EXECUTE FUNCTION public.reject_login_event_change();

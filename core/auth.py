"""Dashboard accounts: Argon2id password hashing, login with lockout, account administration.

Python hashes and verifies passwords, because Argon2 runs here. The rules on
accounts live in SQL functions. `public.app_user_problem` checks usernames and
roles, and `public.record_login_attempt` decides each login and the lockout.
Passwords are never sent to the database or written to a log.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Iterator, Union

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from core.db import DatabaseError, execute_logged, function_call
from core.logs import fields
from core.settings import Settings, get_settings

log = logging.getLogger(__name__)

# In rising order of rights: each role may do everything the roles before it may.
ROLES = ("viewer", "operator", "admin")
# The minimum role that may open each dashboard page. A page not listed is rejected for every role.
PAGE_MIN_ROLE = {
    "overview": "viewer",
    "metrics": "viewer",
    "measurements": "operator",
    "imports": "operator",
    "users": "admin",
}
FIRST_ADMIN = "admin"
FIRST_ADMIN_PASSWORD_BYTES = 12
PASSWORD_MIN_LENGTH = 10
# argon2-cffi's defaults are the RFC 9106 low-memory Argon2id parameters;
# raising them in a later release makes check_needs_rehash upgrade stored hashes.
HASHER = PasswordHasher()


class AuthError(Exception):
    """An account operation was rejected; `key` and `params` name the catalogue message.

    The English message is for logs and never contains a password.
    """

    def __init__(self, message: str, key: str, **params: Any):
        super().__init__(message)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class User:
    """An account that has just logged in."""

    user_id: int
    username: str
    display_name: str
    role: str


def normalize_username(username: str) -> str:
    """Usernames are stored lower-case, so `Alice ` and `alice` name the same account."""
    return username.strip().lower()


def hash_password(password: str) -> str:
    """Hash `password` with Argon2id and a random salt; returns the PHC string."""
    return HASHER.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # A hash of a random secret that is discarded at once. Unknown users are
    # verified against it, so they take as long as a wrong password for a real account.
    return hash_password(secrets.token_urlsafe(32))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches `password_hash`; a missing hash costs one verification too."""
    try:
        HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False

    return password_hash is not None


def check_password_rules(username: str, password: str) -> None:
    """Raise AuthError naming the first password rule that `password` breaks."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AuthError(f"password shorter than {PASSWORD_MIN_LENGTH} characters", "auth.error.password_too_short",
                        length=len(password), minimum=PASSWORD_MIN_LENGTH)

    if password.strip().lower() == normalize_username(username):
        raise AuthError("password equals the username", "auth.error.password_is_username", username=username)


# Account functions take a database URL (the CLI) or an open connection (the
# dashboard's write pool); a connection's work is committed before it returns.
Target = Union[str, psycopg.Connection]


@contextmanager
def _connect(target: Target) -> Iterator[psycopg.Connection]:
    if isinstance(target, str):
        with psycopg.connect(target, row_factory=dict_row) as conn:
            yield conn
        return
    yield target
    target.commit()


def _call(conn: psycopg.Connection, function: str, **params: Any) -> list[dict[str, Any]]:
    return execute_logged(conn, function, function_call(function, params), params).rows


def check_account(target: Target, username: str, role: str) -> None:
    """Raise AuthError when `username` (lower-cased) or `role` breaks the rules of public.app_user_problem.

    The message names the username as given, so the user recognizes what they typed.
    """
    with _connect(target) as conn:
        problem = _call(conn, "public.app_user_problem", p_username=normalize_username(username),
                        p_role=role)[0]["app_user_problem"]

    if problem == "invalid_username":
        raise AuthError(f"invalid username {username!r}", "auth.error.invalid_username", username=username)
    if problem == "invalid_role":
        raise AuthError(f"invalid role {role!r}", "auth.error.invalid_role", role=role, roles=", ".join(ROLES))


def add_user(target: Target, username: str, role: str, password: str, display_name: str | None = None) -> int:
    """Create an account after checking name, role and password rules; returns its user_id."""
    check_account(target, username, role)
    username = normalize_username(username)
    check_password_rules(username, password)

    password_hash = hash_password(password)
    with _connect(target) as conn:
        try:
            rows = _call(conn, "public.create_app_user", p_username=username, p_role=role,
                         p_display_name=display_name or "", p_password_hash=password_hash)
        except DatabaseError as error:
            if error.sqlstate == "23505":
                raise AuthError(f"user {username!r} already exists", "auth.error.user_exists",
                                username=username) from error
            raise

    log.info("auth.user_added", extra=fields(username=username, role=role))
    return rows[0]["create_app_user"]


def set_password(target: Target, username: str, password: str) -> None:
    """Replace the password of `username`; this also clears its failed logins and any lockout."""
    username = normalize_username(username)
    check_password_rules(username, password)

    password_hash = hash_password(password)
    with _connect(target) as conn:
        found = _call(conn, "public.set_app_user_password", p_username=username, p_password_hash=password_hash,
                      p_rehash=False)[0]["set_app_user_password"]
    if not found:
        raise AuthError(f"user {username!r} not found", "auth.error.user_not_found", username=username)
    log.info("auth.password_set", extra=fields(username=username))


def _set_disabled(target: Target, username: str, disabled: bool) -> None:
    username = normalize_username(username)
    with _connect(target) as conn:
        found = _call(conn, "public.set_app_user_disabled", p_username=username,
                      p_disabled=disabled)[0]["set_app_user_disabled"]
    if not found:
        raise AuthError(f"user {username!r} not found", "auth.error.user_not_found", username=username)
    log.info("auth.user_disabled" if disabled else "auth.user_enabled", extra=fields(username=username))


def disable_user(target: Target, username: str) -> None:
    """Disable `username`: it cannot log in until enabled again."""
    _set_disabled(target, username, True)


def enable_user(target: Target, username: str) -> None:
    """Enable `username` again; a running lockout still applies."""
    _set_disabled(target, username, False)


def set_role(target: Target, username: str, role: str) -> None:
    """Give `username` the role `role`; a signed-in session of that user follows at its next check."""
    check_account(target, username, role)
    username = normalize_username(username)
    with _connect(target) as conn:
        found = _call(conn, "public.set_app_user_role", p_username=username, p_role=role)[0]["set_app_user_role"]
    if not found:
        raise AuthError(f"user {username!r} not found", "auth.error.user_not_found", username=username)
    log.info("auth.role_set", extra=fields(username=username, role=role))


def current_account(target: Target, username: str) -> User | None:
    """Return the account `username` as it is now, or None when it is unknown or disabled."""
    with _connect(target) as conn:
        rows = _call(conn, "public.get_app_user", p_username=normalize_username(username))
    if not rows or rows[0]["disabled"]:
        return None
    row = rows[0]
    return User(row["user_id"], row["username"], row["display_name"], row["role"])


def list_users(target: Target) -> list[dict[str, Any]]:
    """Return every account with role, state and dates, without password hashes."""
    with _connect(target) as conn:
        return _call(conn, "public.list_app_users")


def authenticate(target: Target, username: str, password: str, *, settings: Settings | None = None,
                 now: datetime | None = None) -> User | None:
    """Return the User when `username` and `password` are right and the account is enabled and unlocked.

    The connection needs EXECUTE on the login functions, as the write role has.
    Every attempt is recorded in public.login_events and logged as
    `auth.login_ok` or `auth.login_failed` with the reason. `now` replaces the
    database clock, for tests of the lockout window.
    """
    settings = settings or get_settings()
    username = normalize_username(username)

    with _connect(target) as conn:
        password_hash = _call(conn, "public.get_password_hash", p_username=username)[0]["get_password_hash"]

        # Verified even for unknown, disabled or locked accounts, so the
        # response time does not tell which usernames exist.
        password_ok = verify_password(password_hash, password)

        params = {} if now is None else {"p_now": now}
        outcome = _call(conn, "public.record_login_attempt", p_username=username, p_password_ok=password_ok,
                        p_max_failures=settings.auth_max_failed_logins,
                        p_window=timedelta(minutes=settings.auth_failure_window_min),
                        p_lockout=timedelta(minutes=settings.auth_lockout_min), **params)[0]

        if outcome["success"] and HASHER.check_needs_rehash(password_hash):
            _call(conn, "public.set_app_user_password", p_username=username, p_password_hash=hash_password(password),
                  p_rehash=True)
            log.info("auth.rehashed", extra=fields(username=username))

    if not outcome["success"]:
        log.warning("auth.login_failed", extra=fields(username=username, reason=outcome["reason"],
                                                      failed_logins=outcome["failed_logins"],
                                                      locked_until=outcome["locked_until"]))
        return None

    log.info("auth.login_ok", extra=fields(username=username, role=outcome["role"]))
    return User(outcome["user_id"], username, outcome["display_name"], outcome["role"])


def may_open(role: str | None, page: str) -> bool:
    """True when an account of `role` may use dashboard page `page`; unknown pages and roles get False."""
    needed = PAGE_MIN_ROLE.get(page)
    if role not in ROLES or needed is None:
        return False
    return ROLES.index(role) >= ROLES.index(needed)


def create_first_admin(target: Target, username: str = FIRST_ADMIN) -> str | None:
    """Create account `username` with role admin and a generated password when no account exists yet.

    Return the password, which the caller shows once and does not store, or
    None when accounts exist already (also when another process created the
    first one a moment earlier).
    """
    if list_users(target):
        return None

    password = secrets.token_urlsafe(FIRST_ADMIN_PASSWORD_BYTES)
    try:
        add_user(target, username, "admin", password, display_name=username)
    except AuthError as error:
        if error.key == "auth.error.user_exists":
            return None
        raise
    log.info("auth.first_admin_created", extra=fields(username=username))
    return password

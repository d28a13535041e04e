"""Accounts: Argon2id hashes, login outcomes, lockout window, no password in storage or logs, `user` CLI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from argon2 import PasswordHasher

from core import auth
from core.auth import AuthError
from core.settings import PROJECT_ROOT, load_settings

PASSWORD = "Pumpen-Station-2024"
SETTINGS = load_settings(auth_max_failed_logins=5, auth_failure_window_min=15, auth_lockout_min=15)


def _username() -> str:
    return f"user.{uuid.uuid4().hex[:10]}"


def _login(db_url, username, password, now=None):
    return auth.authenticate(db_url, username, password, settings=SETTINGS, now=now)


def _events(db_url, username) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT success, reason FROM public.login_events WHERE username = %s ORDER BY event_id",
                            [username]).fetchall()


def _account_row(db_url, username) -> dict:
    with psycopg.connect(db_url) as conn:
        cursor = conn.execute("SELECT * FROM public.app_users WHERE username = %s", [username])
        return dict(zip([column.name for column in cursor.description], cursor.fetchone()))


@pytest.fixture
def user(db_url) -> str:
    username = _username()
    auth.add_user(db_url, username, "operator", PASSWORD, "值班员 张")
    return username


def test_hash_is_argon2id_not_password():
    hashed = auth.hash_password(PASSWORD)

    assert hashed.startswith("$argon2id$")
    assert PASSWORD not in hashed
    assert auth.hash_password(PASSWORD) != hashed


def test_stored_hash_is_argon2id(db_url, user):
    row = _account_row(db_url, user)

    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in str(row)
    assert row["role"] == "operator"
    assert row["display_name"] == "值班员 张"


def test_login_ok_returns_user(db_url, user):
    logged_in = _login(db_url, user, PASSWORD)

    assert logged_in is not None
    assert logged_in.username == user
    assert logged_in.role == "operator"
    assert logged_in.display_name == "值班员 张"
    assert _events(db_url, user) == [(True, "ok")]
    assert _account_row(db_url, user)["last_login_at"] is not None


def test_login_username_case_insensitive(db_url, user):
    assert _login(db_url, f"  {user.upper()} ", PASSWORD) is not None


def test_wrong_password_fails(db_url, user):
    assert _login(db_url, user, PASSWORD + "x") is None
    assert _events(db_url, user) == [(False, "bad_password")]
    assert _account_row(db_url, user)["failed_logins"] == 1


def test_unknown_user_fails(db_url):
    username = _username()

    assert _login(db_url, username, PASSWORD) is None
    assert _events(db_url, username) == [(False, "unknown_user")]


def test_lockout_after_five_failures(db_url, user):
    start = datetime.now(timezone.utc)
    for minute in range(5):
        assert _login(db_url, user, "wrong password", now=start + timedelta(minutes=minute)) is None

    locked = _account_row(db_url, user)
    right_password_while_locked = _login(db_url, user, PASSWORD, now=start + timedelta(minutes=10))

    assert locked["failed_logins"] == 5
    assert locked["locked_until"] == start + timedelta(minutes=4 + 15)
    assert right_password_while_locked is None
    assert _events(db_url, user)[-1] == (False, "locked")


def test_lockout_ends_after_window(db_url, user):
    start = datetime.now(timezone.utc)
    for minute in range(5):
        _login(db_url, user, "wrong password", now=start + timedelta(minutes=minute))

    after_lockout = _login(db_url, user, PASSWORD, now=start + timedelta(minutes=4 + 15, seconds=1))

    assert after_lockout is not None
    row = _account_row(db_url, user)
    assert row["failed_logins"] == 0
    assert row["locked_until"] is None


def test_failures_outside_window_do_not_lock(db_url, user):
    start = datetime.now(timezone.utc)
    for minute in range(4):
        _login(db_url, user, "wrong password", now=start + timedelta(minutes=minute))

    # The first four failures are more than 15 minutes old by now.
    _login(db_url, user, "wrong password", now=start + timedelta(minutes=20))

    row = _account_row(db_url, user)
    assert row["failed_logins"] == 1
    assert row["locked_until"] is None
    assert _login(db_url, user, PASSWORD, now=start + timedelta(minutes=21)) is not None


def test_success_resets_failure_count(db_url, user):
    start = datetime.now(timezone.utc)
    for minute in range(4):
        _login(db_url, user, "wrong password", now=start + timedelta(minutes=minute))
    _login(db_url, user, PASSWORD, now=start + timedelta(minutes=5))

    _login(db_url, user, "wrong password", now=start + timedelta(minutes=6))

    row = _account_row(db_url, user)
    assert row["failed_logins"] == 1
    assert row["locked_until"] is None


def test_new_password_clears_lockout(db_url, user):
    start = datetime.now(timezone.utc)
    for second in range(5):
        _login(db_url, user, "wrong password", now=start + timedelta(seconds=second))

    auth.set_password(db_url, user, "Neues-Passwort-99")

    assert _login(db_url, user, "Neues-Passwort-99", now=start + timedelta(seconds=10)) is not None
    assert _login(db_url, user, PASSWORD, now=start + timedelta(seconds=11)) is None


def test_disabled_user_cannot_log_in(db_url, user):
    auth.disable_user(db_url, user)
    while_disabled = _login(db_url, user, PASSWORD)
    auth.enable_user(db_url, user)
    after_enable = _login(db_url, user, PASSWORD)

    assert while_disabled is None
    assert after_enable is not None
    assert _events(db_url, user) == [(False, "disabled"), (True, "ok")]


def test_disabled_attempts_do_not_count(db_url, user):
    auth.disable_user(db_url, user)
    for _ in range(6):
        _login(db_url, user, "wrong password")
    auth.enable_user(db_url, user)

    assert _account_row(db_url, user)["failed_logins"] == 0
    assert _login(db_url, user, PASSWORD) is not None


def test_weak_hash_rehashed_on_login(db_url, user):
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE public.app_users SET password_hash = %s WHERE username = %s", [weak, user])
    changed_at = _account_row(db_url, user)["password_changed_at"]

    assert _login(db_url, user, PASSWORD) is not None

    row = _account_row(db_url, user)
    assert row["password_hash"] != weak
    assert not auth.HASHER.check_needs_rehash(row["password_hash"])
    assert row["password_changed_at"] == changed_at


def test_password_never_stored_or_logged(db_url, caplog):
    username = _username()
    secret_right, secret_wrong = "Geheim-Richtig-123", "Geheim-Falsch-456"
    caplog.set_level(logging.DEBUG)

    auth.add_user(db_url, username, "viewer", secret_right)
    _login(db_url, username, secret_right)
    _login(db_url, username, secret_wrong)
    _login(db_url, _username(), secret_wrong)

    with psycopg.connect(db_url) as conn:
        stored = str(conn.execute("SELECT * FROM public.login_events").fetchall())
        stored += str(conn.execute("SELECT * FROM public.app_users").fetchall())
    logged = caplog.text + "".join(repr(record.__dict__) for record in caplog.records)
    events = [record.getMessage() for record in caplog.records if record.name == "core.auth"]

    assert secret_right not in stored
    assert secret_wrong not in stored
    assert secret_right not in logged
    assert secret_wrong not in logged
    assert events.count("auth.login_ok") == 1
    assert events.count("auth.login_failed") == 2


def test_login_failed_log_names_user_and_reason(db_url, user, caplog):
    caplog.set_level(logging.INFO, logger="core.auth")

    _login(db_url, user, "wrong password")

    failed = [record for record in caplog.records if record.getMessage() == "auth.login_failed"]
    assert len(failed) == 1
    assert failed[0].event_fields["username"] == user
    assert failed[0].event_fields["reason"] == "bad_password"


def test_short_password_rejected(db_url):
    with pytest.raises(AuthError) as raised:
        auth.add_user(db_url, _username(), "viewer", "kurz")

    assert raised.value.key == "auth.error.password_too_short"
    assert raised.value.params == {"length": 4, "minimum": 10}


def test_password_equal_to_username_rejected(db_url):
    username = _username()

    with pytest.raises(AuthError) as raised:
        auth.add_user(db_url, username, "viewer", username.upper())

    assert raised.value.key == "auth.error.password_is_username"


@pytest.mark.parametrize("username", ["ab", "bad name", "张三", "x" * 65, "a/b"])
def test_invalid_username_rejected(db_url, username):
    with pytest.raises(AuthError) as raised:
        auth.add_user(db_url, username, "viewer", PASSWORD)

    assert raised.value.key == "auth.error.invalid_username"
    assert raised.value.params["username"] == username


def test_invalid_role_rejected(db_url):
    with pytest.raises(AuthError) as raised:
        auth.add_user(db_url, _username(), "boss", PASSWORD)

    assert raised.value.key == "auth.error.invalid_role"
    assert raised.value.params["role"] == "boss"


def test_duplicate_user_rejected(db_url, user):
    with pytest.raises(AuthError) as raised:
        auth.add_user(db_url, user, "viewer", PASSWORD)

    assert raised.value.key == "auth.error.user_exists"


def test_unknown_user_commands_rejected(db_url):
    username = _username()

    for action in (lambda: auth.disable_user(db_url, username), lambda: auth.set_password(db_url, username, PASSWORD)):
        with pytest.raises(AuthError) as raised:
            action()
        assert raised.value.key == "auth.error.user_not_found"


def test_login_events_append_only(db_url, user):
    _login(db_url, user, PASSWORD)

    with psycopg.connect(db_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM public.login_events WHERE username = %s", [user])


def _cli(db_url, tmp_path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUMPDASH_")}
    env.update({"DATABASE_URL": db_url, "PUMPDASH_DATA_DIR": str(tmp_path), "PUMPDASH_LANGUAGE": "zh-CN"})
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=PROJECT_ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_cli_add_then_list(db_url, tmp_path):
    username = _username()

    added = _cli(db_url, tmp_path, "user", "add", username, "--role", "admin", "--display-name", "站长",
                 "--password-stdin", stdin=PASSWORD + "\n")
    listed = _cli(db_url, tmp_path, "user", "list")
    listed_en = _cli(db_url, tmp_path, "--lang", "en", "user", "list")

    assert added.returncode == 0, added.stderr
    assert username in added.stdout
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if username in line)
    assert "管理员" in row
    assert "站长" in row
    assert "正常" in row
    assert "active" in next(line for line in listed_en.stdout.splitlines() if username in line)
    assert PASSWORD not in added.stdout + added.stderr + listed.stdout
    assert auth.authenticate(db_url, username, PASSWORD, settings=SETTINGS).role == "admin"


def test_cli_passwd_disable_enable(db_url, tmp_path, user):
    changed = _cli(db_url, tmp_path, "user", "passwd", user, "--password-stdin", stdin="Ganz-Neues-Wort-7\n")
    disabled = _cli(db_url, tmp_path, "user", "disable", user)
    listed = _cli(db_url, tmp_path, "user", "list")
    enabled = _cli(db_url, tmp_path, "user", "enable", user)

    assert changed.returncode == 0, changed.stderr
    assert disabled.returncode == 0, disabled.stderr
    assert "已停用" in next(line for line in listed.stdout.splitlines() if user in line)
    assert enabled.returncode == 0, enabled.stderr
    assert _login(db_url, user, "Ganz-Neues-Wort-7") is not None


@pytest.mark.parametrize(("args", "stdin", "expected"), [
    (("user", "add", "Bad Name!", "--role", "viewer"), PASSWORD, "Bad Name!"),
    (("user", "add", "good.name", "--role", "boss"), PASSWORD, "boss"),
    (("user", "add", "good.name", "--role", "viewer"), "short", "10"),
])
def test_cli_rejects_invalid_input(db_url, tmp_path, args, stdin, expected):
    result = _cli(db_url, tmp_path, *args, "--password-stdin", stdin=stdin + "\n")

    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert "good.name" not in {row["username"] for row in auth.list_users(db_url)}


def test_cli_invalid_role_in_english(db_url, tmp_path):
    result = _cli(db_url, tmp_path, "--lang", "en", "user", "add", _username(), "--role", "boss", "--password-stdin",
                  stdin=PASSWORD + "\n")

    assert result.returncode == 1
    assert "Invalid role boss" in result.stderr
    assert "viewer, operator, admin" in result.stderr


def test_cli_unknown_user_named(db_url, tmp_path):
    result = _cli(db_url, tmp_path, "user", "disable", "nobody.here")

    assert result.returncode == 1
    assert "找不到用户 nobody.here" in result.stderr

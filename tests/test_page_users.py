"""Admins' accounts page and the signed-in session following account changes, through AppTest."""

from __future__ import annotations

import secrets

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.i18n import t
from dashboard import session
from tests.pagetools import RUN_TIMEOUT_S, sign_in, signed_in_app

USERS_PAGE = "../pages/users.py"
PASSWORD = "Pumpen-Haus-2024"
ADMIN = "admin-users-page"


@pytest.fixture
def accounts(app_database) -> str:
    """The admin who uses the page, and a fresh operator to change; returns the operator's name."""
    if ADMIN not in {user["username"] for user in auth.list_users(app_database)}:
        auth.add_user(app_database, ADMIN, "admin", PASSWORD, display_name="管理员甲")
    username = f"op-{secrets.token_hex(4)}"
    auth.add_user(app_database, username, "operator", PASSWORD)
    return username


def account(db_url: str, username: str) -> dict:
    return next(user for user in auth.list_users(db_url) if user["username"] == username)


def open_users(lang: str = "zh-CN") -> AppTest:
    at = sign_in(AppTest.from_file(USERS_PAGE, default_timeout=RUN_TIMEOUT_S), "admin", ADMIN)
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def click(at: AppTest, label: str) -> AppTest:
    next(button for button in at.button if button.label == label).click().run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def fill_new_account(at: AppTest, username: str, password: str, repeat: str | None = None,
                     role: str = "viewer") -> AppTest:
    at.text_input[0].input(username)
    at.text_input[1].input("新同事")
    at.selectbox[0].set_value(role)
    at.text_input[2].input(password)
    at.text_input[3].input(password if repeat is None else repeat)
    return click(at, t("users.add", "zh-CN"))


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_table_lists_accounts(app_database, accounts, lang):
    at = open_users(lang)
    table = at.dataframe[0].value

    assert at.title[0].value == t("users.title", lang)
    row = table[table[t("users.col.username", lang)] == accounts].iloc[0]
    assert row[t("users.col.role", lang)] == t("auth.role.operator", lang)
    assert row[t("users.col.state", lang)] == t("users.state.active", lang)
    assert row[t("users.col.last_login", lang)] == t("users.never", lang)


def test_add_account(app_database, accounts):
    username = f"new-{secrets.token_hex(3)}"
    at = fill_new_account(open_users(), username.upper(), "Neues-Passwort-1", role="operator")

    assert [s.value for s in at.success] == [t("users.added", "zh-CN", username=username, role="操作员")]
    assert account(app_database, username)["role"] == "operator"
    assert auth.authenticate(app_database, username, "Neues-Passwort-1").display_name == "新同事"


@pytest.mark.parametrize("username, password, repeat, key, params", [
    ("ok-name", "kurz", None, "auth.error.password_too_short", {"length": 4, "minimum": 10}),
    ("Bad Name!", "Neues-Passwort-1", None, "auth.error.invalid_username", {"username": "Bad Name!"}),
    ("ok-name", "Neues-Passwort-1", "Neues-Passwort-2", "users.password_mismatch", {}),
])
def test_add_account_refused(app_database, accounts, username, password, repeat, key, params):
    at = fill_new_account(open_users(), username, password, repeat)

    assert [e.value for e in at.error] == [t(key, "zh-CN", **params)]
    assert "ok-name" not in {user["username"] for user in auth.list_users(app_database)}


def test_existing_username_refused(app_database, accounts):
    at = fill_new_account(open_users(), accounts, "Neues-Passwort-1")

    assert [e.value for e in at.error] == [t("users.user_exists", "zh-CN", username=accounts)]


def test_change_role_disable_and_password(app_database, accounts):
    at = open_users()
    at.selectbox(key="users_edit_user").set_value(accounts).run()
    at.selectbox(key=f"users_role_{accounts}").set_value("viewer").run()
    at = click(at, t("users.save_role", "zh-CN"))
    assert account(app_database, accounts)["role"] == "viewer"

    at = click(at, t("users.disable", "zh-CN"))
    assert account(app_database, accounts)["disabled"] is True
    at = click(at, t("users.enable", "zh-CN"))
    assert account(app_database, accounts)["disabled"] is False

    form_inputs = [field for field in at.text_input if field.label == t("users.new_password", "zh-CN",
                                                                         username=accounts)]
    form_inputs[0].input("Ganz-Neues-Wort-7")
    at.text_input[-1].input("Ganz-Neues-Wort-7")
    at = click(at, t("users.set_password", "zh-CN"))
    assert [s.value for s in at.success] == [t("users.password_set", "zh-CN", username=accounts)]
    assert auth.authenticate(app_database, accounts, "Ganz-Neues-Wort-7") is not None


def test_own_account_cannot_be_disabled(app_database, accounts):
    at = open_users()
    at.selectbox(key="users_edit_user").set_value(ADMIN).run()

    assert [i.value for i in at.info] == [t("users.own_account", "zh-CN")]
    assert next(b for b in at.button if b.label == t("users.disable", "zh-CN")).disabled
    assert at.selectbox(key=f"users_role_{ADMIN}").disabled


def test_operator_refused(app_database):
    at = sign_in(AppTest.from_file(USERS_PAGE, default_timeout=RUN_TIMEOUT_S), "operator")
    at.run()

    assert [e.value for e in at.error] == [t("auth.page_refused", "zh-CN", role="操作员", page="账号管理")]
    assert not at.dataframe


def test_disabled_account_is_signed_out(app_database, accounts):
    """A session notices at its next account check that its account was disabled."""
    at = signed_in_app("operator")
    at.session_state[session.USER_KEY] = auth.User(0, accounts, accounts, "operator")
    at.run()
    auth.disable_user(app_database, accounts)
    at.session_state[session.CHECKED_KEY] = 0.0
    at.run()

    assert session.USER_KEY not in at.session_state
    assert [w.value for w in at.warning] == [t("auth.login.disabled", "zh-CN")]


def test_role_change_reaches_session(app_database, accounts):
    at = signed_in_app("operator")
    at.session_state[session.USER_KEY] = auth.User(0, accounts, accounts, "operator")
    at.session_state[session.CHECKED_KEY] = 0.0
    auth.set_role(app_database, accounts, "viewer")
    at.run()

    assert at.session_state[session.USER_KEY].role == "viewer"

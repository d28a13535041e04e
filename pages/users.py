"""Accounts page for admins: list accounts, add one, change a role, disable or enable, set a new password.

The rules (usernames, roles, password length, hashing) are core.auth's and
the database's; this page collects input and shows their verdicts in the
user's language.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd
import streamlit as st

from core import auth
from core.auth import AuthError
from core.i18n import t
from dashboard import session, ui

ADD_FORM_KEY = "users_add"
EDIT_USER_KEY = "users_edit_user"
FLASH_KEY = "users_flash"
ADD_FIELD_KEYS = ("users_add_username", "users_add_display_name", "users_add_password", "users_add_repeat")
# Core messages that advise a CLI command get the page's own wording here.
PAGE_MESSAGES = {"auth.error.user_exists": "users.user_exists", "auth.error.user_not_found": "users.user_not_found"}


def load_accounts(lang: str) -> list[dict]:
    try:
        with ui.get_database().connection(write=True) as conn:
            return auth.list_users(conn)
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)


def state_label(account: dict, lang: str) -> str:
    if account["disabled"]:
        return t("users.state.disabled", lang)
    if account["locked_until"] is not None:
        until = ui.format_local(pd.Timestamp(account["locked_until"]), ui.display_timezone())
        return t("users.state.locked", lang, until=until)
    return t("users.state.active", lang)


def render_table(accounts: list[dict], lang: str) -> None:
    zone = ui.display_timezone()
    table = pd.DataFrame({
        t("users.col.username", lang): [a["username"] for a in accounts],
        t("users.col.display_name", lang): [a["display_name"] for a in accounts],
        t("users.col.role", lang): [session.role_label(a["role"], lang) for a in accounts],
        t("users.col.state", lang): [state_label(a, lang) for a in accounts],
        t("users.col.last_login", lang): [ui.format_local(a["last_login_at"] and pd.Timestamp(a["last_login_at"]),
                                                          zone, t("users.never", lang)) for a in accounts],
        t("users.col.created", lang): [ui.format_local(pd.Timestamp(a["created_at"]), zone) for a in accounts],
    })
    st.caption(t("users.times_in", lang, timezone=zone))
    st.dataframe(table, hide_index=True, width="stretch")


def run_action(action: Callable[[object], None], success: str, lang: str, clear_keys: tuple[str, ...] = ()) -> None:
    """Run one account change on a write connection; show the rejection, or keep `success` for the rerun's toast.

    After a success the inputs named in `clear_keys` start empty again.
    """
    try:
        with ui.get_database().connection(write=True) as conn:
            action(conn)
    except AuthError as error:
        st.error(t(PAGE_MESSAGES.get(error.key, error.key), lang, **error.params))
        return
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)
    for key in clear_keys:
        st.session_state.pop(key, None)
    st.session_state[FLASH_KEY] = success
    st.rerun()


def passwords_match(first: str, second: str, lang: str) -> bool:
    if first != second:
        st.error(t("users.password_mismatch", lang))
        return False
    return True


def render_add(lang: str) -> None:
    with st.form(ADD_FORM_KEY, clear_on_submit=False):
        columns = st.columns(3)
        username = columns[0].text_input(t("users.col.username", lang), max_chars=64, key=ADD_FIELD_KEYS[0],
                                         help=t("users.username_help", lang))
        display_name = columns[1].text_input(t("users.col.display_name", lang), max_chars=200, key=ADD_FIELD_KEYS[1])
        role = columns[2].selectbox(t("users.col.role", lang), auth.ROLES, index=0,
                                    format_func=lambda code: session.role_label(code, lang))
        password = st.text_input(t("users.password", lang), type="password", max_chars=256, key=ADD_FIELD_KEYS[2],
                                 help=t("users.password_help", lang, minimum=auth.PASSWORD_MIN_LENGTH))
        repeat = st.text_input(t("users.password_repeat", lang), type="password", max_chars=256, key=ADD_FIELD_KEYS[3])
        submitted = st.form_submit_button(t("users.add", lang), type="primary")

    if submitted and passwords_match(password, repeat, lang):
        run_action(lambda conn: auth.add_user(conn, username, role, password, display_name.strip() or None),
                   t("users.added", lang, username=auth.normalize_username(username),
                     role=session.role_label(role, lang)), lang, clear_keys=ADD_FIELD_KEYS)


def render_edit(accounts: list[dict], me: auth.User, lang: str) -> None:
    names = [a["username"] for a in accounts]
    username = st.selectbox(t("users.edit_user", lang), names, key=EDIT_USER_KEY)
    account = next(a for a in accounts if a["username"] == username)
    is_me = username == me.username
    if is_me:
        st.info(t("users.own_account", lang))

    columns = st.columns(2)
    with columns[0]:
        role = st.selectbox(t("users.col.role", lang), auth.ROLES, index=auth.ROLES.index(account["role"]),
                            key=f"users_role_{username}", format_func=lambda code: session.role_label(code, lang),
                            disabled=is_me)
        if st.button(t("users.save_role", lang), disabled=is_me or role == account["role"]):
            run_action(lambda conn: auth.set_role(conn, username, role),
                       t("users.role_saved", lang, username=username, role=session.role_label(role, lang)), lang)
    with columns[1]:
        if account["disabled"]:
            if st.button(t("users.enable", lang)):
                run_action(lambda conn: auth.enable_user(conn, username), t("users.enabled", lang, username=username),
                           lang)
        elif st.button(t("users.disable", lang), disabled=is_me):
            run_action(lambda conn: auth.disable_user(conn, username), t("users.disabled", lang, username=username),
                       lang)

    with st.form(f"users_password_{username}"):
        password = st.text_input(t("users.new_password", lang, username=username), type="password", max_chars=256,
                                 help=t("users.password_help", lang, minimum=auth.PASSWORD_MIN_LENGTH))
        repeat = st.text_input(t("users.password_repeat", lang), type="password", max_chars=256)
        submitted = st.form_submit_button(t("users.set_password", lang))
    if submitted and passwords_match(password, repeat, lang):
        run_action(lambda conn: auth.set_password(conn, username, password),
                   t("users.password_set", lang, username=username), lang)


def render() -> None:
    lang = ui.language()
    me = session.require_page("users", lang)
    st.title(t("users.title", lang))
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.toast(message, icon=ui.SUCCESS_ICON)
        st.success(message)

    accounts = load_accounts(lang)
    render_table(accounts, lang)
    add, edit = st.tabs([t("users.tab_add", lang), t("users.tab_edit", lang)])
    with add:
        render_add(lang)
    with edit:
        render_edit(accounts, me, lang)


render()

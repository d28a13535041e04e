"""Signed-in user of this Streamlit session: login, logout, idle timeout and page access.

The account rules (passwords, lockout, which role may open which page) live
in core.auth and the database. This module keeps the signed-in user in
Session State and draws the login form and the sidebar's account box.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import streamlit as st

from core import auth
from core.i18n import t
from core.logs import fields
from core.settings import load_settings
from dashboard import ui

log = logging.getLogger(__name__)

USER_KEY = "auth_user"
LAST_ACTIVITY_KEY = "auth_last_activity_s"
CHECKED_KEY = "auth_checked_s"
# How often a session reads its account again, so a changed role or a
# disabled account takes effect within this many seconds, not at next login.
ACCOUNT_CHECK_INTERVAL_S = 30
SIGNED_OUT_REASON_KEY = "auth_signed_out_reason"
LINK_CHECKED_KEY = "auth_link_checked"
LOGIN_FORM_KEY = "login_form"
USERNAME_KEY = "login_username"
PASSWORD_KEY = "login_password"
# Page name (also its file under pages/ and its URL path), in menu order.
PAGES = ("overview", "metrics", "measurements", "imports", "users")


def idle_timeout_s() -> int:
    return load_settings().auth_idle_timeout_min * 60


def sign_in(user: auth.User) -> None:
    st.session_state[USER_KEY] = user
    st.session_state[LAST_ACTIVITY_KEY] = time.monotonic()
    st.session_state[CHECKED_KEY] = time.monotonic()
    st.session_state.pop(SIGNED_OUT_REASON_KEY, None)


def sign_out(reason: str) -> None:
    """Forget the signed-in user; `reason` (logout, idle) picks the note the login form shows."""
    user = st.session_state.pop(USER_KEY, None)
    st.session_state.pop(LAST_ACTIVITY_KEY, None)
    st.session_state.pop(CHECKED_KEY, None)
    st.session_state[SIGNED_OUT_REASON_KEY] = reason
    if user is not None:
        log.info("auth.signed_out", extra=fields(username=user.username, reason=reason))


def current_user() -> auth.User | None:
    """Return the signed-in user, or None; a session idle for longer than the timeout is signed out first.

    Every script run is a click or an input, so each call also marks the
    session as active.
    """
    user = st.session_state.get(USER_KEY)
    if user is None:
        return None

    idle_s = time.monotonic() - st.session_state.get(LAST_ACTIVITY_KEY, 0.0)
    if idle_s > idle_timeout_s():
        sign_out("idle")
        return None

    st.session_state[LAST_ACTIVITY_KEY] = time.monotonic()
    return refreshed(user)


def refreshed(user: auth.User) -> auth.User | None:
    """Return the signed-in user with the account's current role, or sign out when the account was disabled or removed."""
    if time.monotonic() - st.session_state.get(CHECKED_KEY, 0.0) < ACCOUNT_CHECK_INTERVAL_S:
        return user

    try:
        with ui.get_database().connection(write=True) as conn:
            account = auth.current_account(conn, user.username)
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        # The pages show the database problem themselves; the session stays.
        log.warning("auth.account_check_failed", extra=fields(username=user.username, error=str(error)[:200]))
        return user

    st.session_state[CHECKED_KEY] = time.monotonic()
    if account is None:
        sign_out("disabled")
        return None
    if account.role != user.role:
        log.info("auth.role_changed", extra=fields(username=user.username, old=user.role, new=account.role))
    st.session_state[USER_KEY] = account
    return account


def pages_for(role: str) -> tuple[str, ...]:
    """Return the pages an account of `role` may use, in menu order."""
    return tuple(name for name in PAGES if auth.may_open(role, name))


def role_label(role: str, lang: str) -> str:
    return t(f"auth.role.{role}", lang)


def require_page(page: str, lang: str) -> auth.User:
    """Return the signed-in user when their role may open `page`; otherwise show why and stop the run.

    Navigation already hides such pages, so this rejects a page reached
    another way, such as a stale link or a switch_page call.
    """
    user = current_user()
    if user is None:
        st.warning(t("auth.sign_in_first", lang))
        st.stop()
    if not auth.may_open(user.role, page):
        log.warning("auth.page_refused", extra=fields(username=user.username, role=user.role, page=page))
        st.error(t("auth.page_refused", lang, role=role_label(user.role, lang), page=t(f"nav.{page}", lang)))
        st.stop()
    return user


def _try_sign_in(username: str, password: str, lang: str) -> None:
    # The note about the last logout no longer applies once the user tries again.
    st.session_state.pop(SIGNED_OUT_REASON_KEY, None)
    if not username.strip() or not password:
        st.error(t("auth.login.missing", lang))
        return

    try:
        with ui.get_database().connection(write=True) as conn:
            user = auth.authenticate(conn, username, password, settings=load_settings())
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)

    if user is None:
        settings = load_settings()
        st.error(t("auth.login.failed", lang, username=username.strip(), attempts=settings.auth_max_failed_logins,
                   window_min=settings.auth_failure_window_min, lockout_min=settings.auth_lockout_min))
        return

    sign_in(user)
    st.rerun()


def render_login(lang: str) -> None:
    """Draw the login form; a right username and password sign the session in and rerun the page."""
    st.title(t("auth.login.title", lang))
    reason = st.session_state.get(SIGNED_OUT_REASON_KEY)
    if reason == "idle":
        st.info(t("auth.login.idle", lang, minutes=idle_timeout_s() // 60))
    elif reason == "logout":
        st.info(t("auth.login.signed_out", lang))
    elif reason == "disabled":
        st.warning(t("auth.login.disabled", lang))

    with st.form(LOGIN_FORM_KEY):
        username = st.text_input(t("auth.login.username", lang), key=USERNAME_KEY, max_chars=64)
        password = st.text_input(t("auth.login.password", lang), key=PASSWORD_KEY, type="password", max_chars=256)
        submitted = st.form_submit_button(t("auth.login.submit", lang), type="primary")
    st.caption(t("auth.login.help", lang))

    if submitted:
        _try_sign_in(username, password, lang)


def warn_about_linked_page(user: auth.User, lang: str) -> None:
    """Say so once when the link that opened this session names a page the user's role may not use.

    Navigation then shows the default page instead, which would otherwise
    look as if the link were wrong.
    """
    if st.session_state.get(LINK_CHECKED_KEY):
        return
    st.session_state[LINK_CHECKED_KEY] = True

    url = st.context.url or ""
    requested = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    if requested in PAGES and not auth.may_open(user.role, requested):
        log.warning("auth.page_refused", extra=fields(username=user.username, role=user.role, page=requested))
        st.warning(t("auth.page_refused", lang, role=role_label(user.role, lang), page=t(f"nav.{requested}", lang)))


def render_account_box(user: auth.User, lang: str) -> None:
    """Show who is signed in, with which role, and a logout button in the sidebar."""
    name = user.display_name or user.username
    st.sidebar.caption(t("auth.signed_in_as", lang, name=name, username=user.username,
                         role=role_label(user.role, lang)))
    if st.sidebar.button(t("auth.logout", lang), key="auth_logout"):
        sign_out("logout")
        st.rerun()

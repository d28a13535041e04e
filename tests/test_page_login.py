"""Login form, role gating and the idle timeout, through AppTest against the real database."""

from __future__ import annotations

import secrets
import time

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.i18n import t
from dashboard import session, ui
from tests.pagetools import APP_FILE, RUN_TIMEOUT_S, sign_in, signed_in_app

PASSWORD = "Pumpen-Haus-2024"
MEASUREMENTS_PAGE = "../pages/measurements.py"


@pytest.fixture
def app_env(app_database):
    return app_database


@pytest.fixture
def operator(db_url) -> str:
    username = f"op-{secrets.token_hex(4)}"
    auth.add_user(db_url, username, "operator", PASSWORD, display_name="值班员甲")
    return username


def open_app(**query_params) -> AppTest:
    at = AppTest.from_file(APP_FILE, default_timeout=RUN_TIMEOUT_S)
    at.query_params.update(query_params)
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def log_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key=session.USERNAME_KEY).input(username)
    at.text_input(key=session.PASSWORD_KEY).input(password)
    at.button[0].click().run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_login_form_first(app_env, lang):
    """Without a login only the form is shown, in the chosen language; no page content is drawn."""
    at = open_app(lang=lang)

    assert [title.value for title in at.title] == [t("auth.login.title", lang)]
    assert [field.label for field in at.text_input] == [t("auth.login.username", lang), t("auth.login.password", lang)]
    assert not at.get("plotly_chart")
    assert not at.metric


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_wrong_password_names_username(app_env, operator, lang):
    at = log_in(open_app(lang=lang), operator, "not-the-password")

    assert [error.value for error in at.error] == [
        t("auth.login.failed", lang, username=operator, attempts=5, window_min=15, lockout_min=15)]
    assert session.USER_KEY not in at.session_state
    assert [title.value for title in at.title] == [t("auth.login.title", lang)]


def test_empty_login_asks_for_both(app_env):
    at = log_in(open_app(), "  ", "")

    assert [error.value for error in at.error] == [t("auth.login.missing", "zh-CN")]


def test_login_opens_overview_and_shows_account(app_env, operator):
    at = log_in(open_app(), operator.upper(), PASSWORD)

    user = at.session_state[session.USER_KEY]
    assert (user.username, user.role, user.display_name) == (operator, "operator", "值班员甲")
    assert at.title[0].value == t("overview.title", "zh-CN")
    assert at.sidebar.caption[0].value == t("auth.signed_in_as", "zh-CN", name="值班员甲", username=operator,
                                            role="操作员")


def test_logout_returns_to_login(app_env):
    at = signed_in_app("viewer")
    at.run()
    at.sidebar.button(key="auth_logout").click().run()

    assert session.USER_KEY not in at.session_state
    assert [info.value for info in at.info] == [t("auth.login.signed_out", "zh-CN")]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_idle_session_signs_out(app_env, lang):
    at = signed_in_app("operator", lang=lang)
    at.session_state[session.LAST_ACTIVITY_KEY] = time.monotonic() - 31 * 60
    at.run()

    assert session.USER_KEY not in at.session_state
    assert [info.value for info in at.info] == [t("auth.login.idle", lang, minutes=30)]
    assert [title.value for title in at.title] == [t("auth.login.title", lang)]


def test_active_session_stays(app_env):
    at = signed_in_app("viewer")
    at.session_state[session.LAST_ACTIVITY_KEY] = time.monotonic() - 29 * 60
    at.run()

    assert at.title[0].value == t("overview.title", "zh-CN")


def test_menu_per_role():
    """Viewers see no corrections or import page; operators do; only admins see the accounts page."""
    assert session.pages_for("viewer") == ("overview", "metrics")
    assert session.pages_for("operator") == ("overview", "metrics", "measurements", "imports")
    assert session.pages_for("admin") == ("overview", "metrics", "measurements", "imports", "users")
    assert session.pages_for("guest") == ()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_viewer_refused_on_measurements(app_env, lang):
    """The menu has no corrections page for a viewer, and the page refuses a viewer who runs it anyway."""
    at = signed_in_app("viewer", lang=lang)
    at.run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(MEASUREMENTS_PAGE)

    at = sign_in(AppTest.from_file(MEASUREMENTS_PAGE, default_timeout=RUN_TIMEOUT_S), "viewer")
    at.query_params["lang"] = lang
    at.run()

    assert [error.value for error in at.error] == [
        t("auth.page_refused", lang, role=t("auth.role.viewer", lang), page=t("nav.measurements", lang))]
    assert not at.get("form")
    assert not at.title


def test_page_access_rules():
    assert auth.may_open("viewer", "metrics")
    assert not auth.may_open("viewer", "measurements")
    assert auth.may_open("operator", "measurements")
    assert auth.may_open("admin", "measurements")
    assert not auth.may_open("operator", "users")
    assert auth.may_open("admin", "users")
    assert not auth.may_open("superuser", "overview")
    assert not auth.may_open("admin", "no-such-page")
    assert not auth.may_open(None, "overview")


def test_first_admin_created_once(tmp_path):
    """On a database without accounts the first call creates admin and returns its password; the next returns None."""
    from core.migrate import migrate
    from core.pgserver import EmbeddedServer
    from tests.conftest import free_port

    server = EmbeddedServer(pgdata=tmp_path / "pg", port=free_port(), database="first_admin")
    server.start()
    try:
        url = server.url()
        migrate(url)
        password = auth.create_first_admin(url)
        again = auth.create_first_admin(url)
        user = auth.authenticate(url, "admin", password)
    finally:
        server.stop()

    assert again is None
    assert len(password) == 16
    assert (user.username, user.role) == ("admin", "admin")

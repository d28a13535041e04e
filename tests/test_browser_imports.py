"""Import page in headless Chromium: an operator uploads the real C-Town export, checks it, imports it."""

from __future__ import annotations

import psycopg
import pytest
from playwright.sync_api import Page, expect

from core import auth
from core.i18n import t
from tests.browsertools import PASSWORD, UI_TIMEOUT_MS, log_in, streamlit_server, wait_idle
from tests.conftest import app_role_env
from tests.dbtools import module_database
from tests.importtools import station_readings

pytestmark = pytest.mark.browser

DATABASE = "pumpdash_browser_imports"
OPERATOR = "op-import"
CTOWN_FILE = "batadal-ctown-2014.csv"
CTOWN_READINGS = 385_484  # 8,761 hourly lines of 44 mapped columns, no empty cell
JOB_TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def imports_db_url(pg_server, db_url) -> str:
    url = module_database(pg_server, db_url, DATABASE)
    if OPERATOR not in {user["username"] for user in auth.list_users(url)}:
        auth.add_user(url, OPERATOR, "operator", PASSWORD)
    return url


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("streamlit-imports-data")


@pytest.fixture(scope="module")
def app_url(imports_db_url, app_role_urls, artifacts_dir, data_dir) -> str:
    env = {"DATABASE_URL": imports_db_url, **app_role_env(app_role_urls, imports_db_url),
           "PUMPDASH_DATA_DIR": str(data_dir)}
    with streamlit_server(env, artifacts_dir / "streamlit-imports-test.log") as url:
        yield url


def stored_readings(url: str) -> int:
    with psycopg.connect(url) as conn:
        return station_readings(conn, "batadal-ctown")


def metric(page: Page, key: str, lang: str) -> str:
    card = page.get_by_test_id("stMetric").filter(has=page.get_by_text(t(key, lang), exact=True))
    return card.get_by_test_id("stMetricValue").inner_text()


def test_operator_checks_and_imports_real_export(page: Page, app_url, imports_db_url, shared_data, data_dir):
    lang = "zh-CN"
    page.goto(f"{app_url}/imports?lang={lang}")
    log_in(page, OPERATOR, lang=lang)
    expect(page.get_by_role("heading", name=t("imports.title", lang))).to_be_visible(timeout=UI_TIMEOUT_MS)

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(shared_data / CTOWN_FILE))
    expect(page.get_by_text(t("imports.check_first", lang))).to_be_visible(timeout=UI_TIMEOUT_MS)
    wait_idle(page)
    expect(page.get_by_role("combobox", name=t("imports.profile", lang))).to_have_value("batadal-ctown")

    page.get_by_role("button", name=t("imports.check", lang)).click()
    expect(page.get_by_role("heading", name=t("imports.check_title", lang))).to_be_visible(timeout=JOB_TIMEOUT_MS)
    wait_idle(page)
    checked = {key: metric(page, f"imports.count.{key}", lang) for key in ("read", "accepted", "rejected",
                                                                            "would_inserted")}

    assert stored_readings(imports_db_url) == 0
    assert checked == {"read": f"{CTOWN_READINGS:,}", "accepted": f"{CTOWN_READINGS:,}", "rejected": "0",
                       "would_inserted": f"{CTOWN_READINGS:,}"}

    page.get_by_role("button", name=t("imports.run", lang, inserted=f"{CTOWN_READINGS:,}", updated="0")).click()
    # The import of 385,484 readings takes seconds: the progress bar shows meanwhile.
    expect(page.get_by_test_id("stProgress")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_test_id("stAlertContentSuccess")).to_be_visible(timeout=JOB_TIMEOUT_MS)
    wait_idle(page)
    [run_folder] = list((data_dir / "archive").iterdir())

    assert stored_readings(imports_db_url) == CTOWN_READINGS
    message = page.get_by_test_id("stAlertContentSuccess").get_by_test_id("stMarkdownContainer")
    assert message.inner_text() == t(
        "imports.done", lang, file=CTOWN_FILE, run_id=run_folder.name, inserted=f"{CTOWN_READINGS:,}", updated="0")
    assert (run_folder / CTOWN_FILE).exists()
    assert metric(page, "imports.count.missing", lang) == "0"

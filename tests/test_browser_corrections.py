"""Operators' corrections in headless Chromium: two sessions in conflict, and a correction seen on the chart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from playwright.sync_api import Page, expect

from core import auth
from core.i18n import t
from tests.browsertools import (CHART, PASSWORD, UI_TIMEOUT_MS, local_page, log_in,
                                streamlit_server, wait_for_chart, wait_idle)
from tests.conftest import app_role_env
from tests.dbtools import insert_good_readings, module_database, pump_series

pytestmark = pytest.mark.browser

DATABASE = "pumpdash_browser_corrections"
STATION = "uibrowser-corr"
SHANGHAI = timezone(timedelta(hours=8))
DAY_START = datetime(2024, 11, 20, tzinfo=SHANGHAI)
OPERATORS = ("op-anna", "op-bo", "op-chen")
CHART_LINK = (f"metrics?station={STATION}&devices=P1&metrics=flow_rate&range=custom"
              "&from=2024-11-20&to=2024-11-20&granularity=raw")


@pytest.fixture(scope="module")
def corrections_db_url(pg_server, db_url) -> str:
    """A database with one Shanghai station: pump P1 flow 100, 101, ... every 15 minutes on 20 Nov 2024."""
    url = module_database(pg_server, db_url, DATABASE)
    with psycopg.connect(url) as conn:
        series_id = pump_series(conn, STATION, "修正浏览器站", "Correction browser station", "Asia/Shanghai")
        insert_good_readings(conn, series_id, [(DAY_START + timedelta(minutes=15 * step), 100.0 + step)
                                               for step in range(96)])
    existing = {user["username"] for user in auth.list_users(url)}
    for username in OPERATORS:
        if username not in existing:
            auth.add_user(url, username, "operator", PASSWORD)
    return url


@pytest.fixture(scope="module")
def app_url(corrections_db_url, app_role_urls, artifacts_dir, tmp_path_factory) -> str:
    env = {"DATABASE_URL": corrections_db_url, **app_role_env(app_role_urls, corrections_db_url),
           "PUMPDASH_DATA_DIR": str(tmp_path_factory.mktemp("streamlit-data"))}
    with streamlit_server(env, artifacts_dir / "streamlit-corrections-test.log") as url:
        yield url


def stored(url: str, ts: datetime) -> tuple:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT m.value, m.original_value, m.version, m.updated_by FROM public.measurements AS m"
            " JOIN public.series AS se USING (series_id) JOIN public.stations AS st USING (station_id)"
            " WHERE st.code = %s AND m.ts = %s", [STATION, ts]).fetchone()


def audit(url: str, ts: datetime) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT action, new_value, changed_by FROM public.measurement_audit WHERE ts = %s"
                            " ORDER BY audit_id", [ts]).fetchall()


def open_measurements(page: Page, app_url: str, username: str, lang: str = "zh-CN") -> None:
    page.goto(f"{app_url}/measurements?lang={lang}")
    log_in(page, username, lang=lang)
    expect(page.get_by_role("heading", name=t("measurements.title", lang))).to_be_visible(timeout=UI_TIMEOUT_MS)
    wait_idle(page)


def pick_reading(page: Page, label: str, lang: str = "zh-CN") -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=t("measurements.reading", lang)).click()
    # The list is long and virtualized: typing filters it to the wanted option.
    page.keyboard.type(label.split(" · ")[0])
    page.get_by_role("option", name=label).click()
    wait_idle(page)


def submit_correction(page: Page, value: str, comment: str, lang: str = "zh-CN") -> None:
    value_label = t("measurements.new_value", lang, unit="m³/h")
    # The form of the picked reading; a form picked a moment ago is replaced when its rerun ends.
    form = page.get_by_test_id("stForm").filter(has=page.get_by_label(value_label))
    expect(form).to_have_count(1, timeout=UI_TIMEOUT_MS)
    field = form.get_by_label(value_label)
    field.fill(value)
    field.press("Tab")
    form.get_by_label(t("measurements.comment", lang)).fill(comment)
    form.get_by_role("button", name=t("measurements.submit_correction", lang)).click()
    wait_idle(page)


def test_two_sessions_conflict(browser, app_url, corrections_db_url, artifacts_dir):
    """Both operators open the 00:00 reading; the second to save gets the conflict in English, nothing is lost."""
    with local_page(browser) as first, local_page(browser, "en") as second:
        open_measurements(first, app_url, "op-anna")
        open_measurements(second, app_url, "op-bo", "en")

        submit_correction(first, "150", "流量计跳变，按现场读数修正")
        expect(first.get_by_text(t("measurements.corrected", "zh-CN", count=1)).first).to_be_visible()

        submit_correction(second, "160", "my own correction", "en")
        conflict = second.get_by_text(t("measurements.error.conflict", "en", detail=""), exact=False)
        expect(conflict).to_be_visible(timeout=UI_TIMEOUT_MS)
        second.screenshot(path=str(artifacts_dir / "corrections-conflict-en.png"), full_page=True)

    assert stored(corrections_db_url, DAY_START) == (150.0, 100.0, 2, "op-anna")
    assert audit(corrections_db_url, DAY_START) == [("update", 150.0, "op-anna")]


def test_correction_appears_on_chart(page, app_url, corrections_db_url, artifacts_dir):
    """An operator corrects the 10:00 reading and the raw chart marks it, with the original value in its hover."""
    ten = DAY_START + timedelta(hours=10)
    open_measurements(page, app_url, "op-chen")
    pick_reading(page, "2024-11-20 10:00 · 1 号泵 · 瞬时流量 = 140")
    submit_correction(page, "55.5", "10 点流量计通信中断，按人工抄表补录")
    expect(page.get_by_text(t("measurements.corrected", "zh-CN", count=1)).first).to_be_visible()
    assert stored(corrections_db_url, ten) == (55.5, 140.0, 2, "op-chen")

    page.goto(f"{page.url.split('/measurements')[0]}/{CHART_LINK}")
    log_in(page, "op-chen")
    wait_for_chart(page, "1 号泵 · 瞬时流量 人工修正")
    markers = page.evaluate(
        """() => document.querySelector('.js-plotly-plot').data
                 .filter(trace => trace.name.endsWith('人工修正'))
                 .map(trace => ({x: trace.x, y: trace.y, customdata: trace.customdata}))""")
    assert len(markers) == 1
    marked = dict(zip(markers[0]["x"], zip(markers[0]["y"], markers[0]["customdata"])))
    # The conflict test's correction at 00:00 is marked too when it ran first.
    assert set(marked) <= {"2024-11-20 00:00:00", "2024-11-20 10:00:00"}
    assert marked["2024-11-20 10:00:00"] == (55.5, ["140.00 m³/h", "op-chen"])

    # Hover the marker itself: the tooltip shows the corrected and the original value.
    point = page.locator(f"{CHART} .scatterlayer .trace").last.locator(".point").last
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    hover = page.locator(f"{CHART} .hoverlayer")
    expect(hover).to_contain_text("原值：140.00 m³/h", timeout=UI_TIMEOUT_MS)
    page.screenshot(path=str(artifacts_dir / "corrections-chart.png"), full_page=True)

"""Station metrics page in headless Chromium: the real HSY import, opened by link and by clicking.

The server, the loopback-only pages and the login come from tests/browsertools.py.
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from playwright.sync_api import Page, expect

from core import auth
from core.ingest import import_files
from core.settings import load_settings
from tests.browsertools import (CHART, PASSWORD, UI_TIMEOUT_MS, is_local, log_in, streamlit_server,
                                wait_for_chart, wait_idle)
from tests.conftest import ARTIFACTS_DIR, app_role_env
from tests.dbtools import insert_good_readings, module_database, pump_series

pytestmark = pytest.mark.browser

BROWSER_DATABASE = "pumpdash_browser"
HSY_FILE = "hsy-blominmaki-2024-11.xlsx"
HSY_STATION = "hsy-blominmaki"
HSY_LINK = "metrics?station=hsy-blominmaki&devices=P1.1&metrics=flow_rate&range=custom&from=2024-11-15&to=2024-11-16"
# A Shanghai station beside the Helsinki one, for two stations on one chart.
SECOND_STATION = "uibrowser-second"
# Tick labels as the page formats them at up to 12 hours per tick: "11-15 06:00".
NUMERIC_TICK = re.compile(r"^\d{2}-\d{2} \d{2}:\d{2}$")


@pytest.fixture(scope="module")
def browser_db_url(pg_server, db_url) -> str:
    """A migrated database of this module's own on the test server.

    The import tests expect to be the first to load the HSY file into the
    shared database, so this module imports it elsewhere.
    """
    return module_database(pg_server, db_url, BROWSER_DATABASE)


@pytest.fixture(scope="module")
def hsy_station(browser_db_url, shared_data, tmp_path_factory) -> str:
    """The real Blominmäki export imported through the product's importer (run files go to a temp folder)."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("import-data"))
    summary = import_files(browser_db_url, [shared_data / HSY_FILE], HSY_STATION, settings=settings)
    assert summary.rows_rejected == 0
    return HSY_STATION


@pytest.fixture(scope="module")
def second_station(browser_db_url) -> str:
    """A Shanghai station with pump P1 flow every 15 minutes on 15-16 Nov 2024, and a refreshed hourly rollup.

    It sorts after the HSY station, so pages that open the first station still show HSY.
    """
    start = datetime(2024, 11, 15, tzinfo=timezone(timedelta(hours=8)))
    with psycopg.connect(browser_db_url) as conn:
        series_id = pump_series(conn, SECOND_STATION, "第二测试站", "Second test station", "Asia/Shanghai")
        insert_good_readings(conn, series_id, [
            (start + timedelta(minutes=15 * step), 300.0 + 120.0 * math.sin(step * math.pi / 48))
            for step in range(2 * 96)])
        conn.execute("SELECT * FROM reporting.refresh_hourly()")
    return SECOND_STATION


VIEWER = "browser-viewer"


@pytest.fixture(scope="module")
def viewer(browser_db_url) -> str:
    """A viewer account on the browser database; the tests log in with it."""
    if not any(user["username"] == VIEWER for user in auth.list_users(browser_db_url)):
        auth.add_user(browser_db_url, VIEWER, "viewer", PASSWORD)
    return VIEWER


@pytest.fixture(scope="module")
def app_url(browser_db_url, app_role_urls, hsy_station, second_station, viewer, artifacts_dir, tmp_path_factory) -> str:
    """Base URL of the dashboard on the module's database, stopped after the module."""
    env = {"DATABASE_URL": browser_db_url, **app_role_env(app_role_urls, browser_db_url),
           "PUMPDASH_DATA_DIR": str(tmp_path_factory.mktemp("streamlit-data"))}
    with streamlit_server(env, artifacts_dir / "streamlit-browser-test.log") as url:
        yield url


def wait_for_query(page: Page, **expected: list[str]) -> None:
    """Wait until the URL's query string has these parameters (any order); `from_` stands for `from`."""
    expected_query = {key.rstrip("_"): values for key, values in expected.items()}
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while True:
        query = parse_qs(urlsplit(page.url).query)
        if all(query.get(key) == values for key, values in expected_query.items()):
            return
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS_DIR / "failed-wait-for-query.png"), full_page=True)
            pytest.fail(f"URL query {query} did not match {expected_query} within {UI_TIMEOUT_MS} ms")
        page.wait_for_timeout(200)


def x_tick_labels(page: Page) -> list[str]:
    return page.locator(f"{CHART} .xtick text").all_text_contents()


def test_hsy_link_shows_chinese_chart(page, app_url, artifacts_dir):
    """A link with the selection reopens pump 1.1 flow for 15-16 Nov 2024 with Chinese labels."""
    page.goto(f"{app_url}/{HSY_LINK}")
    log_in(page, VIEWER)
    wait_for_chart(page, "1.1 号泵 · 瞬时流量")

    chart = page.locator(CHART)
    expect(chart.get_by_text("时间 (Europe/Helsinki)")).to_be_visible()
    expect(chart.get_by_text("瞬时流量 (m³/h)")).to_be_visible()
    expect(page.get_by_text("时间范围：2024-11-15 00:00 至 2024-11-17 00:00（Europe/Helsinki）")).to_be_visible()
    expect(page.get_by_text("粒度：原始（数据库自动选择）")).to_be_visible()

    ticks = x_tick_labels(page)
    assert ticks, "the chart has no x tick labels"
    assert all(NUMERIC_TICK.match(tick) for tick in ticks), ticks

    page.wait_for_timeout(1000)  # let plotly finish its transition before the screenshot
    page.screenshot(path=str(artifacts_dir / "metrics-hsy.png"), full_page=True)


def test_hsy_view_built_by_clicking(page, app_url, artifacts_dir):
    """Navigate from the overview and pick station, pump 1.1, flow and 15-16 Nov by hand; the URL follows."""
    page.goto(app_url)
    log_in(page, VIEWER)
    page.get_by_role("link", name="站点曲线").click()
    wait_for_chart(page)

    # Replace whatever station is chosen by the HSY station.
    stations = page.get_by_test_id("stMultiSelect").filter(has_text="泵站")
    wait_idle(page)
    stations.get_by_role("combobox").click()
    page.keyboard.press("Backspace")
    expect(page.get_by_text("请至少选择一座泵站。")).to_be_visible(timeout=UI_TIMEOUT_MS)
    wait_idle(page)
    stations.get_by_role("combobox").click()
    page.get_by_role("option", name="布洛明迈基污水泵站 (hsy-blominmaki)").click()
    page.keyboard.press("Escape")
    wait_for_query(page, stations=["hsy-blominmaki"])

    # Replace whatever device is chosen by pump 1.1.
    devices = page.get_by_test_id("stMultiSelect").filter(has_text="设备")
    wait_idle(page)
    devices.get_by_role("combobox").click()
    page.keyboard.press("Backspace")
    wait_idle(page)
    devices.get_by_role("combobox").click()
    page.get_by_role("option", name="1.1 号泵", exact=True).click()
    page.keyboard.press("Escape")
    wait_for_query(page, devices=["P1.1"], metrics=["flow_rate"])

    wait_idle(page)
    page.get_by_test_id("stRadio").filter(has_text="时间范围").get_by_text("自定义", exact=True).click()
    wait_for_query(page, range=["custom"])
    wait_idle(page)
    page.get_by_role("spinbutton", name=re.compile(r"^year, .*start date")).click()
    page.keyboard.type("20241115")
    page.get_by_role("spinbutton", name=re.compile(r"^year, .*end date")).click()
    page.keyboard.type("20241116")
    # The date field commits when it loses focus.
    page.get_by_role("heading", name="站点运行曲线").click()
    wait_for_query(page, from_=["2024-11-15"], to=["2024-11-16"])

    wait_for_chart(page, "1.1 号泵 · 瞬时流量")
    expect(page.get_by_text("时间范围：2024-11-15 00:00 至 2024-11-17 00:00（Europe/Helsinki）")).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "metrics-hsy-clicked.png"), full_page=True)

    # The URL the clicks produced reopens the same view in a new tab.
    link = page.url
    second = page.context.new_page()
    second.route(lambda url: not is_local(url), lambda route: route.abort())
    second.goto(link)
    # A new tab is a new Streamlit session, so it logs in again; the link's view survives the login.
    log_in(second, VIEWER)
    wait_for_chart(second, "1.1 号泵 · 瞬时流量")
    expect(second.get_by_text("时间范围：2024-11-15 00:00 至 2024-11-17 00:00（Europe/Helsinki）")).to_be_visible()


def test_english_switch_relabels_chart(page, app_url, artifacts_dir):
    """Choosing English in the sidebar relabels axes and legend and puts lang=en in the URL."""
    page.goto(f"{app_url}/{HSY_LINK}")
    log_in(page, VIEWER)
    wait_for_chart(page, "1.1 号泵 · 瞬时流量")

    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="English").click()

    wait_for_chart(page, "pump 1.1 · flow rate")
    chart = page.locator(CHART)
    expect(chart.get_by_text("Time (Europe/Helsinki)")).to_be_visible()
    wait_for_query(page, lang=["en"])
    # The relabelled radios and selectbox still show the chosen values.
    expect(page.get_by_role("radio", name="Custom", exact=True)).to_be_checked()
    expect(page.get_by_role("radio", name="auto", exact=True)).to_be_checked()
    expect(page.get_by_test_id("stMultiSelect").filter(has_text="Stations")).to_contain_text(
        "Blominmäki wastewater pumping station (hsy-blominmaki)")
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "metrics-hsy-en.png"), full_page=True)



def test_second_station_on_one_chart(page, app_url, artifacts_dir):
    """Adding a Shanghai station to the Helsinki one: both pumps on one chart, named with their stations.

    Times stay in the first station's zone, and the page notes that the zones
    differ. The freshness note names the hourly watermark.
    """
    page.goto(f"{app_url}/{HSY_LINK}&granularity=hourly")
    log_in(page, VIEWER)
    wait_for_chart(page, "1.1 号泵 · 瞬时流量")

    stations = page.get_by_test_id("stMultiSelect").filter(has_text="泵站")
    stations.get_by_role("combobox").click()
    page.get_by_role("option", name=f"第二测试站 ({SECOND_STATION})").click()
    page.keyboard.press("Escape")
    wait_for_query(page, stations=[HSY_STATION, SECOND_STATION],
                   devices=[f"{HSY_STATION}:P1.1", f"{SECOND_STATION}:P1"])

    wait_for_chart(page, "第二测试站 · 1 号泵 · 瞬时流量")
    wait_for_chart(page, "布洛明迈基污水泵站 · 1.1 号泵 · 瞬时流量")
    expect(page.locator(CHART).get_by_text("时间 (Europe/Helsinki)；所选泵站时区不同")).to_be_visible()
    expect(page.get_by_text("所选泵站时区不同：时间均按第一座所选泵站（布洛明迈基污水泵站）的时区 Europe/Helsinki 显示",
                            exact=False)).to_be_visible()
    expect(page.get_by_text("小时汇总已更新至", exact=False)).to_be_visible()
    # Device chips name their station once two stations are picked.
    devices = page.get_by_test_id("stMultiSelect").filter(has_text="设备")
    expect(devices).to_contain_text("布洛明迈基污水泵站 · 1.1 号泵")
    expect(devices).to_contain_text("第二测试站 · 1 号泵")

    page.get_by_role("heading", name="站点运行曲线").click()  # no focused picker in the screenshot
    page.wait_for_timeout(1000)
    page.screenshot(path=str(artifacts_dir / "metrics-two-stations.png"), full_page=True)


def test_viewer_link_to_corrections_page(page, app_url):
    """A viewer opening a link to the corrections page lands on the overview with a note why."""
    page.goto(f"{app_url}/measurements")
    log_in(page, VIEWER)

    expect(page.get_by_text("当前角色（查看者）无权使用“读数修正”页面。", exact=False)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="泵站概览")).to_be_visible()
    expect(page.get_by_role("link", name="读数修正")).to_have_count(0)

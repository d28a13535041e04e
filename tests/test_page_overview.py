"""Overview page and reporting.get_station_overview against the session's real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from core.i18n import t
from dashboard import ui
from tests.pagetools import signed_in_app

APP_FILE = "../dashboard/app.py"
RUN_TIMEOUT_S = 60
LIVE_STATION = "uitest-ov-live"
OLD_STATION = "uitest-ov-old"
SAMPLE_INTERVAL_S = 900


def create_station(conn: psycopg.Connection, code: str, name_zh: str, name_en: str, zone: str) -> int:
    conn.execute("SELECT public.ensure_station(%s, %s, %s, %s)", [code, name_zh, name_en, zone])
    conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [code])
    return conn.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', %s)", [code, SAMPLE_INTERVAL_S]).fetchone()[0]


def insert_readings(conn: psycopg.Connection, series_id: int, times: list[datetime], bad: set[datetime] = frozenset()):
    conn.execute("SELECT public.ensure_measurement_partitions(%s, %s)", [min(times), max(times)])
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, quality, source_id) VALUES (%s, %s, %s, %s, 2)"
            " ON CONFLICT DO NOTHING",
            [(series_id, ts, None if ts in bad else 1.0, 2 if ts in bad else 0) for ts in times],
        )


def test_overview_function_counts_local_day(conn):
    """At 10:07 Helsinki time: 41 readings since local midnight (one bad), 41 expected, last one 7 minutes old."""
    series_id = create_station(conn, "uitest-ov-sql", "概览函数站", "Overview SQL station", "Europe/Helsinki")
    local = timezone(timedelta(hours=2))
    start = datetime(2024, 11, 14, tzinfo=local)
    times = [start + timedelta(minutes=15 * step) for step in range(int(34.25 * 4) + 1)]  # to 2024-11-15 10:00
    insert_readings(conn, series_id, times, bad={datetime(2024, 11, 15, 3, tzinfo=local)})

    row = conn.execute(
        "SELECT series_count, last_sample_at, last_sample_age_s, samples_today, bad_today, expected_today"
        " FROM reporting.get_station_overview(p_at => %s) WHERE station_code = 'uitest-ov-sql'",
        [datetime(2024, 11, 15, 10, 7, tzinfo=local)],
    ).fetchone()

    assert row == (1, datetime(2024, 11, 15, 10, 0, tzinfo=local), 420.0, 40, 1, 41)


def test_overview_function_station_without_readings(conn):
    conn.execute("SELECT public.ensure_station('uitest-ov-empty', '空站', 'Empty station', 'Asia/Shanghai')")

    row = conn.execute(
        "SELECT series_count, last_sample_at, last_sample_age_s, samples_today, bad_today, expected_today"
        " FROM reporting.get_station_overview() WHERE station_code = 'uitest-ov-empty'"
    ).fetchone()

    assert row == (0, None, None, 0, 0, 0)


@pytest.fixture(scope="module")
def overview_stations(db_url):
    """A station reporting every 15 minutes up to now, and one whose data ended in 2024."""
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    latest = now - timedelta(minutes=now.minute % 15)
    with psycopg.connect(db_url) as conn:
        live_id = create_station(conn, LIVE_STATION, "在线站", "Live station", "Asia/Shanghai")
        insert_readings(conn, live_id, [latest - timedelta(minutes=15 * step) for step in range(8)])
        old_id = create_station(conn, OLD_STATION, "历史站", "Historical station", "Europe/Helsinki")
        insert_readings(conn, old_id, [datetime(2024, 11, 15, hour, tzinfo=timezone.utc) for hour in range(3)])


@pytest.fixture
def app_env(app_database, overview_stations):
    return app_database


def stale_station_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM reporting.get_station_overview()"
            " WHERE last_sample_age_s IS NULL OR last_sample_age_s > 1800"
        ).fetchone()[0]


def card_texts(at: AppTest) -> list[str]:
    return [element.value for element in at.markdown]


def open_overview(**query_params) -> AppTest:
    at = signed_in_app(**query_params)
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def test_overview_cards_zh(app_env, db_url):
    """Each station has a card; the live one is reporting, the historical one has no recent data."""
    at = open_overview()
    markdown = card_texts(at)

    live = markdown.index("**在线站** `uitest-ov-live`")
    old = markdown.index("**历史站** `uitest-ov-old`")
    assert markdown[live + 1] == ":green-badge[正常上报]"
    assert markdown[old + 1] == ":red-badge[无新数据]"
    assert at.title[0].value == "泵站概览"
    assert [w.value for w in at.warning] == [t("overview.stale_banner", "zh-CN", count=stale_station_count(db_url),
                                                 minutes=30)]


def test_overview_last_reading_age(app_env):
    """The historical station's last reading is shown as days ago, with its local time in the help."""
    at = open_overview()
    ages = {metric.help: metric.value for metric in at.metric if metric.label == "最后读数"}

    old_station_age = ages["最后读数时间：2024-11-15 04:00（Europe/Helsinki）"]
    assert old_station_age.endswith(" 天前")


def test_overview_english(app_env):
    at = open_overview(lang="en")
    markdown = card_texts(at)

    live = markdown.index("**Live station** `uitest-ov-live`")
    assert markdown[live + 1] == ":green-badge[reporting]"
    assert at.title[0].value == "Station overview"

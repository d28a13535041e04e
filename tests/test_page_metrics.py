"""Station metrics page under Streamlit's AppTest, against the session's real PostgreSQL.

The stations inserted here have known readings on 2024-11-15 (Europe/Helsinki,
UTC+2, and Asia/Shanghai, UTC+8), so chart traces and table cells are
compared with exact values. The freshness note runs on a database of its own,
whose rollups no other test refreshes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row
from streamlit.testing.v1 import AppTest

from core.i18n import t
from core.migrate import migrate
from dashboard import charts, ui
from tests.conftest import free_port
from tests.pagetools import signed_in_app

APP_FILE = "../dashboard/app.py"
METRICS_PAGE = "../pages/metrics.py"
RUN_TIMEOUT_S = 60

STATION = "uitest-metrics"
TZ = "Europe/Helsinki"
LOCAL_OFFSET = timezone(timedelta(hours=2))  # Helsinki in November
DAY_START = datetime(2024, 11, 15, tzinfo=LOCAL_OFFSET)

# Pump 1 flow: four readings in the first hour, then one constant value per
# hour, and no readings from 06:00 to 08:45 (a gap the chart must show).
FIRST_HOUR_FLOW = (10.0, 20.0, 30.0, 40.4936)
FIRST_HOUR_MEAN = sum(FIRST_HOUR_FLOW) / 4  # 25.1234
GAP_HOURS = (6, 7, 8)
PUMP2_POWER_KW = 48.25

# Two stations in Shanghai whose pumps share a name, so only the station name
# distinguishes their lines. Readings are constant within each hour.
MULTI_A = "uitest-multi-a"
MULTI_B = "uitest-multi-b"
SHANGHAI = "Asia/Shanghai"
SHANGHAI_OFFSET = timezone(timedelta(hours=8))
MULTI_DAY_START = datetime(2024, 11, 15, tzinfo=SHANGHAI_OFFSET)
MULTI_BASE_FLOW = {MULTI_A: 200.0, MULTI_B: 300.0}

# Point limit: one-minute flow over five days (7,200 raw points per series)
# and hourly level over 210 days (5,040 hourly points per series).
GUARD_STATION = "uitest-guard"
GUARD_MINUTE_DAYS = 5
GUARD_LEVEL_DAYS = 210
GUARD_LEVEL_START = datetime(2024, 1, 1, tzinfo=SHANGHAI_OFFSET)

FRESHNESS_DATABASE = "pumpdash_ui_freshness"
FRESHNESS_STATION = "uitest-fresh"

DENIED_ROLE = "uitest_chart_denied"
DENIED_PASSWORD = "uitest-only"
EMPTY_DATABASE = "pumpdash_ui_empty"


def flow_value(hour: int, quarter: int) -> float:
    return FIRST_HOUR_FLOW[quarter] if hour == 0 else 100.0 + hour


@pytest.fixture(scope="module")
def metrics_station(db_url) -> dict[str, int]:
    """Station uitest-metrics: pump 1 flow with a gap, pump 2 power, both every 15 minutes on 2024-11-15."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT public.ensure_station(%s, '测试一站', 'Test station one', %s)", [STATION, TZ])
        conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [STATION])
        conn.execute("SELECT public.ensure_device(%s, 'P2', 'pump', '2 号泵', 'Pump 2')", [STATION])
        flow_id = conn.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', 900)", [STATION]).fetchone()[0]
        power_id = conn.execute("SELECT public.ensure_series(%s, 'P2', 'power', 900)", [STATION]).fetchone()[0]
        conn.execute("SELECT public.ensure_measurement_partitions('2024-11-01', '2024-12-01')")

        rows = []
        for hour in range(24):
            for quarter in range(4):
                ts = DAY_START + timedelta(hours=hour, minutes=15 * quarter)
                if hour not in GAP_HOURS:
                    rows.append((flow_id, ts, flow_value(hour, quarter)))
                rows.append((power_id, ts, PUMP2_POWER_KW))
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO public.measurements (series_id, ts, value, quality, source_id) VALUES (%s, %s, %s, 0, 2)"
                " ON CONFLICT DO NOTHING",
                rows,
            )
    return {"flow": flow_id, "power": power_id}


def insert_readings(conn: psycopg.Connection, rows: list[tuple]) -> None:
    """Insert (series_id, ts, value) rows as good (quality 0) manual (source 2) readings."""
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, quality, source_id) VALUES (%s, %s, %s, 0, 2)"
            " ON CONFLICT DO NOTHING",
            rows,
        )


def multi_flow(station: str, hour: int) -> float:
    return MULTI_BASE_FLOW[station] + hour


def create_shanghai_station(conn: psycopg.Connection, station: str, name_zh: str, name_en: str) -> int:
    """A Shanghai station with pump P1 ("1 号泵") measuring flow every 15 minutes on 2024-11-15; returns the series id."""
    conn.execute("SELECT public.ensure_station(%s, %s, %s, %s)", [station, name_zh, name_en, SHANGHAI])
    conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [station])
    return conn.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', 900)", [station]).fetchone()[0]


def quarter_hours(day_start: datetime) -> list[tuple[int, datetime]]:
    return [(hour, day_start + timedelta(hours=hour, minutes=15 * quarter))
            for hour in range(24) for quarter in range(4)]


@pytest.fixture(scope="module")
def multi_stations(db_url, metrics_station) -> None:
    """Stations uitest-multi-a and -b (Shanghai): pump P1 flow 200 + hour and 300 + hour on 2024-11-15."""
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT public.ensure_measurement_partitions('2024-11-01', '2024-12-01')")
        for station, name_zh, name_en in ((MULTI_A, "多站甲", "Multi A"), (MULTI_B, "多站乙", "Multi B")):
            series_id = create_shanghai_station(conn, station, name_zh, name_en)
            insert_readings(conn, [(series_id, ts, multi_flow(station, hour)) for hour, ts in quarter_hours(MULTI_DAY_START)])


@pytest.fixture(scope="module")
def guard_station(db_url) -> None:
    """Station uitest-guard: P1 flow every minute on 2024-11-10..14, T1 level every hour on 210 days from 2024-01-01.

    Each reading's value is its local hour of day plus 10, so hourly means are exact.
    """
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT public.ensure_station(%s, '限点测试站', 'Point limit station', %s)", [GUARD_STATION, SHANGHAI])
        conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [GUARD_STATION])
        conn.execute("SELECT public.ensure_device(%s, 'T1', 'tank', '1 号水池', 'Tank 1')", [GUARD_STATION])
        flow_id = conn.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', 60)", [GUARD_STATION]).fetchone()[0]
        level_id = conn.execute("SELECT public.ensure_series(%s, 'T1', 'level', 3600)", [GUARD_STATION]).fetchone()[0]
        conn.execute("SELECT public.ensure_measurement_partitions('2024-01-01', '2024-12-01')")

        minutes_start = datetime(2024, 11, 10, tzinfo=SHANGHAI_OFFSET)
        minutes = [minutes_start + timedelta(minutes=step) for step in range(GUARD_MINUTE_DAYS * 24 * 60)]
        hours = [GUARD_LEVEL_START + timedelta(hours=step) for step in range(GUARD_LEVEL_DAYS * 24)]
        insert_readings(conn, [(flow_id, ts, 10.0 + ts.hour) for ts in minutes])
        insert_readings(conn, [(level_id, ts, 10.0 + ts.hour) for ts in hours])


@pytest.fixture
def app_env(app_database, metrics_station, multi_stations, guard_station):
    return app_database


def open_metrics(**query_params) -> AppTest:
    """Run the app with `query_params` in the URL, switch to the metrics page and run it."""
    at = signed_in_app(**query_params)
    at.run()
    at.switch_page(METRICS_PAGE).run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def hsy_like_params(**overrides) -> dict:
    params = {"station": STATION, "devices": "P1", "metrics": "flow_rate", "range": "custom",
              "from": "2024-11-15", "to": "2024-11-15", "granularity": "hourly"}
    params.update(overrides)
    return params


def chart_spec(at: AppTest) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def trace_named(spec: dict, name: str) -> dict:
    matches = [trace for trace in spec["data"] if trace.get("name") == name]
    assert len(matches) == 1, [trace.get("name") for trace in spec["data"]]
    return matches[0]


def texts(elements) -> list[str]:
    return [element.value for element in elements]


# -- chart and table --------------------------------------------------------

def test_hourly_chart_values_and_labels_zh(app_env):
    """The hourly mean inserted for 00:00 is the first point; labels are Chinese; times are local."""
    at = open_metrics(**hsy_like_params())
    spec = chart_spec(at)

    line = trace_named(spec, "1 号泵 · 瞬时流量")
    assert line["x"][0] == "2024-11-15 00:00:00"
    assert line["y"][0] == pytest.approx(FIRST_HOUR_MEAN)
    assert line["y"][1] == pytest.approx(101.0)
    assert line["connectgaps"] is False
    assert spec["layout"]["xaxis"]["title"]["text"] == "时间 (Europe/Helsinki)"
    assert spec["layout"]["yaxis"]["title"]["text"] == "瞬时流量 (m³/h)"
    assert "粒度：小时（手动选择）" in texts(at.caption)


def test_hourly_gap_is_a_break(app_env):
    """Hours 06-08 have no readings: one null sits between 05:00 and 09:00, so the line breaks."""
    at = open_metrics(**hsy_like_params())
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")

    hours_with_data = [hour for hour in range(24) if hour not in GAP_HOURS]
    assert len(line["x"]) == len(hours_with_data) + 1
    assert line["x"][5] == "2024-11-15 05:00:00"
    assert line["y"][6] is None
    assert line["x"][7] == "2024-11-15 09:00:00"
    assert line["y"][7] == pytest.approx(109.0)


def test_hourly_band_spans_min_and_max(app_env):
    """The min/max band of the first hour runs from 10 up to 40.4936."""
    at = open_metrics(**hsy_like_params())
    band = trace_named(chart_spec(at), "1 号泵 · 瞬时流量 最小–最大")

    assert band["fill"] == "toself"
    # Outline: maxima forward, minima backward, None between runs.
    first_run_length = band["x"].index(None)
    assert band["y"][0] == pytest.approx(40.4936)
    assert band["y"][first_run_length - 1] == pytest.approx(10.0)
    assert band["x"][first_run_length - 1] == "2024-11-15 00:00:00"


def test_tick_labels_numeric(app_env):
    """Every tick format is numeric, so plotly prints no English month names."""
    at = open_metrics(**hsy_like_params())
    xaxis = chart_spec(at)["layout"]["xaxis"]

    formats = [stop["value"] for stop in xaxis["tickformatstops"]]
    assert formats == ["%m-%d %H:%M", "%Y-%m-%d", "%Y-%m", "%Y"]
    assert xaxis["hoverformat"] == "%Y-%m-%d %H:%M"


def test_table_rounded_with_units_zh(app_env):
    """The table shows local times and values rounded to the metric's 2 decimals, the unit in the header."""
    at = open_metrics(**hsy_like_params())
    table = at.dataframe[0].value

    assert list(table.columns) == ["时间 (Europe/Helsinki)", "1 号泵 · 瞬时流量 (m³/h)"]
    assert table.iloc[0].tolist() == ["2024-11-15 00:00", 25.12]
    assert table.iloc[1].tolist() == ["2024-11-15 01:00", 101.0]
    assert len(table) == 24 - len(GAP_HOURS)


def test_english_labels(app_env):
    """With lang=en the legend, axes, table and captions are English."""
    at = open_metrics(**hsy_like_params(lang="en"))
    spec = chart_spec(at)

    line = trace_named(spec, "Pump 1 · flow rate")
    assert line["y"][0] == pytest.approx(FIRST_HOUR_MEAN)
    assert spec["layout"]["xaxis"]["title"]["text"] == "Time (Europe/Helsinki)"
    assert spec["layout"]["yaxis"]["title"]["text"] == "flow rate (m³/h)"
    assert list(at.dataframe[0].value.columns) == ["Time (Europe/Helsinki)", "Pump 1 · flow rate (m³/h)"]
    assert "Granularity: hourly (chosen manually)" in texts(at.caption)
    assert at.title[0].value == "Station metrics"


def test_one_axis_per_unit(app_env):
    """Flow (m³/h) and power (kW) get their own y axes; power is on the second one."""
    at = open_metrics(**hsy_like_params(devices=["P1", "P2"], metrics=["flow_rate", "power"]))
    spec = chart_spec(at)

    power = trace_named(spec, "2 号泵 · 有功功率")
    assert power["yaxis"] == "y2"
    assert power["y"][0] == pytest.approx(PUMP2_POWER_KW)
    assert spec["layout"]["yaxis2"]["title"]["text"] == "有功功率 (kW)"
    assert spec["layout"]["yaxis2"]["overlaying"] == "y"
    assert trace_named(spec, "1 号泵 · 瞬时流量")["yaxis"] == "y"


def test_auto_granularity_named(app_env):
    """For one day of 15-minute data the database picks raw, and the caption names that choice."""
    at = open_metrics(**hsy_like_params(granularity="auto"))
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")

    assert "粒度：原始（数据库自动选择）" in texts(at.caption)
    assert line["y"][:4] == [pytest.approx(value) for value in FIRST_HOUR_FLOW]
    assert line["x"][1] == "2024-11-15 00:15:00"


def test_raw_gap_is_a_break(app_env):
    """Raw readings jump from 05:45 to 09:00, more than 1.5 sample intervals: a null breaks the line."""
    at = open_metrics(**hsy_like_params(granularity="raw"))
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")

    gap_index = line["x"].index("2024-11-15 05:45:00") + 1
    assert line["y"][gap_index] is None
    assert line["x"][gap_index + 1] == "2024-11-15 09:00:00"


def test_daily_granularity_one_local_day(app_env):
    """Daily buckets are local days: 2024-11-15 is one point, its mean over every good reading."""
    at = open_metrics(**hsy_like_params(granularity="daily"))
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")

    readings = [flow_value(hour, quarter) for hour in range(24) if hour not in GAP_HOURS for quarter in range(4)]
    assert line["x"] == ["2024-11-15 00:00:00"]
    assert line["y"] == [pytest.approx(sum(readings) / len(readings))]


# -- time range -------------------------------------------------------------

def test_preset_anchored_at_latest_reading(app_env):
    """Data ends in 2024, so the 24 h preset ends at the latest reading and a note explains the shift."""
    at = open_metrics(station=STATION, devices="P1", metrics="flow_rate", range="24h", granularity="hourly")

    expected_note = t("metrics.anchored", "zh-CN", latest="2024-11-15 23:45", timezone=TZ)
    assert expected_note in texts(at.info)
    assert "时间范围：2024-11-15 00:00 至 2024-11-16 00:00（Europe/Helsinki）" in texts(at.caption)
    assert len(trace_named(chart_spec(at), "1 号泵 · 瞬时流量")["x"]) == 24 - len(GAP_HOURS) + 1


def test_range_without_data_names_extent(app_env):
    """A custom range without readings names where the data is instead of drawing an empty chart."""
    at = open_metrics(**hsy_like_params(**{"from": "2024-11-20", "to": "2024-11-21"}))

    expected = t("metrics.no_data_in_range", "zh-CN", first="2024-11-15 00:00", last="2024-11-15 23:45", timezone=TZ)
    assert expected in texts(at.info)
    assert at.get("plotly_chart") == []


def test_range_choices_in_chinese(app_env):
    at = open_metrics(**hsy_like_params())

    assert at.radio(key="range").options == ["24 小时", "7 天", "30 天", "自定义"]
    assert at.radio(key="granularity").options == ["自动", "原始", "小时", "日"]


# -- URL --------------------------------------------------------------------

def test_selection_written_to_url(app_env):
    """Changing widgets rewrites the query string, so a copied link reopens the same view."""
    at = open_metrics(**hsy_like_params())
    at.multiselect(key="devices").select(f"{STATION}:P2")
    at.multiselect(key="metrics").select("power")
    at.radio(key="granularity").set_value("daily")
    at.run()

    assert not at.exception
    assert at.query_params["stations"] == STATION
    assert "station" not in at.query_params
    assert at.query_params["devices"] == ["P1", "P2"]
    assert at.query_params["metrics"] == ["flow_rate", "power"]
    assert at.query_params["granularity"] == "daily"
    assert at.query_params["range"] == "custom"
    assert at.query_params["from"] == "2024-11-15"
    assert at.query_params["to"] == "2024-11-15"
    assert at.query_params["lang"] == "zh-CN"


def test_url_without_selection_picks_defaults(app_env):
    """Only station in the URL: the first device with a flow metric, flow rate and 24 h are chosen."""
    at = open_metrics(station=STATION)

    assert at.multiselect(key="devices").value == [f"{STATION}:P1"]
    assert at.multiselect(key="metrics").value == ["flow_rate"]
    assert at.query_params["range"] == "24h"
    assert at.query_params["granularity"] == "auto"


def test_unknown_station_in_url_warns(app_env):
    at = open_metrics(station="no-such-station", lang="en")

    assert t("metrics.unknown_station", "en", station="no-such-station") in texts(at.warning)


def test_language_switch_relabels_page(app_env):
    """Switching the sidebar language to English relabels the chart on the next run."""
    at = open_metrics(**hsy_like_params())
    at.sidebar.selectbox(key="lang").set_value("en").run()

    assert not at.exception
    trace_named(chart_spec(at), "Pump 1 · flow rate")
    assert at.query_params["lang"] == "en"


# -- several stations -------------------------------------------------------

def two_station_params(second: str = MULTI_B, **overrides) -> dict:
    params = {"stations": [MULTI_A, second], "devices": [f"{MULTI_A}:P1", f"{second}:P1"], "metrics": "flow_rate",
              "range": "custom", "from": "2024-11-15", "to": "2024-11-15", "granularity": "hourly"}
    params.update(overrides)
    return params


def test_two_stations_on_one_chart_zh(app_env):
    """Each station's pump 1 is its own line, named with the station, with the values inserted for it."""
    at = open_metrics(**two_station_params())
    spec = chart_spec(at)

    line_a = trace_named(spec, "多站甲 · 1 号泵 · 瞬时流量")
    line_b = trace_named(spec, "多站乙 · 1 号泵 · 瞬时流量")
    assert line_a["x"][:2] == ["2024-11-15 00:00:00", "2024-11-15 01:00:00"]
    assert line_a["y"] == [pytest.approx(multi_flow(MULTI_A, hour)) for hour in range(24)]
    assert line_b["y"] == [pytest.approx(multi_flow(MULTI_B, hour)) for hour in range(24)]
    assert spec["layout"]["xaxis"]["title"]["text"] == "时间 (Asia/Shanghai)"

    table = at.dataframe[0].value
    assert list(table.columns) == ["时间 (Asia/Shanghai)", "多站甲 · 1 号泵 · 瞬时流量 (m³/h)",
                                   "多站乙 · 1 号泵 · 瞬时流量 (m³/h)"]
    assert table.iloc[23].tolist() == ["2024-11-15 23:00", 223.0, 323.0]
    # Both stations are in Shanghai, so no note about differing zones.
    assert not [text for text in texts(at.caption) if "时区不同" in text]


def test_two_stations_english_legend(app_env):
    at = open_metrics(**two_station_params(lang="en"))
    spec = chart_spec(at)

    assert trace_named(spec, "Multi A · Pump 1 · flow rate")["y"][0] == pytest.approx(200.0)
    assert trace_named(spec, "Multi B · Pump 1 · flow rate")["y"][0] == pytest.approx(300.0)


def test_stations_in_different_zones_use_first_zone(app_env):
    """Shanghai first, Helsinki second: Helsinki's 00:00 hour is drawn at 06:00 Shanghai time, and a caption notes it."""
    at = open_metrics(**two_station_params(second=STATION))
    spec = chart_spec(at)

    helsinki = trace_named(spec, "测试一站 · 1 号泵 · 瞬时流量")
    assert helsinki["x"][0] == "2024-11-15 06:00:00"
    assert helsinki["y"][0] == pytest.approx(FIRST_HOUR_MEAN)
    assert trace_named(spec, "多站甲 · 1 号泵 · 瞬时流量")["x"][0] == "2024-11-15 00:00:00"
    assert spec["layout"]["xaxis"]["title"]["text"] == "时间 (Asia/Shanghai)；所选泵站时区不同"
    assert ("所选泵站时区不同：时间均按第一座所选泵站（多站甲）的时区 Asia/Shanghai 显示；日粒度仍按各泵站当地日期汇总。"
            in texts(at.caption))
    assert "时间范围：2024-11-15 00:00 至 2024-11-16 00:00（Asia/Shanghai）" in texts(at.caption)


def test_stations_in_different_zones_english(app_env):
    at = open_metrics(**two_station_params(second=STATION, lang="en"))

    assert chart_spec(at)["layout"]["xaxis"]["title"]["text"] == "Time (Asia/Shanghai); the stations' time zones differ"
    assert ("The selected stations are in different time zones: all times are shown in Asia/Shanghai, the zone of "
            "the first selected station (Multi A); daily buckets still follow each station's local days."
            in texts(at.caption))


def test_several_stations_kept_in_url(app_env):
    """A link with two stations reopens both lines and is written back unchanged."""
    at = open_metrics(**two_station_params())

    assert at.multiselect(key="stations").value == [MULTI_A, MULTI_B]
    assert at.query_params["stations"] == [MULTI_A, MULTI_B]
    assert at.query_params["devices"] == [f"{MULTI_A}:P1", f"{MULTI_B}:P1"]


def test_old_single_station_link_still_works(app_env):
    """A `station=` link (older links and the overview's) opens that one station, and the URL is rewritten to `stations=`."""
    at = open_metrics(station=MULTI_B, devices="P1", metrics="flow_rate", range="custom", **{"from": "2024-11-15"},
                      to="2024-11-15", granularity="hourly")

    assert at.multiselect(key="stations").value == [MULTI_B]
    assert trace_named(chart_spec(at), "1 号泵 · 瞬时流量")["y"][0] == pytest.approx(300.0)
    assert at.query_params["stations"] == MULTI_B
    assert at.query_params["devices"] == "P1"
    assert "station" not in at.query_params


def test_adding_a_station_adds_its_pump(app_env):
    """Picking a second station adds its default device, so its line appears without further clicks."""
    at = open_metrics(**hsy_like_params(station=MULTI_A))
    at.multiselect(key="stations").select(MULTI_B).run()

    assert not at.exception
    assert at.multiselect(key="devices").value == [f"{MULTI_A}:P1", f"{MULTI_B}:P1"]
    spec = chart_spec(at)
    assert trace_named(spec, "多站乙 · 1 号泵 · 瞬时流量")["y"][0] == pytest.approx(300.0)
    assert at.query_params["devices"] == [f"{MULTI_A}:P1", f"{MULTI_B}:P1"]


def test_bare_device_code_means_every_station(app_env):
    """devices=P1 with two stations picks pump P1 of both."""
    at = open_metrics(**two_station_params(devices="P1"))

    assert at.multiselect(key="devices").value == [f"{MULTI_A}:P1", f"{MULTI_B}:P1"]


def test_removing_every_station_asks_for_one(app_env):
    at = open_metrics(**two_station_params())
    at.multiselect(key="stations").set_value([]).run()

    assert not at.exception
    assert texts(at.info) == ["请至少选择一座泵站。"]
    assert at.get("plotly_chart") == []


# -- point limit ------------------------------------------------------------

def guard_params(device: str, start: str, end: str, granularity: str, **overrides) -> dict:
    params = {"stations": GUARD_STATION, "devices": device, "metrics": "flow_rate" if device == "P1" else "level",
              "range": "custom", "from": start, "to": end, "granularity": granularity}
    params.update(overrides)
    return params


def test_raw_over_limit_draws_hourly(app_env):
    """Five days of one-minute raw readings are 7,200 points: a warning names them and 120 hourly points are drawn."""
    at = open_metrics(**guard_params("P1", "2024-11-10", "2024-11-14", "raw"))

    assert texts(at.warning) == [
        "按「原始」粒度，该时间范围每条曲线最多有 7,200 个点，超过上限 5,000 个，因此改按「小时」粒度绘制。"
        "要看「原始」数据，请缩短时间范围；选择「小时」粒度则不再显示本提示。"
    ]
    assert "粒度：小时（原始粒度点数过多，已自动改用）" in texts(at.caption)
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")
    assert len(line["x"]) == GUARD_MINUTE_DAYS * 24
    assert line["x"][13] == "2024-11-10 13:00:00"
    assert line["y"][13] == pytest.approx(23.0)
    assert at.query_params["granularity"] == "raw"  # the link keeps the user's choice


def test_raw_over_limit_english(app_env):
    at = open_metrics(**guard_params("P1", "2024-11-10", "2024-11-14", "raw", lang="en"))

    assert texts(at.warning) == [
        "At raw granularity this range has up to 7,200 points per line, more than the limit of 5,000, so the chart "
        "shows hourly data instead. To see raw data, choose a shorter range; choosing hourly granularity removes "
        "this note."
    ]
    assert "Granularity: hourly (too many raw points, changed automatically)" in texts(at.caption)


def test_raw_within_limit_is_drawn(app_env):
    """Three days of one-minute readings (4,320 points) stay raw; only the "many points" hint shows."""
    at = open_metrics(**guard_params("P1", "2024-11-10", "2024-11-12", "raw"))

    assert texts(at.warning) == []
    assert "每条曲线最多 4320 个点，图表可能较慢；可改用小时或日粒度。" in texts(at.caption)
    line = trace_named(chart_spec(at), "1 号泵 · 瞬时流量")
    assert len(line["x"]) == 3 * 24 * 60
    assert line["x"][1] == "2024-11-10 00:01:00"
    assert "粒度：原始（手动选择）" in texts(at.caption)


@pytest.mark.parametrize(("granularity", "requested_zh"), [("hourly", "小时"), ("raw", "原始")])
def test_hourly_over_limit_draws_daily(app_env, granularity, requested_zh):
    """210 days of hourly level readings are 5,040 hourly points (and raw readings): drawn as 210 daily points."""
    at = open_metrics(**guard_params("T1", "2024-01-01", "2024-07-28", granularity))

    warnings = texts(at.warning)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"按「{requested_zh}」粒度，该时间范围每条曲线最多有 5,040 个点，超过上限 5,000 个，"
                                  "因此改按「日」粒度绘制。")
    line = trace_named(chart_spec(at), "1 号水池 · 液位")
    assert len(line["x"]) == GUARD_LEVEL_DAYS
    assert line["y"][0] == pytest.approx(10.0 + 11.5)  # the mean of 10 + hour over hours 0-23


def test_hourly_within_limit_has_no_warning(app_env):
    at = open_metrics(**guard_params("P1", "2024-11-10", "2024-11-14", "hourly"))

    assert texts(at.warning) == []
    assert len(trace_named(chart_spec(at), "1 号泵 · 瞬时流量")["x"]) == GUARD_MINUTE_DAYS * 24


# -- freshness note ---------------------------------------------------------

@pytest.fixture(scope="module")
def freshness_db_url(pg_server, db_url) -> str:
    """A migrated database of its own whose rollups were never refreshed, with one Shanghai station."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [FRESHNESS_DATABASE]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{FRESHNESS_DATABASE}"')
    url = pg_server.url(FRESHNESS_DATABASE)
    migrate(url)
    with psycopg.connect(url) as conn:
        conn.execute("SELECT public.ensure_measurement_partitions('2024-11-01', '2024-12-01')")
        series_id = create_shanghai_station(conn, FRESHNESS_STATION, "新鲜度测试站", "Freshness station")
        insert_readings(conn, [(series_id, ts, 50.0 + hour) for hour, ts in quarter_hours(MULTI_DAY_START)])
    return url


def freshness_params(granularity: str, lang: str) -> dict:
    return {"stations": FRESHNESS_STATION, "devices": "P1", "metrics": "flow_rate", "range": "custom",
            "from": "2024-11-15", "to": "2024-11-15", "granularity": granularity, "lang": lang}


def rollup_captions(at: AppTest) -> list[str]:
    return [text for text in texts(at.caption) if "汇总" in text or "rollup" in text]


def test_freshness_note_before_and_after_refresh(monkeypatch, freshness_db_url):
    """Before the first refresh the note states that raw readings are used. After it, the note names the watermark."""
    monkeypatch.setenv("DATABASE_URL", freshness_db_url)
    ui.clear_query_cache()

    before_zh = open_metrics(**freshness_params("hourly", "zh-CN"))
    assert rollup_captions(before_zh) == ["小时汇总尚未刷新，曲线由原始读数实时计算。"]
    assert rollup_captions(open_metrics(**freshness_params("hourly", "en"))) == [
        "Hourly rollup not refreshed yet; the chart is computed live from raw readings."]
    assert rollup_captions(open_metrics(**freshness_params("daily", "zh-CN"))) == [
        "日汇总尚未刷新，曲线由原始读数实时计算。"]
    assert rollup_captions(open_metrics(**freshness_params("raw", "zh-CN"))) == []

    with psycopg.connect(freshness_db_url, row_factory=dict_row) as conn:
        refresh = conn.execute("SELECT * FROM reporting.refresh_hourly()").fetchone()
    assert refresh["status"] == "done"
    watermark = refresh["watermark_after"].astimezone(ZoneInfo(SHANGHAI)).strftime("%Y-%m-%d %H:%M")
    ui.clear_query_cache()

    after_zh = open_metrics(**freshness_params("hourly", "zh-CN"))
    assert rollup_captions(after_zh) == [
        f"小时汇总已更新至 {watermark}（Asia/Shanghai），其后的数据由原始读数实时计算。"]
    assert rollup_captions(open_metrics(**freshness_params("hourly", "en"))) == [
        f"Hourly rollup current to {watermark} (Asia/Shanghai); later data is computed live from raw readings."]
    # The daily rollup was not refreshed, and the values read from the hourly rollup equal those computed before.
    assert rollup_captions(open_metrics(**freshness_params("daily", "en"))) == [
        "Daily rollup not refreshed yet; the chart is computed live from raw readings."]
    before_line = trace_named(chart_spec(before_zh), "1 号泵 · 瞬时流量")
    after_line = trace_named(chart_spec(after_zh), "1 号泵 · 瞬时流量")
    assert after_line["y"] == before_line["y"] == [pytest.approx(50.0 + hour) for hour in range(24)]


# -- failures ---------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_unreachable_database_message(monkeypatch, lang):
    """With no server at DATABASE_URL the page shows a message in the chosen language, not a traceback."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql://pumpdash@127.0.0.1:{free_port()}/pumpdash")
    at = open_metrics(lang=lang)

    prefix = {"zh-CN": "无法连接数据库（", "en": "Cannot connect to the database ("}[lang]
    errors = texts(at.error)
    assert len(errors) == 1
    assert errors[0].startswith(prefix)
    assert "Connection refused" in errors[0]


@pytest.fixture(scope="module")
def empty_db_url(pg_server, db_url) -> str:
    """A second, migrated database on the test server with no station."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [EMPTY_DATABASE]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMPTY_DATABASE}"')
    url = pg_server.url(EMPTY_DATABASE)
    migrate(url)
    return url


@pytest.mark.parametrize(("lang", "expected"), [
    ("zh-CN", "数据库中还没有泵站：请运行 python -m dashboard demo 或导入数据"),
    ("en", "The database has no stations yet: run python -m dashboard demo or import data"),
])
def test_no_stations_message(monkeypatch, empty_db_url, lang, expected):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    at = open_metrics(lang=lang)

    assert texts(at.info) == [expected]
    assert at.get("plotly_chart") == []


@pytest.fixture(scope="module")
def denied_url(db_url, metrics_station) -> str:
    """A login role that may read the series catalogue but not the readings behind it."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [DENIED_ROLE]).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {DENIED_ROLE} LOGIN PASSWORD '{DENIED_PASSWORD}'")
        conn.execute(f"GRANT USAGE ON SCHEMA reporting TO {DENIED_ROLE}")
        conn.execute(f"GRANT SELECT ON reporting.v_series TO {DENIED_ROLE}")
    params = conninfo_to_dict(db_url)
    params.update(user=DENIED_ROLE, password=DENIED_PASSWORD)
    return make_conninfo(**params)


def test_failed_panels_leave_page_usable(monkeypatch, denied_url):
    """Reading measurements is denied: the range and chart panels show notes, the pickers still render."""
    monkeypatch.setenv("DATABASE_URL", denied_url)
    ui.clear_query_cache()
    at = open_metrics(**hsy_like_params())

    warnings = texts(at.warning)
    assert len(warnings) == 2
    assert warnings[0].startswith("数据范围暂时无法显示：permission denied")
    assert warnings[1].startswith("曲线和数据表暂时无法显示：permission denied")
    assert at.multiselect(key="stations").value == [STATION]
    assert at.multiselect(key="devices").value == [f"{STATION}:P1"]
    assert at.title[0].value == "站点运行曲线"


# -- chart helpers ----------------------------------------------------------

def bucket_frame(local_times: list[str], zone: str) -> pd.DataFrame:
    buckets = pd.to_datetime(local_times).tz_localize(zone).tz_convert("UTC")
    return pd.DataFrame({"bucket": buckets, "value": 1.0, "value_min": 0.5, "value_max": 1.5,
                         "substituted_count": 0})


def test_daily_buckets_across_dst_no_gap():
    """Local days of 25 hours (Helsinki, 2024-10-27) are neighbours, not a gap."""
    days = bucket_frame(["2024-10-26", "2024-10-27", "2024-10-28"], TZ)

    assert len(charts.insert_gap_breaks(days, charts.BUCKET_STEP_S["daily"])) == 3


def test_gap_break_between_far_buckets():
    """Two hourly buckets three hours apart get one empty point halfway between them."""
    hours = bucket_frame(["2024-11-15 01:00", "2024-11-15 02:00", "2024-11-15 05:00"], TZ)

    with_breaks = charts.insert_gap_breaks(hours, charts.BUCKET_STEP_S["hourly"])

    assert len(with_breaks) == 4
    assert with_breaks["bucket"].iloc[2] == pd.Timestamp("2024-11-15 01:30", tz="UTC")
    assert with_breaks["value"].iloc[2:3].isna().all()

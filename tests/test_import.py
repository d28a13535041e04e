"""File import against the real database: both real export files, small hand-written CSVs and the error cases.

Expected values are computed here from the files themselves (openpyxl, csv,
statistics), never taken from the importer.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import psycopg
import pytest

from core.ingest import IngestError, ImportSummary, import_files, load_profiles
from core.settings import load_settings
from tests.importtools import series_id, small_profile, stored_value, write_profiles

HSY_FILE = "hsy-blominmaki-2024-11.xlsx"
CTOWN_FILE = "batadal-ctown-2014.csv"
HSY_TIMESTAMPS = 1_536
CTOWN_TIMESTAMPS = 8_761


@pytest.fixture(scope="module")
def ingest_settings(tmp_path_factory):
    return load_settings(data_dir=tmp_path_factory.mktemp("ingest-data"))


@pytest.fixture(scope="module")
def hsy_rows(shared_data) -> tuple[list[str], list[tuple]]:
    """Header and data rows of the HSY sheet, read independently of the importer."""
    workbook = openpyxl.load_workbook(shared_data / HSY_FILE, read_only=True, data_only=True)
    rows = list(workbook["Taul1"].iter_rows(values_only=True))
    workbook.close()
    return list(rows[0]), rows[2:]


@pytest.fixture(scope="module")
def ctown_rows(shared_data) -> list[dict[str, str]]:
    with (shared_data / CTOWN_FILE).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def hsy_import(import_url, shared_data, ingest_settings) -> ImportSummary:
    return import_files(import_url, [shared_data / HSY_FILE], "hsy-blominmaki", settings=ingest_settings)


@pytest.fixture(scope="module")
def ctown_import(import_url, shared_data, ingest_settings) -> ImportSummary:
    return import_files(import_url, [shared_data / CTOWN_FILE], "batadal-ctown", settings=ingest_settings)


# ---------------------------------------------------------------- real files


def test_profiles_cover_both_files():
    profiles = load_profiles()

    assert {"hsy-blominmaki", "batadal-ctown"} <= set(profiles)
    assert profiles["hsy-blominmaki"].station.timezone == "Europe/Helsinki"
    assert profiles["hsy-blominmaki"].sample_interval_s == 900
    assert profiles["batadal-ctown"].sample_interval_s == 3600


def test_hsy_summary_counts(hsy_import, hsy_rows):
    header, rows = hsy_rows
    value_columns = len(header) - 1

    assert hsy_import.status == "succeeded"
    assert hsy_import.files == 1
    assert hsy_import.timestamps == len(rows) == HSY_TIMESTAMPS
    assert hsy_import.rows_read == HSY_TIMESTAMPS * value_columns
    assert hsy_import.rows_accepted == hsy_import.rows_read
    assert hsy_import.rows_rejected == 0
    assert hsy_import.rows_duplicate == 0
    assert hsy_import.rows_inserted == hsy_import.rows_read
    assert hsy_import.columns_ignored == []
    assert hsy_import.tz_fallback == 0


def test_hsy_pump_flow_first_reading(hsy_import, hsy_rows, conn):
    header, rows = hsy_rows
    raw_cell = rows[0][header.index("Pump flow 1.1")]
    sid = series_id(conn, "hsy-blominmaki", "P1.1", "flow_rate")

    value = stored_value(conn, sid, datetime(2024, 11, 14, 22, 0, tzinfo=timezone.utc))

    assert rows[0][0] == datetime(2024, 11, 15, 0, 0)
    assert round(value, 2) == 1497.26
    assert value == pytest.approx(raw_cell, rel=1e-12)


def test_hsy_every_column_stored(hsy_import, hsy_rows, conn):
    header, rows = hsy_rows
    profile = load_profiles()["hsy-blominmaki"]
    helsinki = ZoneInfo("Europe/Helsinki")
    first_utc = rows[0][0].replace(tzinfo=helsinki)
    last_utc = rows[-1][0].replace(tzinfo=helsinki)

    assert set(profile.columns) == set(header[1:])
    for column, spec in profile.columns.items():
        sid = series_id(conn, "hsy-blominmaki", spec.device, spec.metric)
        count, first, last, interval_s = conn.execute(
            """SELECT count(*), min(m.ts), max(m.ts), max(se.sample_interval_s)
               FROM public.measurements AS m JOIN public.series AS se USING (series_id)
               WHERE m.series_id = %s""", [sid]).fetchone()
        assert count == HSY_TIMESTAMPS, column
        assert first == first_utc, column
        assert last == last_utc, column
        assert interval_s == 900, column


def test_hsy_hourly_mean_of_quarter_hours(hsy_import, hsy_rows, conn):
    header, rows = hsy_rows
    index = header.index("Sum of pumped flow to WWTP F2")
    hour_start = datetime(2024, 11, 20, 10, 0)
    cells = [row[index] for row in rows if hour_start <= row[0] < hour_start + timedelta(hours=1)]
    start = hour_start.replace(tzinfo=ZoneInfo("Europe/Helsinki"))
    sid = series_id(conn, "hsy-blominmaki", "F2", "flow_rate")

    buckets = conn.execute(
        "SELECT bucket, value, sample_count FROM reporting.get_metrics_hourly(%s::integer[], %s, %s)",
        [[sid], start, start + timedelta(hours=1)]).fetchall()

    assert len(cells) == 4
    assert len(buckets) == 1
    assert buckets[0][0] == start
    assert buckets[0][2] == 4
    assert buckets[0][1] == pytest.approx(statistics.fmean(cells), rel=1e-12)


def test_hsy_inflow_converted_to_cubic_metres_per_hour(hsy_import, hsy_rows, conn):
    header, rows = hsy_rows
    index = header.index("Inflow to tunnel F1")
    helsinki = ZoneInfo("Europe/Helsinki")
    sid = series_id(conn, "hsy-blominmaki", "F1", "flow_rate")
    stored = dict(conn.execute("SELECT ts, value FROM public.measurements WHERE series_id = %s", [sid]).fetchall())

    assert len(stored) == HSY_TIMESTAMPS
    for row in rows:
        assert stored[row[0].replace(tzinfo=helsinki)] == pytest.approx(row[index] * 4, rel=1e-12), row[0]


def test_hsy_price_unit_overridden(hsy_import, hsy_rows, conn):
    header, rows = hsy_rows
    index = header.index("Electricity price 1: high")
    sid = series_id(conn, "hsy-blominmaki", "price_high", "electricity_price")

    value = stored_value(conn, sid, datetime(2024, 11, 14, 22, 0, tzinfo=timezone.utc))

    assert rows[0][index] == 3.383
    assert value == pytest.approx(3.383, rel=1e-12)


def test_hsy_standstill_noise_stored_good(hsy_import, conn):
    qualities = conn.execute(
        """SELECT m.quality, count(*) FROM public.measurements AS m
           JOIN public.series AS se USING (series_id) JOIN public.stations AS s ON s.station_id = se.station_id
           WHERE s.code = 'hsy-blominmaki' GROUP BY m.quality""").fetchall()
    lowest_frequency = conn.execute(
        """SELECT min(m.value) FROM public.measurements AS m JOIN reporting.v_series AS v USING (series_id)
           WHERE v.station_code = 'hsy-blominmaki' AND v.metric_code = 'frequency'""").fetchone()[0]

    assert qualities == [(0, HSY_TIMESTAMPS * 30)]
    assert lowest_frequency < 0


def test_ctown_summary_counts(ctown_import, ctown_rows):
    value_columns = len(ctown_rows[0]) - 1

    assert ctown_import.status == "succeeded"
    assert ctown_import.timestamps == len(ctown_rows) == CTOWN_TIMESTAMPS
    assert ctown_import.rows_read == CTOWN_TIMESTAMPS * value_columns
    assert ctown_import.rows_accepted == ctown_import.rows_read
    assert ctown_import.rows_rejected == 0
    assert ctown_import.rows_duplicate == 0
    assert ctown_import.rows_inserted == ctown_import.rows_read


def test_ctown_every_column_stored(ctown_import, ctown_rows, conn):
    profile = load_profiles()["batadal-ctown"]

    assert set(profile.columns) == set(ctown_rows[0]) - {"DATETIME"}
    for column, spec in profile.columns.items():
        sid = series_id(conn, "batadal-ctown", spec.device, spec.metric)
        count = conn.execute("SELECT count(*) FROM public.measurements WHERE series_id = %s", [sid]).fetchone()[0]
        assert count == CTOWN_TIMESTAMPS, column


def test_ctown_daily_tank_mean(ctown_import, ctown_rows, conn):
    zone_name = conn.execute("SELECT timezone FROM public.stations WHERE code = 'batadal-ctown'").fetchone()[0]
    day_rows = [row for row in ctown_rows if row["DATETIME"].startswith("15/03/14 ")]
    expected = statistics.fmean(float(row["L_T1"]) for row in day_rows)
    start = datetime(2014, 3, 15, tzinfo=ZoneInfo(zone_name))
    sid = series_id(conn, "batadal-ctown", "T1", "level")

    buckets = conn.execute(
        "SELECT bucket, value, sample_count FROM reporting.get_metrics_daily(%s::integer[], %s, %s)",
        [[sid], start, start + timedelta(days=1)]).fetchall()

    assert len(day_rows) == 24
    assert len(buckets) == 1
    assert buckets[0][0] == start
    assert buckets[0][2] == 24
    assert buckets[0][1] == pytest.approx(expected, rel=1e-12)


def test_ctown_units_converted(ctown_import, ctown_rows, conn):
    first = ctown_rows[0]
    moment = datetime(2014, 1, 6, tzinfo=ZoneInfo("Asia/Shanghai"))

    flow = stored_value(conn, series_id(conn, "batadal-ctown", "PU1", "flow_rate"), moment)
    pressure = stored_value(conn, series_id(conn, "batadal-ctown", "J280", "pressure"), moment)
    status = stored_value(conn, series_id(conn, "batadal-ctown", "PU1", "pump_status"), moment)

    assert first["DATETIME"] == "06/01/14 00"
    assert flow == pytest.approx(float(first["F_PU1"]) * 3.6, rel=1e-12)
    assert pressure == pytest.approx(float(first["P_J280"]) * 0.00980665, rel=1e-12)
    assert status == float(first["S_PU1"])


def test_reimport_changes_nothing(import_url, hsy_import, ctown_import, shared_data, ingest_settings):
    again = [
        import_files(import_url, [shared_data / HSY_FILE], "hsy-blominmaki", settings=ingest_settings),
        import_files(import_url, [shared_data / CTOWN_FILE], "batadal-ctown", settings=ingest_settings),
    ]

    for first, second in zip((hsy_import, ctown_import), again):
        assert second.rows_read == first.rows_read
        assert second.rows_inserted == 0
        assert second.rows_updated == 0
        assert second.rows_unchanged == second.rows_accepted == first.rows_accepted


def test_read_equals_accepted_rejected_duplicate(hsy_import, ctown_import):
    for summary in (hsy_import, ctown_import):
        assert summary.rows_read == summary.rows_accepted + summary.rows_rejected + summary.rows_duplicate


def test_run_recorded_in_database(hsy_import, conn):
    status, rows_read, rows_accepted, finished_at = conn.execute(
        "SELECT status, rows_read, rows_accepted, finished_at FROM public.import_runs WHERE run_id = %s",
        [hsy_import.run_id]).fetchone()

    assert status == "succeeded"
    assert rows_read == hsy_import.rows_read
    assert rows_accepted == hsy_import.rows_accepted
    assert finished_at is not None


def test_run_folder_written(hsy_import, shared_data, ingest_settings, import_url):
    run_dir = ingest_settings.runs_dir / hsy_import.run_id
    env_text = (run_dir / "env.json").read_text(encoding="utf-8")
    env = json.loads(env_text)
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    password = psycopg.conninfo.conninfo_to_dict(import_url).get("password")

    assert env["arguments"]["profile"] == "hsy-blominmaki"
    assert env["sources"][0]["size_bytes"] == (shared_data / HSY_FILE).stat().st_size
    assert env["sources"][0]["sha256"] == hashlib.sha256((shared_data / HSY_FILE).read_bytes()).hexdigest()
    assert env["configuration"]["settings"]["ingest_batch_rows"] == ingest_settings.ingest_batch_rows
    assert env["configuration"]["profile"]["station"]["timezone"] == "Europe/Helsinki"
    assert password and password not in env_text
    assert summary["rows_read"] == hsy_import.rows_read
    assert summary["rows_accepted"] == hsy_import.rows_accepted
    assert summary["batches"] == hsy_import.batches
    assert summary["copy_seconds"] > 0
    assert summary["merge_seconds"] > 0


# ---------------------------------------------------------------- small files


def test_small_csv_rejects_reported(import_url, tmp_path, ingest_settings, conn):
    profiles = write_profiles(tmp_path, {"small": small_profile("test-small")})
    data = tmp_path / "small.csv"
    data.write_text("time,flow,level\n"
                    "2024-01-01 00:00,10.5,1.2\n"
                    "2024-01-01 01:00,abc,1.3\n"
                    "2024-01-01 02:00,,1.4\n"
                    "2024-01-01 01:00,11.0,1.5\n"
                    "2024-01-01 03:00,200000,1.6\n", encoding="utf-8")

    summary = import_files(import_url, [data], "small", settings=ingest_settings, profiles_path=profiles)
    rejects = conn.execute(
        "SELECT line_no, column_name, reason_code, detail FROM public.import_rejects WHERE run_id = %s "
        "ORDER BY line_no, column_name", [summary.run_id]).fetchall()
    level_at_one = stored_value(conn, series_id(conn, "test-small", "T1", "level"),
                                datetime(2024, 1, 1, 1, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    rejects_csv = list(csv.DictReader((Path(summary.run_dir) / "rejects.csv").open(encoding="utf-8-sig")))

    assert summary.timestamps == 5
    assert summary.rows_read == 9
    assert summary.rows_missing == 1
    assert summary.rows_accepted == 6
    assert summary.rows_rejected == 2
    assert summary.rows_duplicate == 1
    assert summary.rows_read == summary.rows_accepted + summary.rows_rejected + summary.rows_duplicate
    assert [(line, column, reason) for line, column, reason, _ in rejects] == [
        (3, "flow", "not_a_number"), (5, "level", "duplicate_time"), (6, "flow", "out_of_range")]
    assert "line 3" in rejects[1][3]
    assert "200000" in rejects[2][3]
    assert "100000" in rejects[2][3]
    assert level_at_one == 1.3
    assert [(row["line_no"], row["reason_code"]) for row in rejects_csv] == [
        ("3", "not_a_number"), ("5", "duplicate_time"), ("6", "out_of_range")]
    assert [(row["reason_zh"], row["reason_en"]) for row in rejects_csv][0] == ("不是数字", "not a number")
    assert rejects_csv[2]["reason_zh"] == "超出该指标的有效范围"


def test_several_files_one_run(import_url, tmp_path, ingest_settings, conn):
    profiles = write_profiles(tmp_path, {"small": small_profile("test-two-files")})
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("time,flow,level\n2024-01-02 00:00,1,2\n2024-01-02 01:00,1,2\n", encoding="utf-8")
    second.write_text("time,flow,level\n2024-01-02 02:00,x,2\n", encoding="utf-8")
    calls = []

    summary = import_files(import_url, [first, second], "small", settings=ingest_settings, profiles_path=profiles,
                           progress=lambda done, total: calls.append((done, total)))
    rejects = conn.execute("SELECT line_no, column_name, reason_code FROM public.import_rejects WHERE run_id = %s",
                           [summary.run_id]).fetchall()

    assert summary.files == 2
    assert summary.timestamps == 3
    assert summary.rows_read == 6
    assert summary.batches == 2
    assert [source["timestamps"] for source in summary.sources] == [2, 1]
    assert rejects == [(2, "b.csv:flow", "not_a_number")]
    assert calls[0] == (0, 3)
    assert calls[-1] == (3, 3)


def test_gb18030_semicolon_decimal_comma(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("test-gb18030", encoding="auto", delimiter="auto", decimal=",",
                            columns={"流量": {"device": "P1", "metric": "flow_rate", "unit": "L/s"}})
    profiles = write_profiles(tmp_path, {"gb": profile})
    data = tmp_path / "gb.csv"
    data.write_bytes("time;流量\n2024-02-01 00:00;3,5\n".encode("gb18030"))

    summary = import_files(import_url, [data], "gb", settings=ingest_settings, profiles_path=profiles)
    value = stored_value(conn, series_id(conn, "test-gb18030", "P1", "flow_rate"),
                         datetime(2024, 2, 1, tzinfo=ZoneInfo("Asia/Shanghai")))

    assert summary.rows_accepted == 1
    assert value == pytest.approx(3.5 * 3.6, rel=1e-12)


def test_timezone_fallback_counted(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("test-no-zone")
    profile["station"] = {key: value for key, value in profile["station"].items() if key != "timezone"}
    profiles = write_profiles(tmp_path, {"nozone": profile})
    data = tmp_path / "nozone.csv"
    data.write_text("time,flow,level\n2024-03-01 00:00,1,2\n2024-03-01 01:00,1,2\n", encoding="utf-8")

    summary = import_files(import_url, [data], "nozone", settings=ingest_settings, profiles_path=profiles)
    zone = conn.execute("SELECT timezone FROM public.stations WHERE code = 'test-no-zone'").fetchone()[0]

    assert summary.tz_fallback == 2
    assert zone == ingest_settings.default_timezone


# ---------------------------------------------------------------- errors


def test_unknown_profile_lists_known(import_url, shared_data, ingest_settings):
    with pytest.raises(IngestError) as raised:
        import_files(import_url, [shared_data / CTOWN_FILE], "no-such-profile", settings=ingest_settings)

    assert "no-such-profile" in str(raised.value)
    assert "batadal-ctown" in str(raised.value)
    assert "hsy-blominmaki" in str(raised.value)


def test_missing_file_named(import_url, tmp_path, ingest_settings):
    missing = tmp_path / "absent.csv"

    with pytest.raises(IngestError, match="absent.csv"):
        import_files(import_url, [missing], "batadal-ctown", settings=ingest_settings)


def test_missing_sheet_lists_sheets(import_url, tmp_path, shared_data, ingest_settings):
    profile = load_profiles()["hsy-blominmaki"].model_dump(mode="json", exclude={"name"})
    profile["sheet"] = "Sheet9"
    profiles = write_profiles(tmp_path, {"wrong-sheet": profile})

    with pytest.raises(IngestError) as raised:
        import_files(import_url, [shared_data / HSY_FILE], "wrong-sheet", settings=ingest_settings,
                     profiles_path=profiles)

    assert "Sheet9" in str(raised.value)
    assert "Taul1" in str(raised.value)


def test_missing_header_names_close_ones(import_url, tmp_path, ingest_settings):
    data = tmp_path / "renamed.csv"
    data.write_text("DATETIME,L_T1x\n06/01/14 00,1.0\n", encoding="utf-8")

    with pytest.raises(IngestError) as raised:
        import_files(import_url, [data], "batadal-ctown", settings=ingest_settings)

    assert "'L_T1'" in str(raised.value)
    assert "'L_T1x'" in str(raised.value)


def test_bad_time_names_line_and_value(import_url, tmp_path, ingest_settings, conn):
    profiles = write_profiles(tmp_path, {"small": small_profile("test-bad-time")})
    data = tmp_path / "bad-time.csv"
    data.write_text("time,flow,level\n2024-01-01 00:00,1,2\n01.01.2024 01:00,1,2\n", encoding="utf-8")

    with pytest.raises(IngestError) as raised:
        import_files(import_url, [data], "small", settings=ingest_settings, profiles_path=profiles,
                     run_id="bad-time-run")
    status = conn.execute("SELECT status, error FROM public.import_runs WHERE run_id = 'bad-time-run'").fetchone()

    assert "line 3" in str(raised.value)
    assert "'01.01.2024 01:00'" in str(raised.value)
    assert "%Y-%m-%d %H:%M" in str(raised.value)
    assert status[0] == "failed"
    assert "line 3" in status[1]


def test_invalid_profile_named(tmp_path):
    profile = small_profile("test-invalid")
    profile["columns"]["flow"]["device"] = "P9"
    profiles = write_profiles(tmp_path, {"broken": profile})

    with pytest.raises(IngestError) as raised:
        load_profiles(profiles)

    assert "broken" in str(raised.value)
    assert "P9" in str(raised.value)


def test_reimport_keeps_corrections_unless_told(import_url, tmp_path, ingest_settings, conn):
    profiles = write_profiles(tmp_path, {"small": small_profile("test-keep")})
    data = tmp_path / "keep.csv"
    data.write_text("time,flow,level\n"
                    "2024-02-01 00:00,10.0,1.0\n"
                    "2024-02-01 01:00,11.0,1.1\n", encoding="utf-8")
    import_files(import_url, [data], "small", settings=ingest_settings, profiles_path=profiles)
    flow_id = series_id(conn, "test-keep", "P1", "flow_rate")
    first_hour = datetime(2024, 2, 1, 0, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    conn.execute("SELECT * FROM api.update_measurement_value(%s, %s, 12.5, 0::smallint, 'calibration', '校准后修正', 1, 'op')",
                 [flow_id, first_hour])
    conn.commit()

    kept = import_files(import_url, [data], "small", settings=ingest_settings, profiles_path=profiles)
    value_after_kept = stored_value(conn, flow_id, first_hour)
    overwritten = import_files(import_url, [data], "small", settings=ingest_settings, profiles_path=profiles,
                               overwrite_corrections=True)
    value_after_overwrite = stored_value(conn, flow_id, first_hour)
    substituted = conn.execute("SELECT substituted FROM public.measurements WHERE series_id = %s AND ts = %s",
                               [flow_id, first_hour]).fetchone()[0]

    assert (kept.rows_kept, kept.rows_updated, kept.rows_unchanged) == (1, 0, 3)
    assert value_after_kept == 12.5
    assert (overwritten.rows_kept, overwritten.rows_updated, overwritten.rows_unchanged) == (0, 1, 3)
    assert value_after_overwrite == 10.0
    assert substituted is False


def test_try_float_outside_double_range(conn):
    parsed = conn.execute("SELECT public.try_float('1e999'), public.try_float('-1e-999'), public.try_float('1e308'), "
                          "public.try_float(' 2.5E-3 ')").fetchone()

    assert parsed == (None, None, 1e308, 0.0025)

"""Loading side of the import: how batches are checked and stored, duplicates across batches, concurrency, kills."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from core.ingest import IngestError, import_files
from core.logs import CURRENT_RUN, run_logging
from core.settings import PROJECT_ROOT, load_settings
from tests.importtools import series_id, small_profile, station_readings, stored_value, write_profiles

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def ingest_settings(tmp_path_factory):
    return load_settings(data_dir=tmp_path_factory.mktemp("loading-data"))


@pytest.fixture
def monitor(db_url):
    """An autocommit connection, so that each look at the database is a fresh snapshot."""
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


def hourly_csv(path, first_hour: int, hours: int, flow: float = 10.0) -> None:
    lines = ["time,flow,level"]
    for hour in range(first_hour, first_hour + hours):
        lines.append(f"2024-03-01 {hour:02d}:00,{flow + hour},{1 + hour / 10}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def wait_until(condition, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def minute_lines(start: datetime, minutes: int) -> list[str]:
    return [f"{start + timedelta(minutes=minute):%Y-%m-%d %H:%M},{minute % 500},{minute % 7}"
            for minute in range(minutes)]


# ---------------------------------------------------------------- check and store


def test_overlapping_import_inserts_new_only(db_url, tmp_path, ingest_settings, conn):
    profiles = write_profiles(tmp_path, {"small": small_profile("load-overlap")})
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    hourly_csv(first, 0, 2)
    hourly_csv(second, 0, 4)

    before = import_files(db_url, [first], "small", settings=ingest_settings, profiles_path=profiles)
    after = import_files(db_url, [second], "small", settings=ingest_settings, profiles_path=profiles)
    flow_id = series_id(conn, "load-overlap", "P1", "flow_rate")

    assert (before.rows_inserted, before.rows_updated, before.rows_unchanged) == (4, 0, 0)
    assert (after.rows_inserted, after.rows_updated, after.rows_unchanged) == (4, 0, 4)
    assert stored_value(conn, flow_id, datetime(2024, 3, 1, 3, tzinfo=SHANGHAI)) == 13.0


def test_concurrent_insert_falls_back_to_upsert(db_url, tmp_path, ingest_settings, conn, monitor):
    """A reading another session stores after the store step's check makes the batch an upsert, not an error."""
    profiles = write_profiles(tmp_path, {"small": small_profile("load-race")})
    catalogue_only = tmp_path / "catalogue.csv"
    hourly_csv(catalogue_only, 20, 1)
    import_files(db_url, [catalogue_only], "small", settings=ingest_settings, profiles_path=profiles)
    flow_id = series_id(conn, "load-race", "P1", "flow_rate")
    data = tmp_path / "race.csv"
    hourly_csv(data, 0, 3)

    other = psycopg.connect(db_url)
    other.execute("INSERT INTO public.measurements (series_id, ts, value, quality, source_id) "
                  "VALUES (%s, %s, 99.0, 0, 3)", [flow_id, datetime(2024, 3, 1, 1, tzinfo=SHANGHAI)])
    outcome = {}
    importer = threading.Thread(target=lambda: outcome.update(summary=import_files(
        db_url, [data], "small", settings=ingest_settings, profiles_path=profiles)))
    importer.start()
    waited_on_lock = wait_until(lambda: monitor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pumpdash-import' "
        "AND wait_event_type = 'Lock'").fetchone()[0] == 1)
    other.commit()
    other.close()
    importer.join(timeout=60)
    summary = outcome["summary"]

    assert waited_on_lock
    assert (summary.rows_inserted, summary.rows_updated, summary.rows_unchanged) == (5, 1, 0)
    assert stored_value(conn, flow_id, datetime(2024, 3, 1, 1, tzinfo=SHANGHAI)) == 11.0


REASON_CASES = [
    # line, device, unit, local time, UTC time, fold, value text, quality text, expected reason (None: accepted)
    (2, "X9", "m3/h", "2024-03-05 10:00", None, None, "1", None, "unknown_point"),
    (3, "P1", "m3/h", None, None, None, "1", None, "missing_time"),
    (4, "P1", "m3/h", "2024-03-31 03:30", None, None, "1", None, "nonexistent_local_time"),
    (5, "P1", "m3/h", "2024-10-27 03:30", None, 0, "1", None, "ambiguous_local_time"),
    (6, "P1", "m3/h", "2024-03-05 11:00", None, None, " ", None, "missing_value"),
    (7, "P1", "m3/h", "2024-03-05 12:00", None, None, "NaN", None, "not_finite"),
    (8, "P1", "m3/h", "2024-03-05 13:00", None, None, " -Infinity ", None, "not_finite"),
    (9, "P1", "m3/h", "2024-03-05 14:00", None, None, "1,5", None, "not_a_number"),
    (10, "P1", "furlong/h", "2024-03-05 15:00", None, None, "1", None, "unknown_unit"),
    (11, "P1", "m3/h", "2024-03-05 16:00", None, None, "200000", None, "out_of_range"),
    (12, "P1", "m3/h", "2024-03-05 16:30", None, None, "1", "X7", "unknown_quality"),
    (13, "P1", "m3/h", None, "2204-01-01 00:00+00", None, "1", None, "outside_horizon"),
    (14, "P1", "L/s", "2024-03-05 17:00", None, None, "2.5", None, None),
    (15, "P1", "m3/h", "2024-03-05 18:00", None, None, "4", None, None),
    (16, "P1", "m3/h", "2024-03-05 18:00", None, None, "5", None, "duplicate_time"),
]


def test_merge_gives_every_reason(db_url, tmp_path, ingest_settings, conn):
    """Each validation rule, on readings staged by hand into the session's staging table."""
    station = {"code": "load-reasons", "name_zh": "测试站", "name_en": "test station", "timezone": "Europe/Helsinki"}
    profiles = write_profiles(tmp_path, {"small": small_profile("load-reasons", station=station)})
    catalogue_only = tmp_path / "catalogue.csv"
    hourly_csv(catalogue_only, 20, 1)
    import_files(db_url, [catalogue_only], "small", settings=ingest_settings, profiles_path=profiles)
    conn.execute("INSERT INTO public.import_runs (run_id, profile) VALUES ('load-reasons-run', 'small')")
    conn.execute("SELECT public.create_import_staging()")
    for line, device, unit, local_time, utc_time, fold, text, quality_text, _ in REASON_CASES:
        conn.execute(
            "INSERT INTO pg_temp.import_staging (run_id, batch_no, line_no, column_name, station_code, device_code, "
            "metric_code, unit, ts_local, ts_utc, ts_fold, value_text, quality_text) "
            "VALUES ('load-reasons-run', 1, %s, 'flow', 'load-reasons', %s, 'flow_rate', %s, %s, %s, %s, %s, %s)",
            [line, device, unit, local_time, utc_time, fold, text, quality_text])

    counts = conn.execute("SELECT * FROM public.merge_staged_measurements('load-reasons-run', 1, "
                          "p_ambiguous_local_time => 'reject')").fetchone()
    reasons = dict(conn.execute("SELECT line_no, reason_code FROM public.import_rejects "
                                "WHERE run_id = 'load-reasons-run'").fetchall())
    flow_id = series_id(conn, "load-reasons", "P1", "flow_rate")
    helsinki = ZoneInfo("Europe/Helsinki")
    converted = stored_value(conn, flow_id, datetime(2024, 3, 5, 17, tzinfo=helsinki))
    first_line = stored_value(conn, flow_id, datetime(2024, 3, 5, 18, tzinfo=helsinki))
    staged_before_commit = conn.execute("SELECT count(*) FROM pg_temp.import_staging").fetchone()[0]
    conn.commit()
    staged_after_commit = conn.execute("SELECT count(*) FROM pg_temp.import_staging").fetchone()[0]

    for line, *_, expected in REASON_CASES:
        assert reasons.get(line) == expected, f"line {line}"
    assert counts[:4] == (len(REASON_CASES), 2, len(REASON_CASES) - 3, 1)
    assert counts[4:7] == (2, 0, 0)
    assert converted == 9.0
    assert first_line == 4.0
    assert staged_before_commit == len(REASON_CASES)
    assert staged_after_commit == 0


def test_store_without_check_fails(conn):
    with pytest.raises(psycopg.errors.UndefinedTable) as raised:
        conn.execute("SELECT * FROM public.store_checked_measurements()")

    assert "no checked batch" in str(raised.value)


class RunRecorder(logging.Handler):
    """Keep (thread name, event, routed run id) of every record, as the by_run log routing would see it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.threadName, record.getMessage(), CURRENT_RUN.get()))


def test_step_threads_log_to_run(db_url, tmp_path, ingest_settings):
    """The check and store threads' database calls are routed to the run, like the calls of the calling thread."""
    profiles = write_profiles(tmp_path, {"small": small_profile("load-log-run")})
    data = tmp_path / "log-run.csv"
    hourly_csv(data, 0, 3)
    recorder = RunRecorder()
    db_logger = logging.getLogger("core.db")
    db_logger.addHandler(recorder)
    level = db_logger.level
    db_logger.setLevel(logging.DEBUG)
    try:
        with run_logging("load-log-run"):
            import_files(db_url, [data], "small", settings=ingest_settings, profiles_path=profiles,
                         run_id="load-log-run")
    finally:
        db_logger.removeHandler(recorder)
        db_logger.setLevel(level)
    step_records = [record for record in recorder.records if record[0].startswith(("ingest-check", "ingest-store"))]

    assert {thread.split("_")[0] for thread, _, _ in step_records} == {"ingest-check", "ingest-store"}
    assert {run for _, _, run in step_records} == {"load-log-run"}


# ---------------------------------------------------------------- duplicates across batches


def test_duplicate_across_three_batches(db_url, tmp_path, ingest_settings, conn, monitor):
    """A key in three batches: both later lines name the first, and a repeat inside a batch does too."""
    settings = ingest_settings.model_copy(update={"ingest_batch_rows": 1000})
    start = datetime(2024, 6, 2)
    lines = ["time,flow,level", *minute_lines(start, 500)]
    lines += [f"{start:%Y-%m-%d %H:%M},900,2.0", *minute_lines(start + timedelta(hours=10), 499)]
    lines += [f"{start:%Y-%m-%d %H:%M},901,3.0", f"{start:%Y-%m-%d %H:%M},902,4.0"]
    data = tmp_path / "three-batches.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    profiles = write_profiles(tmp_path, {"small": small_profile("load-dup-three")})

    summary = import_files(db_url, [data], "small", settings=settings, profiles_path=profiles)
    details = conn.execute("SELECT line_no, column_name, detail FROM public.import_rejects WHERE run_id = %s "
                           "ORDER BY line_no, column_name", [summary.run_id]).fetchall()
    moment = start.replace(tzinfo=SHANGHAI)
    keys_left = monitor.execute("SELECT count(*) FROM public.import_file_keys WHERE run_id = %s",
                                [summary.run_id]).fetchone()[0]

    assert summary.batches == 3
    assert (summary.rows_read, summary.rows_accepted, summary.rows_duplicate) == (2004, 1998, 6)
    assert [row[:2] for row in details] == [(502, "flow"), (502, "level"), (1002, "flow"), (1002, "level"),
                                            (1003, "flow"), (1003, "level")]
    assert {row[2] for row in details} == {"same point and time as line 2, which is kept"}
    assert stored_value(conn, series_id(conn, "load-dup-three", "P1", "flow_rate"), moment) == 0.0
    assert keys_left == 0


def test_keys_of_failed_run_deleted(db_url, tmp_path, monitor):
    profiles = write_profiles(tmp_path, {"small": small_profile("load-keys-failed")})
    lines = ["time,flow,level", *minute_lines(datetime(2024, 6, 3), 1200)]
    lines[1001] = "not a time,1,1"
    data = tmp_path / "keys-failed.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", ingest_batch_rows=1_000)

    with pytest.raises(IngestError):
        import_files(db_url, [data], "small", settings=settings, profiles_path=profiles, run_id="keys-failed-run")
    keys_left = monitor.execute("SELECT count(*) FROM public.import_file_keys WHERE run_id = 'keys-failed-run'"
                                ).fetchone()[0]

    assert keys_left == 0


def test_keys_of_ended_session_deleted(db_url, monitor):
    with psycopg.connect(db_url, autocommit=True) as ended:
        ended.execute("INSERT INTO public.import_file_keys (run_id, file_key, batch_no, series_id, min_ts, max_ts, "
                      "times, line_nos) VALUES ('ended-run', 'f.csv', 1, 1, now(), now(), ARRAY[now()], ARRAY[2])")
    wait_until(lambda: monitor.execute("SELECT count(*) FROM pg_stat_activity AS a JOIN public.import_file_keys AS k "
                                       "ON k.backend_pid = a.pid WHERE k.run_id = 'ended-run'").fetchone()[0] == 0)

    deleted = monitor.execute("SELECT public.delete_import_file_keys('another-run')").fetchone()[0]
    left = monitor.execute("SELECT count(*) FROM public.import_file_keys WHERE run_id = 'ended-run'").fetchone()[0]

    assert deleted >= 1
    assert left == 0


# ---------------------------------------------------------------- failures


KILLED_IMPORT_SCRIPT = """
import json, sys
from pathlib import Path
from core.ingest import import_files
from core.settings import load_settings
arguments = json.loads(sys.argv[1])
settings = load_settings(data_dir=Path(arguments["data_dir"]), ingest_batch_rows=arguments["batch_rows"])
import_files(arguments["url"], [Path(arguments["file"])], "small", settings=settings,
             profiles_path=Path(arguments["profiles"]))
"""


def test_killed_import_keeps_whole_batches(db_url, tmp_path, monitor):
    """SIGKILL during an import leaves only whole batches, and running the file again completes it."""
    profiles = write_profiles(tmp_path, {"small": small_profile("load-killed", time_format="%Y-%m-%d %H:%M:%S")})
    data = tmp_path / "long.csv"
    lines = 100_000
    batch_rows = 2_000  # readings: two per line, so each batch is exactly 1,000 lines
    start = datetime(2024, 4, 1)
    with data.open("w", encoding="utf-8") as handle:
        handle.write("time,flow,level\n")
        for second in range(lines):
            moment = start + timedelta(seconds=second)
            handle.write(f"{moment:%Y-%m-%d %H:%M:%S},{second % 500},{second % 7}\n")
    arguments = {"url": db_url, "file": str(data), "profiles": str(profiles), "data_dir": str(tmp_path / "data"),
                 "batch_rows": batch_rows}

    child = subprocess.Popen([sys.executable, "-c", KILLED_IMPORT_SCRIPT, json.dumps(arguments)], cwd=PROJECT_ROOT,
                             env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    started_storing = wait_until(lambda: station_readings(monitor, "load-killed") >= 3 * batch_rows)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    # The server ends the backend's transaction once it notices the client is gone.
    backend_gone = wait_until(lambda: monitor.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pumpdash-import'").fetchone()[0] == 0)
    stored_after_kill = station_readings(monitor, "load-killed")
    settings = load_settings(data_dir=tmp_path / "data", ingest_batch_rows=batch_rows)
    rerun = import_files(db_url, [data], "small", settings=settings, profiles_path=profiles)
    stored_after_rerun = station_readings(monitor, "load-killed")
    orphan_keys = monitor.execute("SELECT count(*) FROM public.import_file_keys AS k "
                                  "WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.pid = k.backend_pid)"
                                  ).fetchone()[0]

    assert started_storing
    assert backend_gone
    assert stored_after_kill < 2 * lines
    assert stored_after_kill % batch_rows == 0
    assert rerun.rows_inserted == 2 * lines - stored_after_kill
    assert rerun.rows_unchanged == stored_after_kill
    assert rerun.rows_duplicate == 0
    assert stored_after_rerun == 2 * lines
    assert orphan_keys == 0


def test_failed_batch_keeps_earlier_ones(db_url, tmp_path, monitor):
    """A bad time in the seventh batch stops the import after the six before it are stored and counted."""
    profiles = write_profiles(tmp_path, {"small": small_profile("load-stops", time_format="%Y-%m-%d %H:%M:%S")})
    data = tmp_path / "stops.csv"
    start = datetime(2024, 5, 1)
    lines = ["time,flow,level"]
    for second in range(5_000):
        moment = start + timedelta(seconds=second)
        lines.append(f"{moment:%Y-%m-%d %H:%M:%S},{second % 500},{second % 7}")
    lines[3_001] = "not a time,1,1"  # file line 3002: the first line of the seventh batch of 500 lines
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data", ingest_batch_rows=1_000)

    with pytest.raises(IngestError) as raised:
        import_files(db_url, [data], "small", settings=settings, profiles_path=profiles, run_id="stops-run")
    run = monitor.execute("SELECT status, rows_read, rows_accepted FROM public.import_runs "
                          "WHERE run_id = 'stops-run'").fetchone()

    assert "line 3002" in str(raised.value)
    assert run == ("failed", 6_000, 6_000)
    assert station_readings(monitor, "load-stops") == 6_000

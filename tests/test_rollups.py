"""Hourly and daily rollups: exact buckets, DST days, fresh after writes, safe under concurrency."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg
import pytest

BERLIN = ZoneInfo("Europe/Berlin")
UTC = timezone.utc
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _station(conn, code: str, timezone_name: str) -> int:
    conn.execute("SELECT public.ensure_station(%s, %s, %s, %s)", [code, code, code, timezone_name])
    conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1号泵', 'Pump 1')", [code])
    return conn.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', 900)", [code]).fetchone()[0]


def _insert(conn, series_id: int, readings: list[tuple[datetime, float]]) -> None:
    conn.execute("SELECT public.ensure_measurement_partitions(%s, %s)", [readings[0][0], readings[-1][0]])
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, source_id) VALUES (%s, %s, %s, 2)",
            [(series_id, ts, value) for ts, value in readings])


def _quarter_hours(start: datetime, end: datetime, offset: int = 0) -> list[tuple[datetime, float]]:
    readings, ts, index = [], start, offset
    while ts < end:
        readings.append((ts, float((index * 37) % 101)))
        ts += timedelta(minutes=15)
        index += 1
    return readings


def _expected(readings, bucket_of) -> dict[datetime, tuple[int, float, float, float, float, float]]:
    groups = defaultdict(list)
    for ts, value in readings:
        groups[bucket_of(ts)].append((ts, value))
    expected = {}
    for bucket, rows in groups.items():
        values = [value for _, value in sorted(rows)]
        expected[bucket] = (len(values), statistics.fmean(values), min(values), max(values), values[0], values[-1])
    return expected


def _read(conn, function: str, series_id: int) -> dict[datetime, tuple]:
    rows = conn.execute(
        f"SELECT bucket, sample_count, value_avg, value_min, value_max, value_first, value_last "
        f"FROM reporting.{function}(%s, %s, %s)", [[series_id], *ALL_TIME]).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _assert_buckets_equal(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for bucket, (count, mean, low, high, first, last) in expected.items():
        assert actual[bucket][0] == count, bucket
        assert actual[bucket][1] == pytest.approx(mean, abs=1e-9), bucket
        assert actual[bucket][2:] == (low, high, first, last), bucket


def _refresh(conn, rollup: str) -> tuple:
    return conn.execute(f"SELECT * FROM reporting.refresh_{rollup}()").fetchone()


@pytest.fixture(scope="module")
def autocommit_conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def berlin_series(autocommit_conn):
    conn = autocommit_conn
    series_id = _station(conn, "rollup-berlin", "Europe/Berlin")
    readings = (_quarter_hours(datetime(2024, 3, 29, tzinfo=UTC), datetime(2024, 4, 2, tzinfo=UTC))
                + _quarter_hours(datetime(2024, 10, 25, tzinfo=UTC), datetime(2024, 10, 29, tzinfo=UTC), 500))
    _insert(conn, series_id, readings)
    return series_id, readings


def test_berlin_dst_days_exact(berlin_series, autocommit_conn):
    series_id, readings = berlin_series
    expected = _expected(readings, lambda ts: datetime.combine(
        ts.astimezone(BERLIN).date(), datetime.min.time(), BERLIN).astimezone(UTC))
    spring = datetime(2024, 3, 31, tzinfo=BERLIN)
    autumn = datetime(2024, 10, 27, tzinfo=BERLIN)

    before_refresh = _read(autocommit_conn, "get_metrics_daily", series_id)
    _refresh(autocommit_conn, "hourly")
    _refresh(autocommit_conn, "daily")
    after_refresh = _read(autocommit_conn, "get_metrics_daily", series_id)

    assert expected[spring][0] == 92
    assert expected[autumn][0] == 100
    _assert_buckets_equal(before_refresh, expected)
    _assert_buckets_equal(after_refresh, expected)


def test_berlin_hours_exact(berlin_series, autocommit_conn):
    series_id, readings = berlin_series
    expected = _expected(readings, lambda ts: ts.replace(minute=0))

    _refresh(autocommit_conn, "hourly")
    materialized = autocommit_conn.execute(
        "SELECT count(*) FROM reporting.mv_measurements_hourly WHERE series_id = %s", [series_id]).fetchone()[0]

    _assert_buckets_equal(_read(autocommit_conn, "get_metrics_hourly", series_id), expected)
    assert materialized == len(expected) == 192


@pytest.mark.parametrize("change", ["update", "delete", "late_insert"])
def test_write_visible_before_and_after_refresh(autocommit_conn, change):
    conn = autocommit_conn
    series_id = _station(conn, f"rollup-{change}", "Asia/Shanghai")
    readings = _quarter_hours(datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 3, tzinfo=UTC))
    _insert(conn, series_id, readings)
    _refresh(conn, "hourly")
    _refresh(conn, "daily")
    hour = datetime(2024, 6, 1, 10, tzinfo=UTC)

    if change == "update":
        conn.execute("UPDATE public.measurements SET value = 1000 WHERE series_id = %s AND ts = %s", [series_id, hour])
        readings = [(ts, 1000.0 if ts == hour else value) for ts, value in readings]
    elif change == "delete":
        conn.execute("DELETE FROM public.measurements WHERE series_id = %s AND ts = %s", [series_id, hour])
        readings = [(ts, value) for ts, value in readings if ts != hour]
    else:
        late = [(datetime(2024, 5, 31, 23, 30, tzinfo=UTC), 42.0)]
        _insert(conn, series_id, late)
        readings = late + readings

    expected_hours = _expected(readings, lambda ts: ts.replace(minute=0))
    shanghai = ZoneInfo("Asia/Shanghai")
    expected_days = _expected(readings, lambda ts: datetime.combine(
        ts.astimezone(shanghai).date(), datetime.min.time(), shanghai).astimezone(UTC))

    _assert_buckets_equal(_read(conn, "get_metrics_hourly", series_id), expected_hours)
    _assert_buckets_equal(_read(conn, "get_metrics_daily", series_id), expected_days)
    _refresh(conn, "hourly")
    _refresh(conn, "daily")
    _assert_buckets_equal(_read(conn, "get_metrics_hourly", series_id), expected_hours)
    _assert_buckets_equal(_read(conn, "get_metrics_daily", series_id), expected_days)
    stored = conn.execute(
        "SELECT sum(sample_count) FROM reporting.mv_measurements_hourly WHERE series_id = %s", [series_id]).fetchone()[0]
    assert stored == len(readings)


def test_concurrent_refresh_skipped_no_double_count(db_url, autocommit_conn):
    series_id = _station(autocommit_conn, "rollup-concurrent", "Asia/Shanghai")
    readings = _quarter_hours(datetime(2024, 7, 1, tzinfo=UTC), datetime(2024, 7, 2, tzinfo=UTC))
    _insert(autocommit_conn, series_id, readings)

    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        first_result = first.execute("SELECT status FROM reporting.refresh_hourly()").fetchone()
        second_result = second.execute("SELECT status FROM reporting.refresh_hourly()").fetchone()
        first.commit()
        second.commit()
    again = autocommit_conn.execute("SELECT status FROM reporting.refresh_hourly()").fetchone()
    stored = autocommit_conn.execute(
        "SELECT count(*), sum(sample_count) FROM reporting.mv_measurements_hourly WHERE series_id = %s",
        [series_id]).fetchone()

    assert first_result == ("done",)
    assert second_result == ("skipped",)
    assert again == ("done",)
    assert stored == (24, 96)


def test_reader_not_blocked_by_refresh_during_import(db_url, autocommit_conn):
    series_id = _station(autocommit_conn, "rollup-busy", "Asia/Shanghai")
    _insert(autocommit_conn, series_id, _quarter_hours(datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 2, tzinfo=UTC)))
    _refresh(autocommit_conn, "hourly")

    with psycopg.connect(db_url) as writer:
        _insert(writer, series_id, _quarter_hours(datetime(2024, 8, 2, tzinfo=UTC), datetime(2024, 8, 3, tzinfo=UTC)))
        refresh = writer.execute("SELECT status FROM reporting.refresh_hourly()").fetchone()
        with psycopg.connect(db_url, autocommit=True) as reader:
            reader.execute("SET statement_timeout = '1s'")
            seen = reader.execute(
                "SELECT count(*) FROM reporting.get_metrics_hourly(%s, %s, %s)", [[series_id], *ALL_TIME]).fetchone()
            rollup_read = reader.execute(
                "SELECT count(*) FROM reporting.mv_measurements_hourly WHERE series_id = %s", [series_id]).fetchone()
        writer.commit()

    assert refresh == ("done",)
    assert seen == (24,)
    assert rollup_read == (24,)


def test_refresh_writes_log_row(autocommit_conn):
    before = autocommit_conn.execute("SELECT count(*) FROM reporting.rollup_refresh_log").fetchone()[0]

    result = autocommit_conn.execute("SELECT * FROM reporting.refresh_daily()").fetchone()
    logged = autocommit_conn.execute(
        "SELECT rollup, mode, status, invalidations, buckets_written FROM reporting.rollup_refresh_log "
        "ORDER BY refresh_id DESC LIMIT 1").fetchone()

    assert autocommit_conn.execute("SELECT count(*) FROM reporting.rollup_refresh_log").fetchone()[0] == before + 1
    assert logged == ("daily", "incremental", "done", result[3], result[5])


def test_first_refresh_of_fresh_install(pg_server):
    from core.migrate import migrate

    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "rollup_fresh"')
        admin.execute('CREATE DATABASE "rollup_fresh"')
    url = pg_server.url("rollup_fresh")
    migrate(url)

    with psycopg.connect(url, autocommit=True) as conn:
        status_before = conn.execute("SELECT rollup, watermark FROM reporting.get_rollup_status()").fetchall()
        series_id = _station(conn, "fresh", "Asia/Shanghai")
        _insert(conn, series_id, _quarter_hours(datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 2, tzinfo=UTC)))
        hourly = _refresh(conn, "hourly")
        daily = _refresh(conn, "daily")
        counts = conn.execute("SELECT (SELECT count(*) FROM reporting.mv_measurements_hourly), "
                              "(SELECT count(*) FROM reporting.mv_measurements_daily)").fetchone()
        pending = conn.execute("SELECT pending_invalidations FROM reporting.get_rollup_status()").fetchall()

    assert status_before == [("hourly", None), ("daily", None)]
    assert hourly[0] == "done"
    assert hourly[1] is None
    assert hourly[5] == 24
    assert daily[0] == "done"
    assert daily[5] == 2
    assert counts == (24, 2)
    assert pending == [(0,), (0,)]


def test_invalid_rollup_name_rejected(autocommit_conn):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        autocommit_conn.execute("SELECT * FROM reporting.refresh_rollup('weekly')")

    assert "weekly" in str(error.value)
    assert "hourly or daily" in str(error.value)


def test_hsy_rollups_match_raw_rows(db_url, shared_data, autocommit_conn, tmp_path):
    from core.ingest import import_files
    from core.settings import load_settings

    helsinki = ZoneInfo("Europe/Helsinki")
    import_files(db_url, [shared_data / "hsy-blominmaki-2024-11.xlsx"], "hsy-blominmaki",
                 settings=load_settings(data_dir=tmp_path))
    _refresh(autocommit_conn, "hourly")
    _refresh(autocommit_conn, "daily")
    series_ids = [row[0] for row in autocommit_conn.execute(
        "SELECT series_id FROM reporting.v_series WHERE station_code = 'hsy-blominmaki' ORDER BY series_id")]

    assert len(series_ids) == 30
    for series_id in series_ids:
        readings = autocommit_conn.execute(
            "SELECT ts, value FROM public.measurements WHERE series_id = %s ORDER BY ts", [series_id]).fetchall()
        hours = _expected(readings, lambda ts: ts.replace(minute=0))
        days = _expected(readings, lambda ts: datetime.combine(
            ts.astimezone(helsinki).date(), datetime.min.time(), helsinki).astimezone(UTC))
        stored_hours = autocommit_conn.execute(
            "SELECT count(*) FROM reporting.mv_measurements_hourly WHERE series_id = %s", [series_id]).fetchone()[0]

        assert len(readings) == 1536, series_id
        assert len(hours) == 384, series_id
        assert len(days) == 16, series_id
        assert stored_hours == 384, series_id
        _assert_buckets_equal(_read(autocommit_conn, "get_metrics_hourly", series_id), hours)
        _assert_buckets_equal(_read(autocommit_conn, "get_metrics_daily", series_id), days)

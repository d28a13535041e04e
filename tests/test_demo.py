"""Demo generator: exact counts, valid ranges, pump physics, re-runs and local days, on the real test database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import psycopg
import pytest

from core.demo import database_has_stations, generate_demo

# A Monday 00:00 UTC, so the two-week window contains two whole weekends.
END = datetime(2026, 1, 12, tzinfo=timezone.utc)
PREFIX_15MIN = "test-demo"
PREFIX_1MIN = "test-demo-minute"
PREFIX_WEEKS = "test-demo-weeks"


def _fetch(db_url: str, query: str, params: list) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute(query, params).fetchall()


def _row_count(db_url: str, prefix: str) -> int:
    rows = _fetch(db_url, """
        SELECT count(*) FROM public.measurements AS m
        JOIN reporting.v_series AS v USING (series_id)
        WHERE v.station_code LIKE %s""", [f"{prefix}-__"])
    return rows[0][0]


def _readings(db_url: str, station_code: str) -> pd.DataFrame:
    """Readings of one station as a table: one column per `device.metric`, indexed by local time."""
    rows = _fetch(db_url, """
        SELECT v.device_code || '.' || v.metric_code, m.ts, m.value, v.timezone
        FROM public.measurements AS m
        JOIN reporting.v_series AS v USING (series_id)
        WHERE v.station_code = %s""", [station_code])
    frame = pd.DataFrame(rows, columns=["point", "ts", "value", "timezone"])
    table = frame.pivot(index="ts", columns="point", values="value").sort_index()
    table.index = pd.DatetimeIndex(table.index).tz_convert(frame["timezone"].iloc[0])
    return table


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    """Exponent b of y = a * x**b fitted by least squares in log-log space."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@pytest.fixture(scope="module")
def report_15min(db_url):
    return generate_demo(db_url, stations=3, days=2, interval_min=15, end=END, station_prefix=PREFIX_15MIN)


@pytest.fixture(scope="module")
def minute_readings(db_url) -> pd.DataFrame:
    generate_demo(db_url, stations=1, days=1, interval_min=1, end=END, station_prefix=PREFIX_1MIN)
    return _readings(db_url, f"{PREFIX_1MIN}-01")


@pytest.fixture(scope="module")
def weeks_readings(db_url) -> pd.DataFrame:
    generate_demo(db_url, stations=1, days=14, interval_min=15, end=END, station_prefix=PREFIX_WEEKS)
    return _readings(db_url, f"{PREFIX_WEEKS}-01")


def test_report_counts_rows_exactly(db_url, report_15min):
    assert report_15min.stations == 3
    assert report_15min.series == 30
    assert report_15min.rows == 3 * 10 * 2 * 96
    assert report_15min.interval_s == 900
    assert report_15min.start == END - timedelta(days=2)
    assert report_15min.end == END
    assert report_15min.rows_per_second > 0
    assert _row_count(db_url, PREFIX_15MIN) == 3 * 10 * 2 * 96


def test_every_series_covers_window(db_url, report_15min):
    rows = _fetch(db_url, """
        SELECT v.series_id, count(m.ts), min(m.ts), max(m.ts), v.sample_interval_s
        FROM reporting.v_series AS v
        LEFT JOIN public.measurements AS m USING (series_id)
        WHERE v.station_code LIKE %s
        GROUP BY v.series_id, v.sample_interval_s""", [f"{PREFIX_15MIN}-__"])

    assert len(rows) == 30
    for series_id, count, first, last, interval_s in rows:
        assert count == 192, series_id
        assert first == END - timedelta(days=2), series_id
        assert last == END - timedelta(minutes=15), series_id
        assert interval_s == 900, series_id


def test_catalogue_names_kinds_and_zones(db_url, report_15min):
    stations = _fetch(db_url, "SELECT code, name_zh, name_en, timezone FROM public.stations WHERE code LIKE %s ORDER BY code",
                      [f"{PREFIX_15MIN}-__"])
    devices = _fetch(db_url, """
        SELECT d.code, d.kind, d.name_zh, d.name_en FROM public.devices AS d
        JOIN public.stations AS s USING (station_id) WHERE s.code = %s ORDER BY d.code""", [f"{PREFIX_15MIN}-01"])

    assert stations == [
        ("test-demo-01", "演示泵站 01", "Demo station 01", "Asia/Shanghai"),
        ("test-demo-02", "演示泵站 02", "Demo station 02", "Asia/Shanghai"),
        ("test-demo-03", "演示泵站 03", "Demo station 03", "Asia/Urumqi"),
    ]
    assert devices == [
        ("pump-1", "pump", "1号泵", "Pump 1"),
        ("pump-2", "pump", "2号泵", "Pump 2"),
        ("station", "station", "全站", "Whole station"),
        ("well", "tank", "集水井", "Wet well"),
    ]


def test_values_within_valid_range(db_url, report_15min, minute_readings, weeks_readings):
    rows = _fetch(db_url, """
        SELECT v.metric_code, count(*),
               count(*) FILTER (WHERE m.value < v.valid_min OR m.value > v.valid_max OR m.value IS NULL),
               count(*) FILTER (WHERE m.quality <> 0 OR src.code <> 'demo')
        FROM public.measurements AS m
        JOIN reporting.v_series AS v USING (series_id)
        JOIN public.measurement_sources AS src USING (source_id)
        WHERE v.station_code LIKE 'test-demo%%'
        GROUP BY v.metric_code""", [])

    assert {metric for metric, *_ in rows} == {"flow_rate", "outlet_pressure", "energy", "level", "power", "frequency"}
    for metric, total, out_of_range, not_good_demo in rows:
        assert total > 0, metric
        assert out_of_range == 0, metric
        assert not_good_demo == 0, metric


def test_pumps_switch_on_and_off(minute_readings):
    for pump in ("pump-1", "pump-2"):
        frequency = minute_readings[f"{pump}.frequency"]
        on = frequency > 0
        starts = int((on & ~on.shift(1, fill_value=False)).sum())

        assert 0 < on.mean() < 1, pump
        assert starts >= 3, pump
        assert frequency[on].between(30, 50).all(), pump
        assert (minute_readings.loc[~on, f"{pump}.flow_rate"] == 0).all(), pump
        assert (minute_readings.loc[~on, f"{pump}.power"] == 0).all(), pump
        assert (minute_readings.loc[on, f"{pump}.flow_rate"] > 0).all(), pump


def test_pumps_follow_affinity_laws(minute_readings):
    # Readings carry 1 % flow noise, 0.8 % power noise and 0.05 Hz frequency
    # noise, so power/flow³ scatters by about sqrt(3² x 1² + 0.8²) = 3.1 %.
    # Were power ∝ speed² instead, power/flow³ would change by a factor of
    # 50/30 = 1.67 across the speed range, a spread far above these limits.
    for pump in ("pump-1", "pump-2"):
        running = minute_readings[minute_readings[f"{pump}.frequency"] > 0]
        frequency = running[f"{pump}.frequency"].to_numpy()
        flow = running[f"{pump}.flow_rate"].to_numpy()
        power = running[f"{pump}.power"].to_numpy()
        power_per_flow_cubed = power / flow ** 3

        assert frequency.max() - frequency.min() >= 10, pump
        assert _slope(frequency, flow) == pytest.approx(1, abs=0.05), pump
        assert _slope(frequency, power) == pytest.approx(3, abs=0.15), pump
        assert power_per_flow_cubed.std() / power_per_flow_cubed.mean() < 0.06, pump


def test_station_flow_is_sum_of_pumps(minute_readings):
    pumps_m3h = minute_readings["pump-1.flow_rate"] + minute_readings["pump-2.flow_rate"]
    station_m3h = minute_readings["station.flow_rate"]
    running = pumps_m3h > 0

    assert (station_m3h[~running] == 0).all()
    # Pump meters have 1 % noise and the station meter 0.5 %, so 5 % is over four standard deviations.
    assert ((station_m3h[running] / pumps_m3h[running] - 1).abs() < 0.05).all()


def test_energy_integrates_power(minute_readings):
    # At one-minute samples each interval's energy is that minute's power / 60
    # before the 0.8 % power reading noise, which averages out over a day.
    power_kw = minute_readings["pump-1.power"] + minute_readings["pump-2.power"]
    energy_kwh = minute_readings["station.energy"]

    assert energy_kwh.sum() == pytest.approx(power_kw.sum() / 60, rel=0.01)
    assert (energy_kwh[power_kw == 0] == 0).all()


def test_outlet_pressure_follows_pump_head(minute_readings):
    frequency = minute_readings[["pump-1.frequency", "pump-2.frequency"]].max(axis=1)
    pressure_mpa = minute_readings["station.outlet_pressure"]
    running = frequency > 0
    # Head ∝ speed² at 0.00981 MPa per metre. The well level, a few metres, adds the rest of the scatter.
    correlation = np.corrcoef((frequency[running] / 50) ** 2, pressure_mpa[running])[0, 1]

    assert correlation > 0.9
    assert pressure_mpa[~running].max() < pressure_mpa[running].quantile(0.9)
    assert (pressure_mpa > 0).all()


def test_level_drives_pump_starts(minute_readings):
    on = minute_readings[["pump-1.frequency", "pump-2.frequency"]].max(axis=1) > 0
    started = on & ~on.shift(1, fill_value=False)
    stopped = ~on & on.shift(1, fill_value=False)
    level_m = minute_readings["well.level"]

    assert level_m[started].min() > 1.5
    assert level_m[stopped].max() < 1.2
    assert level_m.max() < 4.6


def test_inflow_follows_day_and_week(weeks_readings):
    flow_m3h = weeks_readings["station.flow_rate"]
    hour = weeks_readings.index.hour
    weekend = weeks_readings.index.day_of_week >= 5
    night_m3h = flow_m3h[(hour >= 3) & (hour < 5)].mean()
    morning_m3h = flow_m3h[(hour >= 7) & (hour < 10)].mean()
    evening_m3h = flow_m3h[(hour >= 18) & (hour < 21)].mean()

    assert night_m3h < 0.6 * morning_m3h
    assert night_m3h < 0.6 * evening_m3h
    assert flow_m3h[weekend].mean() < flow_m3h[~weekend].mean()
    assert weekend.sum() == 2 * 2 * 96


def test_local_day_buckets(db_url, report_15min):
    rows = _fetch(db_url, """
        SELECT v.station_code, v.timezone, d.bucket, d.sample_count, d.value
        FROM reporting.v_series AS v
        CROSS JOIN LATERAL reporting.get_metrics_daily(ARRAY[v.series_id], %s, %s) AS d
        WHERE v.station_code IN ('test-demo-01', 'test-demo-03') AND v.metric_code = 'energy'
        ORDER BY v.station_code, d.bucket""", [END - timedelta(days=2), END])
    by_station = {code: [row for row in rows if row[0] == code] for code in ("test-demo-01", "test-demo-03")}

    for code, buckets in by_station.items():
        # Two local midnights east of UTC fall inside two UTC days; a bucket is
        # the whole local day that starts there, so the second one holds only
        # the readings up to END.
        assert len(buckets) == 2, code
        assert buckets[0][3] == 96, code
        for _, zone, bucket, _, _ in buckets:
            local = pd.Timestamp(bucket).tz_convert(zone)
            assert (local.hour, local.minute) == (0, 0), (code, bucket)
    assert [row[3] for row in by_station["test-demo-01"]] == [96, 32]
    assert [row[3] for row in by_station["test-demo-03"]] == [96, 24]
    assert by_station["test-demo-01"][1][2].astimezone(timezone.utc).hour == 16
    assert by_station["test-demo-03"][1][2].astimezone(timezone.utc).hour == 18


def test_rerun_skips_complete_stations(db_url, report_15min):
    again = generate_demo(db_url, stations=3, days=2, interval_min=15, end=END, station_prefix=PREFIX_15MIN)

    assert again.rows == 0
    assert again.stations_skipped == 3
    assert _row_count(db_url, PREFIX_15MIN) == 3 * 10 * 2 * 96


def test_rerun_later_adds_only_new_rows(db_url):
    """A later run adds the new rows only: corrections stay, and a deleted reading is not refilled."""
    prefix = "test-demo-rerun"
    first = generate_demo(db_url, stations=1, days=1, interval_min=15, end=END, station_prefix=prefix)
    corrected = _fetch(db_url, """
        UPDATE public.measurements AS m SET value = 1.234
        FROM reporting.v_series AS v
        WHERE v.series_id = m.series_id AND v.station_code = %s AND v.metric_code = 'level' AND m.ts = %s
        RETURNING m.series_id""", [f"{prefix}-01", END - timedelta(hours=1)])
    deleted = _fetch(db_url, """
        DELETE FROM public.measurements AS m
        USING reporting.v_series AS v
        WHERE v.series_id = m.series_id AND v.station_code = %s AND v.metric_code = 'level' AND m.ts = %s
        RETURNING m.series_id""", [f"{prefix}-01", END - timedelta(hours=2)])

    later = generate_demo(db_url, stations=1, days=1, interval_min=15, end=END + timedelta(hours=6),
                          station_prefix=prefix)
    value_after_rerun = _fetch(db_url, "SELECT value FROM public.measurements WHERE series_id = %s AND ts = %s",
                  [corrected[0][0], END - timedelta(hours=1)])

    assert first.rows == 960
    assert later.rows == 6 * 4 * 10
    assert later.stations_merged == 1
    # The reading deleted inside the covered range stays deleted.
    assert len(deleted) == 1
    assert _row_count(db_url, prefix) == 960 - 1 + 240
    assert value_after_rerun == [(1.234,)]


def test_concurrent_runs_do_not_collide(db_url):
    prefix = "test-demo-concurrent"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(generate_demo, db_url, stations=1, days=2, interval_min=1, end=END,
                               station_prefix=prefix, connections=connections) for connections in (2, 3)]
        reports = [future.result() for future in futures]

    assert sum(report.rows for report in reports) == 10 * 2 * 1440
    assert _row_count(db_url, prefix) == 10 * 2 * 1440


def test_default_end_is_now_rounded_down(db_url):
    before = datetime.now(timezone.utc)
    report = generate_demo(db_url, stations=1, days=1, interval_min=15, station_prefix="test-demo-now")

    assert before - timedelta(minutes=15) < report.end <= before
    assert (report.end.minute % 15, report.end.second, report.end.microsecond) == (0, 0, 0)
    assert report.rows == 960


def test_same_seed_gives_same_values(db_url):
    for prefix in ("test-demo-seed-a", "test-demo-seed-b"):
        generate_demo(db_url, stations=1, days=1, interval_min=15, end=END, station_prefix=prefix, seed=7)
    first = _readings(db_url, "test-demo-seed-a-01")
    second = _readings(db_url, "test-demo-seed-b-01")

    pd.testing.assert_frame_equal(first, second)


def test_database_has_stations(db_url, pg_server, report_15min):
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "demo_unmigrated"')
        conn.execute('CREATE DATABASE "demo_unmigrated"')

    assert database_has_stations(db_url) is True
    assert database_has_stations(pg_server.url("demo_unmigrated")) is False


@pytest.mark.parametrize(("arguments", "message"), [
    ({"stations": 0}, "stations=0"),
    ({"days": 0}, "days=0"),
    ({"interval_min": 0}, "interval_min=0"),
    ({"interval_min": 1441}, "interval_min=1441"),
    ({"end": datetime(2026, 1, 1)}, "has no time zone"),
    ({"station_prefix": "Demo"}, "station_prefix='Demo'"),
    ({"connections": 11}, "connections=11"),
])
def test_invalid_arguments_rejected(db_url, arguments, message):
    with pytest.raises(ValueError, match=message):
        generate_demo(db_url, **{"station_prefix": "test-demo-invalid", **arguments})

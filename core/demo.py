"""Demo data: lift stations with a wet well and two variable-speed pumps.

Every demo station has exactly ten points, so the benchmark scale is easy to
reason about (50 stations x 10 points x 1-minute samples x 90 days is about
65 million rows):

| device   | kind    | metrics                                              |
|----------|---------|------------------------------------------------------|
| station  | station | flow_rate (m³/h), outlet_pressure (MPa), energy (kWh) |
| well     | tank    | level (m)                                            |
| pump-1/2 | pump    | flow_rate (m³/h), power (kW), frequency (Hz)         |

The model runs in one-minute steps whatever the sample interval. Sewage
inflow follows a diurnal profile in the station's local time (lowest around
03:00-05:00, peaks in the morning and evening, a later and lower morning on
weekends), a random factor per local day and slow random noise. The
wet-well level integrates inflow minus pumped outflow, and lead/lag level
bands with hysteresis switch the pumps on and off. The lead role alternates
each time the lead pump stops. Running pumps share one speed set from the
level (30 Hz at the low band, 50 Hz at the high band) and follow the
affinity laws: flow ∝ speed, head ∝ speed², power ∝ speed³.

Instantaneous points are sampled at each timestamp. Energy is the integral of
the total pump power over [ts, ts + interval), so the daily sum of a local day
contains only that day's intervals.

Rows are written with binary COPY straight into public.measurements with
quality 0 (good) and the source 'demo'. A station's points are split into
groups, one per connection, and each group is loaded in one transaction.
Re-running is safe. A group whose series already have every row of the
window is skipped. A group with some of them gets the rows before each
series' first or after its last reading through a temporary table and
`INSERT ... ON CONFLICT DO NOTHING`. Existing rows, including operators'
corrections, are never overwritten, and readings an operator deleted inside
the covered range are not brought back. Advisory locks on
the series ids make concurrent runs wait for each other instead of failing
on duplicate keys.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterator

import numpy as np
import pandas as pd
import psycopg

from core.logs import fields

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Stations whose number ends in 3 use UTC+6, so local days differ from the
# Shanghai stations' local days on the daily charts.
WESTERN_TIMEZONE = "Asia/Urumqi"
STATION_PREFIX_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,58}$")
MAX_INTERVAL_MIN = 1440
# Lock class for pg_advisory_xact_lock(class, series_id), so two generators
# loading the same series run one after the other.
SERIES_LOCK_CLASS = 7_240_101

STEP_S = 60
STEP_H = STEP_S / 3600
# One-minute steps simulated per chunk. This bounds the memory of a run
# whatever the number of days: 2 stations x 200 days x 1-minute samples with
# two connections peaked at about 270 MB resident (/usr/bin/time -v, 2 cores).
MAX_CHUNK_STEPS = 200_000
UNIX_TO_POSTGRES_EPOCH_US = 946_684_800 * 1_000_000
GRAVITY_MPA_PER_M = 0.00981

# Wet-well level bands in metres above the well floor.
LEAD_START_M = 2.0
LEAD_STOP_M = 0.8
LAG_START_M = 3.2
LAG_STOP_M = 1.6
MIN_SPEED_LEVEL_M = 1.0
FULL_SPEED_LEVEL_M = 3.0
LEVEL_FLOOR_M = 0.3
OVERFLOW_LEVEL_M = 4.5
START_LEVEL_M = 1.5

RATED_FREQUENCY_HZ = 50.0
MIN_SPEED_RATIO = 0.6
# Height of the pump outlet pressure gauge above the wet-well floor.
SUCTION_OFFSET_M = 1.5

# Diurnal inflow profile: (centre hour, height, width in hours) of the peaks
# above a night base flow, in local time. Weekend mornings start later and
# weekends carry 8 % less inflow.
PROFILE_BASE = 0.25
WEEKDAY_PEAKS = ((7.5, 0.75, 1.3), (12.5, 0.35, 2.5), (19.5, 0.6, 1.8))
WEEKEND_PEAKS = ((9.0, 0.6, 1.8), (13.0, 0.35, 2.5), (19.5, 0.65, 2.0))
WEEKEND_VOLUME = 0.92

# Inflow noise is AR(1) per one-minute step: a correlation time of about 50
# minutes and a stationary standard deviation of 8 % of the inflow.
INFLOW_NOISE_PHI = 0.98
INFLOW_NOISE_STD = 0.08
DAY_FACTOR_STD = 0.05

# Relative or absolute standard deviations of the instrument readings.
PUMP_FLOW_NOISE = 0.01
STATION_FLOW_NOISE = 0.005
POWER_NOISE = 0.008
FREQUENCY_NOISE_HZ = 0.05
PRESSURE_NOISE_MPA = 0.002
LEVEL_NOISE_M = 0.005

QUALITY_GOOD = 0

# One binary COPY row: field count, then length and value of series_id,
# quality, source_id, ts (microseconds since 2000-01-01 UTC) and value.
COPY_ROW = np.dtype([
    ("field_count", ">i2"),
    ("series_id_length", ">i4"), ("series_id", ">i4"),
    ("quality_length", ">i4"), ("quality", ">i2"),
    ("source_id_length", ">i4"), ("source_id", ">i2"),
    ("ts_length", ">i4"), ("ts", ">i8"),
    ("value_length", ">i4"), ("value", ">f8"),
])
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
COPY_COLUMNS = "(series_id, quality, source_id, ts, value)"


@dataclass(frozen=True)
class Device:
    code: str
    kind: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Point:
    device_code: str
    metric_code: str


DEVICES = (
    Device("station", "station", "全站", "Whole station"),
    Device("well", "tank", "集水井", "Wet well"),
    Device("pump-1", "pump", "1号泵", "Pump 1"),
    Device("pump-2", "pump", "2号泵", "Pump 2"),
)
PUMP_DEVICES = ("pump-1", "pump-2")
POINTS = (
    Point("station", "flow_rate"),
    Point("station", "outlet_pressure"),
    Point("station", "energy"),
    Point("well", "level"),
    Point("pump-1", "flow_rate"),
    Point("pump-1", "power"),
    Point("pump-1", "frequency"),
    Point("pump-2", "flow_rate"),
    Point("pump-2", "power"),
    Point("pump-2", "frequency"),
)


@dataclass
class DemoReport:
    """Counts and timing of one generate_demo run."""

    stations: int
    series: int
    rows: int
    seconds: float
    rows_per_second: float
    start: datetime
    end: datetime
    interval_s: int
    stations_skipped: int = 0
    stations_merged: int = 0
    partitions_created: int = 0


@dataclass(frozen=True)
class MetricLimits:
    valid_min: float
    valid_max: float
    decimals: int


@dataclass(frozen=True)
class Window:
    """Sample timestamps first_us, first_us + interval, ... (Unix microseconds), `samples` of them."""

    first_us: int
    interval_s: int
    samples: int

    @property
    def end_us(self) -> int:
        return self.first_us + self.samples * self.interval_s * 1_000_000

    @property
    def steps_per_sample(self) -> int:
        return self.interval_s // STEP_S


@dataclass(frozen=True)
class StationPlan:
    number: int
    code: str
    name_zh: str
    name_en: str
    timezone: str
    series_ids: dict[Point, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadResult:
    """Rows inserted for one group of a station's points, and how: copy, merge or skip."""

    station_code: str
    rows: int
    mode: str


@dataclass(frozen=True)
class StationModel:
    """Hydraulic parameters of one demo station; index 0 and 1 are pump-1 and pump-2."""

    rated_flow_m3h: tuple[float, float]
    rated_power_kw: tuple[float, float]
    rated_head_m: float
    static_head_m: float
    well_area_m2: float
    mean_inflow_m3h: float


@dataclass
class WellState:
    """Controller and well state carried from one chunk to the next."""

    level_m: float = START_LEVEL_M
    inflow_noise: float = 0.0
    lead_pump: int = 0
    lead_on: bool = False
    lag_on: bool = False


@dataclass(frozen=True)
class Steps:
    """One-minute model steps of a chunk: level before the step, pumps running, speed ratio, total power."""

    level_m: np.ndarray
    pump_on: np.ndarray
    speed_ratio: np.ndarray
    total_power_kw: np.ndarray


# -- public API ---------------------------------------------------------------


def generate_demo(url: str, *, stations: int = 3, days: int = 60, interval_min: int = 15,
                  end: datetime | None = None, seed: int = 20261204, station_prefix: str = "demo",
                  connections: int = 2) -> DemoReport:
    """Create demo stations `<prefix>-01` ... and load `days` of samples before `end` into public.measurements.

    `end` defaults to now. It is rounded down to a multiple of the interval
    (UTC), so repeated runs share one time grid. Samples cover
    [end - days, end). One COPY stream keeps only one server core busy, so
    each station's points are split into `connections` groups loaded in
    parallel, each group in its own transaction.
    """
    _validate_arguments(stations, days, interval_min, end, station_prefix, connections)
    started = time.perf_counter()
    interval_s = interval_min * 60
    window = _window(end or datetime.now(timezone.utc), days, interval_s)

    with psycopg.connect(url) as conn:
        source_id = _demo_source_id(conn)
        limits = _metric_limits(conn)
        plans = [_ensure_station(conn, plan, interval_s) for plan in _station_plans(stations, station_prefix)]
        partitions_created = _ensure_partitions(conn, window)
        conn.commit()

    groups = [POINTS[index::connections] for index in range(connections)]
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="demo") as pool:
        futures = [pool.submit(_load_points, url, plan, points, window, seed, source_id, limits)
                   for plan in plans for points in groups]
        results = [future.result() for future in futures]

    seconds = time.perf_counter() - started
    rows = sum(result.rows for result in results)
    modes_by_station: dict[str, set[str]] = {}
    for result in results:
        modes_by_station.setdefault(result.station_code, set()).add(result.mode)
    report = DemoReport(
        stations=len(plans), series=len(plans) * len(POINTS), rows=rows, seconds=seconds,
        rows_per_second=rows / seconds if seconds > 0 else 0.0,
        start=_datetime(window.first_us), end=_datetime(window.end_us), interval_s=interval_s,
        stations_skipped=sum(modes == {"skip"} for modes in modes_by_station.values()),
        stations_merged=sum("merge" in modes for modes in modes_by_station.values()),
        partitions_created=partitions_created,
    )
    log.info("demo.loaded", extra=fields(
        stations=report.stations, series=report.series, rows=report.rows, seconds=round(seconds, 2),
        rows_per_second=round(report.rows_per_second), stations_skipped=report.stations_skipped,
        stations_merged=report.stations_merged, interval_s=interval_s, start=report.start.isoformat(),
        end=report.end.isoformat()))
    return report


def database_has_stations(url: str) -> bool:
    """Return True when public.stations has a row, and False when it is empty or not created yet."""
    with psycopg.connect(url) as conn:
        try:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM public.stations)").fetchone()[0])
        except psycopg.errors.UndefinedTable:
            return False


def count_demo_stations(url: str, station_prefix: str = "demo") -> int:
    """Number of stations the demo generator created with `station_prefix` (codes such as demo-01)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM public.stations WHERE code LIKE %s",
                            [f"{station_prefix}-%"]).fetchone()[0]


# -- arguments and time window ---------------------------------------------------


def _validate_arguments(stations: int, days: int, interval_min: int, end: datetime | None,
                        station_prefix: str, connections: int) -> None:
    if stations < 1:
        raise ValueError(f"invalid stations={stations}: pass 1 or more")
    if days < 1:
        raise ValueError(f"invalid days={days}: pass 1 or more")
    if not 1 <= interval_min <= MAX_INTERVAL_MIN:
        raise ValueError(f"invalid interval_min={interval_min}: pass whole minutes from 1 to {MAX_INTERVAL_MIN}")
    if days * 1440 < interval_min:
        raise ValueError(f"days={days} is shorter than interval_min={interval_min}: pass more days or a shorter interval")
    if end is not None and end.tzinfo is None:
        raise ValueError(f"end={end.isoformat()} has no time zone: pass an aware datetime such as "
                         "datetime(2026, 1, 1, tzinfo=timezone.utc)")
    if not STATION_PREFIX_PATTERN.match(station_prefix):
        raise ValueError(f"invalid station_prefix={station_prefix!r}: use 1-59 lower-case letters, digits, '_', '.' "
                         "or '-', starting with a letter or digit")
    if not 1 <= connections <= len(POINTS):
        raise ValueError(f"invalid connections={connections}: pass 1 to {len(POINTS)}, the points per station")


def _window(end: datetime, days: int, interval_s: int) -> Window:
    interval_us = interval_s * 1_000_000
    end_us = _unix_us(end) // interval_us * interval_us
    samples = days * 86_400 // interval_s
    return Window(first_us=end_us - samples * interval_us, interval_s=interval_s, samples=samples)


def _unix_us(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _datetime(unix_us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=unix_us)


# -- catalogue ----------------------------------------------------------------


def _station_plans(stations: int, prefix: str) -> list[StationPlan]:
    plans = []
    for number in range(1, stations + 1):
        zone = WESTERN_TIMEZONE if number % 10 == 3 else DEFAULT_TIMEZONE
        plans.append(StationPlan(number=number, code=f"{prefix}-{number:02d}", name_zh=f"演示泵站 {number:02d}",
                                 name_en=f"Demo station {number:02d}", timezone=zone))
    return plans


def _demo_source_id(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT source_id FROM public.measurement_sources WHERE code = 'demo'").fetchone()
    if row is None:
        raise RuntimeError("measurement source 'demo' not found in public.measurement_sources: run the migrations first")
    return row[0]


def _metric_limits(conn: psycopg.Connection) -> dict[str, MetricLimits]:
    codes = sorted({point.metric_code for point in POINTS})
    rows = conn.execute("SELECT code, valid_min, valid_max, decimals FROM public.metrics WHERE code = ANY(%s)",
                        [codes]).fetchall()
    limits = {code: MetricLimits(valid_min, valid_max, decimals) for code, valid_min, valid_max, decimals in rows}
    missing = [code for code in codes if code not in limits]
    if missing:
        raise RuntimeError(f"metrics {', '.join(missing)} not found in public.metrics: run the migrations first")
    return limits


def _ensure_station(conn: psycopg.Connection, plan: StationPlan, interval_s: int) -> StationPlan:
    conn.execute("SELECT public.ensure_station(%s, %s, %s, %s)", [plan.code, plan.name_zh, plan.name_en, plan.timezone])
    for device in DEVICES:
        conn.execute("SELECT public.ensure_device(%s, %s, %s, %s, %s)",
                     [plan.code, device.code, device.kind, device.name_zh, device.name_en])

    series_ids = {}
    for point in POINTS:
        row = conn.execute("SELECT public.ensure_series(%s, %s, %s, %s)",
                           [plan.code, point.device_code, point.metric_code, interval_s]).fetchone()
        series_ids[point] = row[0]
    return StationPlan(plan.number, plan.code, plan.name_zh, plan.name_en, plan.timezone, series_ids)


def _ensure_partitions(conn: psycopg.Connection, window: Window) -> int:
    last_sample = _datetime(window.end_us - window.interval_s * 1_000_000)
    row = conn.execute("SELECT public.ensure_measurement_partitions(%s, %s)",
                       [_datetime(window.first_us), last_sample]).fetchone()
    return row[0]


# -- loading ------------------------------------------------------------------


def _load_points(url: str, plan: StationPlan, points: tuple[Point, ...], window: Window, seed: int,
                 source_id: int, limits: dict[str, MetricLimits]) -> LoadResult:
    """Load some points of one station in one transaction.

    Every group of a station runs the same seeded simulation and keeps only
    its own points. Simulating is a few per cent of the time the COPY takes,
    so repeating it is simpler than passing readings between threads.
    """
    started = time.perf_counter()
    series_ids = [plan.series_ids[point] for point in points]
    expected = window.samples * len(series_ids)

    with psycopg.connect(url) as conn:
        # Ascending order, so two demo runs that split the points differently
        # wait for each other instead of deadlocking.
        for series_id in sorted(series_ids):
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", [SERIES_LOCK_CLASS, series_id])
        existing = _existing_rows(conn, series_ids, window)
        if existing >= expected:
            conn.commit()
            log.info("demo.points_skipped", extra=fields(station=plan.code, series=len(series_ids),
                                                        existing_rows=existing))
            return LoadResult(plan.code, 0, "skip")

        mode = "copy" if existing == 0 else "merge"
        if mode == "merge":
            conn.execute("CREATE TEMP TABLE demo_rows (series_id integer, quality smallint, source_id smallint, "
                         "ts timestamptz, value double precision) ON COMMIT DROP")
            # Each series' covered range: only rows outside it are added.
            conn.execute("CREATE TEMP TABLE demo_extent ON COMMIT DROP AS "
                         "SELECT s.series_id, (SELECT min(m.ts) FROM public.measurements AS m "
                         "                     WHERE m.series_id = s.series_id) AS first_ts, "
                         "                    (SELECT max(m.ts) FROM public.measurements AS m "
                         "                     WHERE m.series_id = s.series_id) AS last_ts "
                         "FROM unnest(%s::integer[]) AS s (series_id)", [series_ids])
        rows = 0
        for ts_us, readings in _station_chunks(plan, window, seed, limits):
            payloads = (_encode_copy_rows(plan.series_ids[point], ts_us, readings[point], source_id)
                        for point in points)
            rows += _copy_chunk(conn, payloads) if mode == "copy" else _merge_chunk(conn, payloads)
        conn.commit()

    log.info("demo.points_loaded", extra=fields(station=plan.code, series=len(series_ids), mode=mode, rows=rows,
                                               existing_rows=existing,
                                               seconds=round(time.perf_counter() - started, 2)))
    return LoadResult(plan.code, rows, mode)


def _existing_rows(conn: psycopg.Connection, series_ids: list[int], window: Window) -> int:
    row = conn.execute(
        "SELECT count(*) FROM public.measurements WHERE series_id = ANY(%s) AND ts >= %s AND ts < %s",
        [series_ids, _datetime(window.first_us), _datetime(window.end_us)]).fetchone()
    return row[0]


def _copy_chunk(conn: psycopg.Connection, payloads: Iterator[bytes]) -> int:
    with conn.cursor() as cursor:
        _copy_binary(cursor, f"public.measurements {COPY_COLUMNS}", payloads)
        return cursor.rowcount


def _merge_chunk(conn: psycopg.Connection, payloads: Iterator[bytes]) -> int:
    with conn.cursor() as cursor:
        _copy_binary(cursor, f"demo_rows {COPY_COLUMNS}", payloads)
        cursor.execute(f"INSERT INTO public.measurements {COPY_COLUMNS} SELECT d.* FROM demo_rows AS d "
                       "JOIN demo_extent AS e USING (series_id) "
                       "WHERE e.first_ts IS NULL OR d.ts < e.first_ts OR d.ts > e.last_ts "
                       "ON CONFLICT (series_id, ts) DO NOTHING")
        inserted = cursor.rowcount
        cursor.execute("TRUNCATE demo_rows")
    return inserted


def _copy_binary(cursor: psycopg.Cursor, target: str, payloads: Iterator[bytes]) -> None:
    # psycopg's raw write() passes bytes through, so the binary COPY header
    # and trailer are ours to send.
    with cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(COPY_HEADER)
        for payload in payloads:
            copy.write(payload)
        copy.write(COPY_TRAILER)


def _encode_copy_rows(series_id: int, ts_us: np.ndarray, values: np.ndarray, source_id: int) -> bytes:
    rows = np.empty(len(ts_us), dtype=COPY_ROW)
    rows["field_count"] = 5
    rows["series_id_length"] = 4
    rows["series_id"] = series_id
    rows["quality_length"] = 2
    rows["quality"] = QUALITY_GOOD
    rows["source_id_length"] = 2
    rows["source_id"] = source_id
    rows["ts_length"] = 8
    rows["ts"] = ts_us - UNIX_TO_POSTGRES_EPOCH_US
    rows["value_length"] = 8
    rows["value"] = values
    return rows.tobytes()


# -- station model --------------------------------------------------------------


def _station_chunks(plan: StationPlan, window: Window, seed: int,
                    limits: dict[str, MetricLimits]) -> Iterator[tuple[np.ndarray, dict[Point, np.ndarray]]]:
    """Yield (sample timestamps in Unix microseconds, readings per point) chunk by chunk through the window."""
    rng = np.random.default_rng([seed, plan.number])
    model = _station_model(rng)
    day_factors, first_day = _day_factors(rng, window, plan.timezone)
    state = WellState()

    samples_per_chunk = max(1, MAX_CHUNK_STEPS // window.steps_per_sample)
    interval_us = window.interval_s * 1_000_000
    for first_sample in range(0, window.samples, samples_per_chunk):
        samples = min(samples_per_chunk, window.samples - first_sample)
        ts_us = window.first_us + (first_sample + np.arange(samples, dtype=np.int64)) * interval_us
        step_us = ts_us[0] + np.arange(samples * window.steps_per_sample, dtype=np.int64) * (STEP_S * 1_000_000)

        inflow_m3h = _inflow_m3h(model, step_us, plan.timezone, day_factors, first_day)
        steps = _simulate(model, state, inflow_m3h, rng)
        readings = _readings(model, steps, window.steps_per_sample, rng)
        yield ts_us, _rounded_and_checked(readings, limits, plan.code)


def _station_model(rng: np.random.Generator) -> StationModel:
    rated_flow_m3h = rng.uniform(360, 900)
    # Two pumps of one model, worn slightly differently.
    flows = (rated_flow_m3h, rated_flow_m3h * rng.uniform(0.97, 1.03))
    rated_head_m = rng.uniform(24, 42)
    efficiencies = rng.uniform(0.74, 0.82, size=2)
    # Shaft power P = rho * g * Q * H / efficiency, in kW with Q in m³/h.
    powers = tuple(float(9.81 * flow / 3600 * rated_head_m / efficiency) for flow, efficiency in zip(flows, efficiencies))
    # Storage between the lead stop and start levels contains 8-12 minutes of
    # rated flow, so the lead pump cycles about once an hour at night.
    fill_minutes = rng.uniform(8, 12)
    well_area_m2 = rated_flow_m3h / 60 * fill_minutes / (LEAD_START_M - LEAD_STOP_M)
    return StationModel(
        rated_flow_m3h=(float(flows[0]), float(flows[1])),
        rated_power_kw=powers,
        rated_head_m=float(rated_head_m),
        # Below the head at the minimum speed, so pressure drops when the pumps stop.
        static_head_m=float(rated_head_m * rng.uniform(0.25, 0.32)),
        well_area_m2=float(well_area_m2),
        # Morning peaks reach about 1.1 x one pump's rated flow, so the lag pump runs on busy mornings.
        mean_inflow_m3h=float(rated_flow_m3h * rng.uniform(0.55, 0.62)),
    )


def _day_factors(rng: np.random.Generator, window: Window, zone: str) -> tuple[np.ndarray, int]:
    """Draw one inflow factor per local day of the window; return them and the first local day number."""
    first_day, last_day = _local_day_numbers(np.array([window.first_us, window.end_us], dtype=np.int64), zone)
    factors = 1 + DAY_FACTOR_STD * rng.standard_normal(last_day - first_day + 1)
    return np.clip(factors, 0.85, 1.15), int(first_day)


def _local_seconds(unix_us: np.ndarray, zone: str) -> np.ndarray:
    """Local wall-clock seconds since 1970-01-01 of each timestamp in `zone` (handles DST changes)."""
    local = pd.DatetimeIndex(unix_us.astype("datetime64[us]")).tz_localize("UTC").tz_convert(zone).tz_localize(None)
    return local.to_numpy().astype("datetime64[s]").astype(np.int64)


def _local_day_numbers(unix_us: np.ndarray, zone: str) -> np.ndarray:
    return _local_seconds(unix_us, zone) // 86_400


def _diurnal_profile(hour: np.ndarray, weekend: np.ndarray) -> np.ndarray:
    """Inflow relative to the weekday daily mean at local `hour`: lowest at 03:00-05:00, morning and evening peaks."""
    weekday_flow = _peaks(hour, WEEKDAY_PEAKS) / WEEKDAY_MEAN
    weekend_flow = WEEKEND_VOLUME * _peaks(hour, WEEKEND_PEAKS) / WEEKEND_MEAN
    return np.where(weekend, weekend_flow, weekday_flow)


def _peaks(hour: np.ndarray, peaks: tuple[tuple[float, float, float], ...]) -> np.ndarray:
    profile = np.full(hour.shape, PROFILE_BASE)
    for centre_h, height, width_h in peaks:
        # Distance on the 24-hour circle, so the evening peak wraps past midnight.
        distance_h = (hour - centre_h + 12) % 24 - 12
        profile += height * np.exp(-0.5 * (distance_h / width_h) ** 2)
    return profile


_PROFILE_HOURS = np.arange(0, 24, 1 / 60)
WEEKDAY_MEAN = float(_peaks(_PROFILE_HOURS, WEEKDAY_PEAKS).mean())
WEEKEND_MEAN = float(_peaks(_PROFILE_HOURS, WEEKEND_PEAKS).mean())


def _inflow_m3h(model: StationModel, step_us: np.ndarray, zone: str, day_factors: np.ndarray,
                first_day: int) -> np.ndarray:
    """Noise-free inflow of each one-minute step from the local time of day, weekday and the day's factor."""
    local_s = _local_seconds(step_us, zone)
    day = local_s // 86_400
    hour = (local_s % 86_400) / 3600
    # 1970-01-01 was a Thursday, so (day + 3) % 7 numbers Monday as 0.
    weekend = (day + 3) % 7 >= 5
    return model.mean_inflow_m3h * _diurnal_profile(hour, weekend) * day_factors[day - first_day]


def _simulate(model: StationModel, state: WellState, inflow_m3h: np.ndarray, rng: np.random.Generator) -> Steps:
    """Run the wet well and its lead/lag controller over one chunk of one-minute steps, updating `state`."""
    shock_std = INFLOW_NOISE_STD * np.sqrt(1 - INFLOW_NOISE_PHI ** 2)
    shocks = (shock_std * rng.standard_normal(len(inflow_m3h))).tolist()
    level_m, running = _simulate_steps(model, state, inflow_m3h.tolist(), shocks)

    pump_on = np.column_stack([(running & 1) > 0, (running & 2) > 0])
    speed_ratio = _speed_ratio(level_m)
    rated_power_kw = np.array(model.rated_power_kw)
    total_power_kw = (pump_on * rated_power_kw).sum(axis=1) * speed_ratio ** 3
    return Steps(level_m, pump_on, speed_ratio, total_power_kw)


def _simulate_steps(model: StationModel, state: WellState, inflow_m3h: list[float],
                    shocks: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Return the level before each step and the running pumps (bit 0 pump-1, bit 1 pump-2).

    A plain loop, because the level depends on the pumps and the pumps on the
    level, so steps cannot be computed independently. The loop takes a small
    share of a run's time next to the COPY.
    """
    level_m, noise = state.level_m, state.inflow_noise
    lead, lead_on, lag_on = state.lead_pump, state.lead_on, state.lag_on
    flow_1, flow_2 = model.rated_flow_m3h
    metres_per_m3h = STEP_H / model.well_area_m2
    speed_slope = (1 - MIN_SPEED_RATIO) / (FULL_SPEED_LEVEL_M - MIN_SPEED_LEVEL_M)
    levels = [0.0] * len(inflow_m3h)
    running = [0] * len(inflow_m3h)

    for i, (inflow, shock) in enumerate(zip(inflow_m3h, shocks)):
        if lag_on:
            lag_on = level_m > LAG_STOP_M
        else:
            lag_on = level_m >= LAG_START_M
        if lead_on:
            if level_m <= LEAD_STOP_M:
                # Roles swap when the lead stops, which alternates the pumps' duty.
                lead, lead_on, lag_on = 1 - lead, lag_on, False
        else:
            lead_on = level_m >= LEAD_START_M
        pump_1_on, pump_2_on = (lead_on, lag_on) if lead == 0 else (lag_on, lead_on)

        speed = MIN_SPEED_RATIO + speed_slope * (level_m - MIN_SPEED_LEVEL_M)
        if speed < MIN_SPEED_RATIO:
            speed = MIN_SPEED_RATIO
        elif speed > 1.0:
            speed = 1.0
        outflow = (flow_1 * pump_1_on + flow_2 * pump_2_on) * speed
        noise = INFLOW_NOISE_PHI * noise + shock

        levels[i] = level_m
        running[i] = pump_1_on + 2 * pump_2_on
        level_m += (inflow * (1 + noise) - outflow) * metres_per_m3h
        if level_m < LEVEL_FLOOR_M:
            level_m = LEVEL_FLOOR_M
        elif level_m > OVERFLOW_LEVEL_M:
            level_m = OVERFLOW_LEVEL_M

    state.level_m, state.inflow_noise = level_m, noise
    state.lead_pump, state.lead_on, state.lag_on = lead, lead_on, lag_on
    return np.array(levels), np.array(running, dtype=np.int8)


def _speed_ratio(level_m: np.ndarray) -> np.ndarray:
    """Speed as a fraction of rated speed: 0.6 (30 Hz) at MIN_SPEED_LEVEL_M rising to 1.0 at FULL_SPEED_LEVEL_M."""
    share = (level_m - MIN_SPEED_LEVEL_M) / (FULL_SPEED_LEVEL_M - MIN_SPEED_LEVEL_M)
    return MIN_SPEED_RATIO + (1 - MIN_SPEED_RATIO) * np.clip(share, 0.0, 1.0)


def _readings(model: StationModel, steps: Steps, steps_per_sample: int,
              rng: np.random.Generator) -> dict[Point, np.ndarray]:
    """Instrument readings at each sample time, and energy integrated over each interval."""
    pump_on = steps.pump_on[::steps_per_sample]
    speed_ratio = steps.speed_ratio[::steps_per_sample]
    level_m = steps.level_m[::steps_per_sample]
    samples = len(level_m)
    readings: dict[Point, np.ndarray] = {}

    true_flow_total_m3h = np.zeros(samples)
    for index, device in enumerate(PUMP_DEVICES):
        on = pump_on[:, index]
        true_flow_m3h = on * model.rated_flow_m3h[index] * speed_ratio
        true_flow_total_m3h += true_flow_m3h
        power_kw = on * model.rated_power_kw[index] * speed_ratio ** 3
        frequency_hz = RATED_FREQUENCY_HZ * speed_ratio + FREQUENCY_NOISE_HZ * rng.standard_normal(samples)
        readings[Point(device, "flow_rate")] = true_flow_m3h * (1 + PUMP_FLOW_NOISE * rng.standard_normal(samples))
        readings[Point(device, "power")] = power_kw * (1 + POWER_NOISE * rng.standard_normal(samples))
        readings[Point(device, "frequency")] = np.where(
            on, np.clip(frequency_hz, MIN_SPEED_RATIO * RATED_FREQUENCY_HZ, RATED_FREQUENCY_HZ), 0.0)

    readings[Point("station", "flow_rate")] = true_flow_total_m3h * (1 + STATION_FLOW_NOISE * rng.standard_normal(samples))
    readings[Point("station", "outlet_pressure")] = (
        _outlet_pressure_mpa(model, pump_on.any(axis=1), speed_ratio, level_m)
        + PRESSURE_NOISE_MPA * rng.standard_normal(samples))
    interval_h = steps_per_sample * STEP_H
    readings[Point("station", "energy")] = steps.total_power_kw.reshape(samples, steps_per_sample).mean(axis=1) * interval_h
    readings[Point("well", "level")] = level_m + LEVEL_NOISE_M * rng.standard_normal(samples)
    return {point: readings[point] for point in POINTS}


def _outlet_pressure_mpa(model: StationModel, any_on: np.ndarray, speed_ratio: np.ndarray,
                         level_m: np.ndarray) -> np.ndarray:
    # Running: the suction head (well level minus the gauge's height above
    # the floor) plus the pump head at this speed. Stopped: the check valve
    # keeps the rising main full, so the gauge reads its static head.
    pump_head_m = model.rated_head_m * speed_ratio ** 2
    running_mpa = GRAVITY_MPA_PER_M * (level_m - SUCTION_OFFSET_M + pump_head_m)
    return np.where(any_on, running_mpa, GRAVITY_MPA_PER_M * model.static_head_m)


def _rounded_and_checked(readings: dict[Point, np.ndarray], limits: dict[str, MetricLimits],
                         station_code: str) -> dict[Point, np.ndarray]:
    rounded = {}
    for point, values in readings.items():
        limit = limits[point.metric_code]
        values = np.round(values, limit.decimals)
        low, high = float(values.min()), float(values.max())
        if low < limit.valid_min or high > limit.valid_max:
            raise RuntimeError(
                f"demo model produced {point.metric_code} of {station_code}/{point.device_code} from {low} to {high}, "
                f"outside the valid range {limit.valid_min}..{limit.valid_max}: fix the model constants in core/demo.py")
        rounded[point] = values
    return rounded

"""Rollup benchmark: `python -m dashboard bench --scale small|full`.

Loads the demo generator into a server of its own under `<data dir>/bench`,
then measures, in one run:

- reporting calls (p50/p95/p99 over repeated calls on random stations) and
  the same questions answered the naive way, by aggregating raw rows;
- an incremental hourly refresh after 15 minutes of new data for every
  series, and hourly plus daily refreshes after one corrected reading;
- a full `REFRESH MATERIALIZED VIEW CONCURRENTLY` of a plain hourly
  materialized view over all history, the baseline the rollups replace;
- rollup and raw sizes, and peak memory of the server and this process.

It prints one JSON object and writes docs/benchmarks/rollups.md.
"""

from __future__ import annotations

import json
import logging
import platform
import random
import resource
import shutil
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import psutil
import psycopg

from core.demo import generate_demo
from core.logs import fields
from core.migrate import migrate
from core.pgserver import EmbeddedServer
from core.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

REPORT_PATH = PROJECT_ROOT / "docs" / "benchmarks" / "rollups.md"
POINTS_PER_STATION = 10


@dataclass(frozen=True)
class Scale:
    name: str
    stations: int
    days: int
    interval_min: int
    repeats: int
    shared_buffers: str


SCALES = {
    # 50 stations x 10 points x 1-minute samples x 90 days = 64.8 million rows.
    "full": Scale("full", stations=50, days=90, interval_min=1, repeats=50, shared_buffers="2GB"),
    # Small enough for CI: about 0.5 million rows.
    "small": Scale("small", stations=5, days=7, interval_min=1, repeats=20, shared_buffers="256MB"),
}

# The naive way: what the reporting calls cost without rollups.
NAIVE_HOURLY_SQL = """
SELECT m.series_id, date_trunc('hour', m.ts) AS bucket, avg(m.value), min(m.value), max(m.value), count(*)
FROM public.measurements AS m
WHERE m.series_id = ANY (%(ids)s) AND m.ts >= %(start)s AND m.ts < %(end)s
GROUP BY 1, 2
"""
NAIVE_DAILY_SQL = """
SELECT m.series_id, date_trunc('day', m.ts, 'Asia/Shanghai') AS bucket, avg(m.value), min(m.value), max(m.value), count(*)
FROM public.measurements AS m
WHERE m.series_id = ANY (%(ids)s) AND m.ts >= %(start)s AND m.ts < %(end)s
GROUP BY 1, 2
"""
NAIVE_RAW_SQL = """
SELECT m.series_id, m.ts, m.value
FROM public.measurements AS m
WHERE m.series_id = ANY (%(ids)s) AND m.ts >= %(start)s AND m.ts < %(end)s
ORDER BY 1, 2
"""
NAIVE_MATERIALIZED_VIEW_SQL = """
CREATE MATERIALIZED VIEW public.bench_naive_hourly AS
SELECT m.series_id, date_trunc('hour', m.ts) AS bucket, avg(m.value) AS value_avg, min(m.value) AS value_min,
       max(m.value) AS value_max, sum(m.value) AS value_sum, count(*) AS sample_count
FROM public.measurements AS m
GROUP BY 1, 2
WITH NO DATA;
CREATE UNIQUE INDEX bench_naive_hourly_key ON public.bench_naive_hourly (series_id, bucket);
"""


@dataclass(frozen=True)
class QueryCase:
    name: str
    function: str
    series_per_call: int
    span: timedelta
    naive_sql: str


QUERY_CASES = (
    QueryCase("hourly_30d_5metrics", "get_metrics_hourly", 5, timedelta(days=30), NAIVE_HOURLY_SQL),
    QueryCase("daily_90d_10metrics", "get_metrics_daily", 10, timedelta(days=90), NAIVE_DAILY_SQL),
    QueryCase("auto_24h", "get_metrics_auto", 5, timedelta(hours=24), NAIVE_RAW_SQL),
    QueryCase("auto_7d", "get_metrics_auto", 5, timedelta(days=7), NAIVE_HOURLY_SQL),
    QueryCase("auto_90d", "get_metrics_auto", 5, timedelta(days=90), NAIVE_HOURLY_SQL),
)


class MemorySampler:
    """Peak summed RSS of the server's processes, sampled every 0.2 s in a thread."""

    def __init__(self, pgdata: Path):
        self.pgdata = str(pgdata)
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        postmaster = self._postmaster()
        while not self._stop.wait(0.2):
            try:
                processes = [postmaster, *postmaster.children()] if postmaster else []
                # Shared buffers appear in every backend's RSS; PSS counts each shared page once.
                total = sum(_proportional_rss(process) for process in processes)
            except psutil.Error:
                continue
            self.peak_bytes = max(self.peak_bytes, total)

    def _postmaster(self) -> psutil.Process | None:
        pid_file = Path(self.pgdata) / "postmaster.pid"
        try:
            return psutil.Process(int(pid_file.read_text().splitlines()[0]))
        except (OSError, ValueError, psutil.Error):
            return None


def _proportional_rss(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return process.memory_info().rss


def _percentiles(durations_ms: list[float]) -> dict[str, float]:
    ordered = sorted(durations_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"p50_ms": round(cuts[49], 2), "p95_ms": round(cuts[94], 2), "p99_ms": round(cuts[98], 2)}


def _timed(conn: psycopg.Connection, query: str, params: Any = None) -> tuple[float, list]:
    started = time.perf_counter()
    rows = conn.execute(query, params).fetchall()
    return (time.perf_counter() - started) * 1000, rows


def run_benchmark(settings: Settings, scale_name: str, *, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the rollup benchmark at `scale_name` and return its results; writes docs/benchmarks/rollups.md."""
    scale = SCALES[scale_name]
    folder = settings.data_dir / "bench" / scale.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    port = free_port()
    server = EmbeddedServer(pgdata=folder / "pg", port=port, database="pumpdash_bench",
                            settings={**settings.db_server_settings, "shared_buffers": scale.shared_buffers})
    server.start()
    try:
        with MemorySampler(server.pgdata) as sampler:
            results = _measure(server.url(), scale, say)
        results["server_peak_memory_mb"] = round(sampler.peak_bytes / 2**20, 1)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
    results["bench_process_peak_memory_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    write_report(results)
    log.info("bench.done", extra=fields(scale=scale.name, rows=results["rows"]))
    return results


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free at the moment of the call."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _measure(url: str, scale: Scale, say: Callable[[str], None]) -> dict[str, Any]:
    migrate(url)
    # Whole hours in the past, so refreshes can be pinned to them and "now"
    # does not move the watermark during the run.
    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    results: dict[str, Any] = {"scale": scale.name, "stations": scale.stations, "days": scale.days,
                               "interval_min": scale.interval_min}

    say(f"bench: loading {scale.stations} stations x {POINTS_PER_STATION} points x {scale.days} days ...")
    load = generate_demo(url, stations=scale.stations, days=scale.days, interval_min=scale.interval_min,
                         end=hour - timedelta(minutes=15), station_prefix="bench")
    results["load_rows_per_second"] = round(load.rows_per_second)

    with psycopg.connect(url, autocommit=True) as conn:
        say("bench: first refresh of both rollups ...")
        results["initial_refresh_ms"] = round(_refresh_ms(conn, "hourly", hour) + _refresh_ms(conn, "daily", hour), 1)
        conn.execute("VACUUM ANALYZE public.measurements, reporting.mv_measurements_hourly, reporting.mv_measurements_daily")

        say("bench: full REFRESH MATERIALIZED VIEW CONCURRENTLY of a plain hourly view ...")
        results["full_refresh_ms"] = _full_refresh_ms(conn)

        say("bench: refresh after 15 minutes of new data for every series ...")
        generate_demo(url, stations=scale.stations, days=1, interval_min=scale.interval_min, end=hour,
                      station_prefix="bench")
        results["refresh_15min_ms"] = round(_refresh_ms(conn, "hourly", hour), 2)
        results["refresh_15min_daily_ms"] = round(_refresh_ms(conn, "daily", hour), 2)

        say("bench: refresh after one corrected reading ...")
        results.update(_correction_refresh(conn, hour))

        results["rows"] = conn.execute("SELECT count(*) FROM public.measurements").fetchone()[0]
        results.update(_sizes(conn))

        say("bench: reporting calls and their naive equivalents ...")
        end = hour
        results.update(_query_percentiles(conn, scale, end))
    return results


def _refresh_ms(conn: psycopg.Connection, rollup: str, until: datetime) -> float:
    started = time.perf_counter()
    status = conn.execute(f"SELECT status FROM reporting.refresh_{rollup}(%s)", [until]).fetchone()[0]
    if status != "done":
        raise RuntimeError(f"refresh_{rollup} returned {status}: another refresh of it is running; stop it and rerun")
    return (time.perf_counter() - started) * 1000


def _full_refresh_ms(conn: psycopg.Connection) -> float:
    conn.execute(NAIVE_MATERIALIZED_VIEW_SQL)
    conn.execute("REFRESH MATERIALIZED VIEW public.bench_naive_hourly")
    started = time.perf_counter()
    conn.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY public.bench_naive_hourly")
    elapsed_ms = (time.perf_counter() - started) * 1000
    conn.execute("DROP MATERIALIZED VIEW public.bench_naive_hourly")
    return round(elapsed_ms, 1)


def _correction_refresh(conn: psycopg.Connection, hour: datetime) -> dict[str, float]:
    target = hour - timedelta(days=3, minutes=17)
    series_id = conn.execute(
        "SELECT series_id FROM public.measurements WHERE ts = (SELECT min(ts) FROM public.measurements WHERE ts >= %s) "
        "LIMIT 1", [target]).fetchone()[0]
    conn.execute(
        "UPDATE public.measurements SET value = value + 1, version = version + 1, substituted = true "
        "WHERE series_id = %s AND ts = (SELECT min(ts) FROM public.measurements WHERE series_id = %s AND ts >= %s)",
        [series_id, series_id, target])
    hourly_ms = _refresh_ms(conn, "hourly", hour)
    daily_ms = _refresh_ms(conn, "daily", hour)
    return {"refresh_one_correction_ms": round(hourly_ms + daily_ms, 2),
            "refresh_one_correction_hourly_ms": round(hourly_ms, 2),
            "refresh_one_correction_daily_ms": round(daily_ms, 2)}


def _sizes(conn: psycopg.Connection) -> dict[str, Any]:
    raw_bytes, raw_table_bytes = conn.execute(
        "SELECT sum(pg_total_relation_size(inhrelid)), sum(pg_table_size(inhrelid)) FROM pg_inherits "
        "WHERE inhparent = 'public.measurements'::regclass").fetchone()
    hourly_bytes, daily_bytes = conn.execute(
        "SELECT pg_total_relation_size('reporting.mv_measurements_hourly'), "
        "pg_total_relation_size('reporting.mv_measurements_daily')").fetchone()
    return {
        "raw_bytes": int(raw_bytes),
        "raw_table_bytes": int(raw_table_bytes),
        "rollup_bytes": int(hourly_bytes + daily_bytes),
        "hourly_rollup_bytes": int(hourly_bytes),
        "daily_rollup_bytes": int(daily_bytes),
        "hourly_to_raw_ratio": round(hourly_bytes / raw_bytes, 4),
    }


def _query_percentiles(conn: psycopg.Connection, scale: Scale, end: datetime) -> dict[str, Any]:
    stations = [row[0] for row in conn.execute(
        "SELECT station_id FROM public.stations WHERE code LIKE 'bench-%' ORDER BY station_id")]
    series_by_station = {
        station_id: [row[0] for row in conn.execute(
            "SELECT series_id FROM public.series WHERE station_id = %s ORDER BY series_id", [station_id])]
        for station_id in stations}
    rng = random.Random(20261204)
    percentiles: dict[str, Any] = {}
    naive_p95: dict[str, float] = {}

    for case in QUERY_CASES:
        calls = [(series_by_station[rng.choice(stations)][:case.series_per_call], end - case.span, end)
                 for _ in range(scale.repeats)]
        # The columns a chart draws; the naive queries return as many.
        reporting_sql = (f"SELECT series_id, bucket, value, value_min, value_max, sample_count "
                         f"FROM reporting.{case.function}(%s, %s, %s)")
        for ids, start, stop in calls[:3]:  # warm the cache before timing
            conn.execute(reporting_sql, [ids, start, stop]).fetchall()
            conn.execute(case.naive_sql, {"ids": ids, "start": start, "end": stop}).fetchall()
        durations = [_timed(conn, reporting_sql, [ids, start, stop])[0] for ids, start, stop in calls]
        naive = [_timed(conn, case.naive_sql, {"ids": ids, "start": start, "end": stop})[0]
                 for ids, start, stop in calls]
        percentiles[case.name] = _percentiles(durations)
        naive_p95[case.name] = _percentiles(naive)["p95_ms"]

    percentiles["naive_p95_ms"] = naive_p95
    return percentiles


def write_report(results: dict[str, Any], path: Path = REPORT_PATH) -> None:
    """Write the Markdown record of one benchmark run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"| `{case.name}` | {results[case.name]['p50_ms']} | {results[case.name]['p95_ms']} | "
            f"{results[case.name]['p99_ms']} | {results['naive_p95_ms'][case.name]} |" for case in QUERY_CASES]
    lines = [
        "# Rollup benchmark",
        "",
        f"Command: `python -m dashboard bench --scale {results['scale']}`. Run on "
        f"{datetime.now(timezone.utc):%Y-%m-%d} ({platform.machine()}, {psutil.cpu_count()} cores, "
        f"{round(psutil.virtual_memory().total / 2**30)} GiB RAM, embedded PostgreSQL 18).",
        "",
        f"Data: {results['stations']} demo stations x {POINTS_PER_STATION} points x {results['interval_min']}-minute "
        f"samples x {results['days']} days = {results['rows']:,} raw rows, loaded at "
        f"{results['load_rows_per_second']:,} rows/s.",
        "",
        "## Reporting calls (warm cache, milliseconds)",
        "",
        "| call | p50 | p95 | p99 | naive p95 (raw aggregation) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "## Refresh (milliseconds)",
        "",
        "| measurement | ms |",
        "|---|---|",
        f"| hourly refresh after 15 minutes of new data for every series (`refresh_15min_ms`) | {results['refresh_15min_ms']} |",
        f"| hourly + daily refresh after one corrected reading (`refresh_one_correction_ms`) | {results['refresh_one_correction_ms']} |",
        f"| full `REFRESH MATERIALIZED VIEW CONCURRENTLY` of a plain hourly view (`full_refresh_ms`) | {results['full_refresh_ms']} |",
        f"| first refresh of both rollups over all history | {results['initial_refresh_ms']} |",
        "",
        f"`refresh_15min_ms` is {100 * results['refresh_15min_ms'] / results['full_refresh_ms']:.2f} % of `full_refresh_ms`.",
        "",
        "## Size and memory",
        "",
        "| measurement | value |",
        "|---|---|",
        f"| raw measurements, with indexes | {results['raw_bytes'] / 2**20:,.1f} MiB |",
        f"| hourly rollup, with index | {results['hourly_rollup_bytes'] / 2**20:,.1f} MiB ({100 * results['hourly_to_raw_ratio']:.2f} % of raw) |",
        f"| daily rollup, with index | {results['daily_rollup_bytes'] / 2**20:,.1f} MiB |",
        f"| server peak memory (sum of proportional set sizes) | {results['server_peak_memory_mb']} MiB |",
        f"| benchmark process peak RSS | {results['bench_process_peak_memory_mb']} MiB |",
        "",
        "## Raw result",
        "",
        "```json",
        json.dumps(results, indent=2, default=str),
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")

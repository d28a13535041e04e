"""Import benchmark: `python -m dashboard bench --only import [--rows N]`.

A row here is a reading: one value cell of a point at one time, the unit that
import_files counts in rows_read. `--rows 10000000` therefore means a wide CSV
of 500,000 lines with 20 value columns each.

In a server of its own under `<data dir>/bench/import/pg`, one run measures:

- raw COPY of the same readings in long text form into an UNLOGGED table
  without indexes or constraints. Its columns are those the importer
  stores (series id, UTC time, value, quality, source), and it is the
  physical limit of getting those readings into the server;
- COPY of that long form straight into public.measurements, which pays for
  the primary key, WAL and the rollup trigger but validates nothing: the
  ceiling for any importer that stores into that table;
- import_files on the wide CSV, end to end, in a child process so that its
  peak resident set size (ru_maxrss) is the importer's own;
- optionally a second import of the same file, which must change nothing.

The generated files stay in `<data dir>/bench/import/` and are reused by the
next run with the same row count. The run prints one JSON object and writes
docs/benchmarks/import.md.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import psutil
import psycopg
import yaml

from core.bench import MemorySampler, free_port
from core.logs import fields
from core.migrate import migrate
from core.pgserver import EmbeddedServer
from core.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

REPORT_PATH = PROJECT_ROOT / "docs" / "benchmarks" / "import.md"
DEFAULT_ROWS = 1_000_000
PROFILE_NAME = "bench-wide"
STATION_CODE = "bench-import"
STATION_ZONE = "Asia/Shanghai"
# The first file line's local time is fixed, so runs on different days
# import the same file. It must stay within ingest_partition_horizon_months
# of today, because the importer rejects readings outside that horizon.
FIRST_LOCAL_TIME = datetime(2025, 1, 1)
LINE_INTERVAL = timedelta(minutes=1)
CHILD_URL_VARIABLE = "PUMPDASH_BENCH_IMPORT_URL"
TARGET_RATIO = 0.40
TARGET_ROWS_PER_SECOND = 200_000
TARGET_PEAK_MB = 500
COPY_CHUNK_BYTES = 1 << 20
RAW_COPY_TABLE = "public.bench_raw_copy"
LONG_COLUMNS = "series_id, ts, value, quality, source_id"
# public.measurement_sources: 2 is 'import'. Quality 0 is good, as the importer stores it.
LONG_SUFFIX = "\t0\t2\n"


@dataclass(frozen=True)
class BenchColumn:
    """One value column of the generated file: its header, target point, file unit and value range."""

    header: str
    device: str
    metric: str
    unit: str
    low: float
    high: float
    decimals: int


def _columns() -> list[BenchColumn]:
    # Four pumps with four values each plus four station values: 20 columns,
    # between the two real exports (30 and 43 mapped columns). Flow in L/s
    # and pressure in kPa exercise the unit conversions.
    columns = []
    for pump in ("P1", "P2", "P3", "P4"):
        columns += [
            BenchColumn(f"{pump} flow", pump, "flow_rate", "L/s", 0, 120, 2),
            BenchColumn(f"{pump} power", pump, "power", "kW", 0, 90, 2),
            BenchColumn(f"{pump} frequency", pump, "frequency", "Hz", 0, 50, 2),
            BenchColumn(f"{pump} status", pump, "pump_status", "", 0, 1, 0),
        ]
    columns += [
        BenchColumn("inlet pressure", "station", "inlet_pressure", "kPa", 0, 300, 1),
        BenchColumn("outlet pressure", "station", "outlet_pressure", "kPa", 200, 900, 1),
        BenchColumn("well level", "well", "level", "m", 0, 6, 3),
        BenchColumn("well volume", "well", "volume", "m³", 0, 2000, 1),
    ]
    return columns


COLUMNS = _columns()


def bench_profile() -> dict[str, Any]:
    """Return the import profile of the generated file, as configs/ingest.yaml would contain it."""
    devices = [{"code": "station", "kind": "station", "name_zh": "全站", "name_en": "whole station"},
               {"code": "well", "kind": "tank", "name_zh": "集水井", "name_en": "wet well"}]
    devices += [{"code": pump, "kind": "pump", "name_zh": f"{pump} 号泵", "name_en": f"pump {pump}"}
                for pump in ("P1", "P2", "P3", "P4")]
    return {
        "format": "csv",
        "header_row": 1,
        "time_column": "time",
        "sample_interval_s": int(LINE_INTERVAL.total_seconds()),
        "station": {"code": STATION_CODE, "name_zh": "导入基准泵站", "name_en": "import benchmark station",
                    "timezone": STATION_ZONE},
        "devices": devices,
        "columns": {column.header: {"device": column.device, "metric": column.metric, "unit": column.unit}
                    for column in COLUMNS},
    }


# ---------------------------------------------------------------- generated files


@dataclass(frozen=True)
class BenchFiles:
    wide_csv: Path
    long_text: Path
    profiles: Path
    lines: int
    readings: int


def generate_files(folder: Path, readings: int, *, say: Callable[[str], None] = print) -> BenchFiles:
    """Write the wide CSV, the same readings in COPY text form and the profile, or reuse files already there.

    The readings are rounded down to whole lines of len(COLUMNS) values.
    """
    lines = max(readings // len(COLUMNS), 1)
    stem = f"wide-{lines * len(COLUMNS)}-v2"
    files = BenchFiles(folder / f"{stem}.csv", folder / f"{stem}.long.txt", folder / "profiles.yaml", lines,
                       lines * len(COLUMNS))
    folder.mkdir(parents=True, exist_ok=True)
    files.profiles.write_text(yaml.safe_dump({"profiles": {PROFILE_NAME: bench_profile()}}, allow_unicode=True),
                              encoding="utf-8")
    if files.wide_csv.exists() and files.long_text.exists():
        say(f"bench: reusing {files.wide_csv.name} and {files.long_text.name}")
        return files

    say(f"bench: writing {files.readings:,} readings as {lines:,} CSV lines and in long form ...")
    _write_files(files)
    return files


def _write_files(files: BenchFiles) -> None:
    rng = random.Random(20260501)
    utc_offset = FIRST_LOCAL_TIME.replace(tzinfo=_zone()).utcoffset()
    wide_partial = files.wide_csv.with_suffix(".partial")
    long_partial = files.long_text.with_suffix(".partial")
    with wide_partial.open("w", encoding="utf-8", newline="") as wide, \
            long_partial.open("w", encoding="utf-8", newline="") as long_form:
        wide.write(",".join(["time", *(column.header for column in COLUMNS)]) + "\n")
        for line in range(files.lines):
            local_time = FIRST_LOCAL_TIME + line * LINE_INTERVAL
            utc_text = (local_time - utc_offset).isoformat(sep=" ") + "+00"
            values = [f"{rng.uniform(column.low, column.high):.{column.decimals}f}" for column in COLUMNS]
            wide.write(local_time.isoformat(sep=" ") + "," + ",".join(values) + "\n")
            long_form.writelines(f"{point}\t{utc_text}\t{value}{LONG_SUFFIX}"
                                 for point, value in enumerate(values, start=1))
    # Renamed only when complete, so an interrupted run never leaves a short file to reuse.
    wide_partial.rename(files.wide_csv)
    long_partial.rename(files.long_text)


def _zone():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(STATION_ZONE)
    # The long form uses one UTC offset for every line, which is only right
    # for a zone without daylight saving time.
    if zone.utcoffset(FIRST_LOCAL_TIME) != zone.utcoffset(FIRST_LOCAL_TIME.replace(month=7)):
        raise ValueError(f"{STATION_ZONE} has daylight saving time; the benchmark needs a zone without it")
    return zone


# ---------------------------------------------------------------- measurements


def run_import_benchmark(settings: Settings, readings: int = DEFAULT_ROWS, *, rerun: bool = False,
                         say: Callable[[str], None] = print, report_path: Path = REPORT_PATH) -> dict[str, Any]:
    """Measure raw COPY and import_files on `readings` generated readings and write the report to `report_path`."""
    folder = settings.data_dir / "bench" / "import"
    files = generate_files(folder, readings, say=say)
    server_folder = folder / "server"
    shutil.rmtree(server_folder, ignore_errors=True)
    server_folder.mkdir(parents=True)
    server = EmbeddedServer(pgdata=server_folder / "pg", port=free_port(), database="pumpdash_bench",
                            settings=settings.db_server_settings)
    results: dict[str, Any] = {"rows": files.readings, "row_unit": "reading", "lines": files.lines,
                               "columns": len(COLUMNS), "batch_rows": settings.ingest_batch_rows,
                               "load_before": _load_average()}
    server.start()
    try:
        url = server.url()
        migrate(url)
        _reset_statement_statistics(url)
        with MemorySampler(server.pgdata) as sampler:
            say(f"bench: COPY of {files.readings:,} readings into an unlogged table without indexes ...")
            results["copy"] = _measure_raw_copy(url, files)
            say("bench: COPY of the same readings straight into public.measurements ...")
            results["copy_measurements"] = _measure_measurements_copy(url, files)
            say(f"bench: import of {files.wide_csv.name} ...")
            results["import"] = _measure_import(url, files, server_folder, settings)
            if rerun:
                say("bench: importing the same file again ...")
                results["reimport"] = _measure_import(url, files, server_folder, settings)
        results["server_peak_memory_mb"] = round(sampler.peak_bytes / 2**20, 1)
        results["stored_rows"] = _stored_rows(url)
        results["top_statements"] = _top_statements(url)
    finally:
        server.stop()
        shutil.rmtree(server_folder, ignore_errors=True)

    results["load_after"] = _load_average()
    results["ratio"] = round(results["import"]["rows_per_second"] / results["copy"]["rows_per_second"], 3)
    results["ceiling_ratio"] = round(
        results["copy_measurements"]["rows_per_second"] / results["copy"]["rows_per_second"], 3)
    results["targets_met"] = {
        "ratio_at_least_0.40": results["ratio"] >= TARGET_RATIO,
        "rows_per_second_at_least_200000": results["import"]["rows_per_second"] >= TARGET_ROWS_PER_SECOND,
        "peak_mb_under_500": results["import"]["peak_rss_mb"] < TARGET_PEAK_MB,
    }
    write_report(results, report_path)
    log.info("bench.import.done", extra=fields(rows=files.readings, ratio=results["ratio"],
                                               import_rows_per_second=results["import"]["rows_per_second"]))
    return results


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def _measure_raw_copy(url: str, files: BenchFiles) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_COPY_TABLE}")
        conn.execute(f"CREATE UNLOGGED TABLE {RAW_COPY_TABLE} (series_id integer, ts timestamptz, "
                     "value double precision, quality smallint, source_id smallint)")
        seconds = _copy_long_form(conn, RAW_COPY_TABLE, files)
        copied = conn.execute(f"SELECT count(*) FROM {RAW_COPY_TABLE}").fetchone()[0]
        conn.execute(f"DROP TABLE {RAW_COPY_TABLE}")
        # The steps that follow should not pay for this table's dirty buffers.
        conn.execute("CHECKPOINT")
    return _copy_result(copied, seconds, files)


def _measure_measurements_copy(url: str, files: BenchFiles) -> dict[str, Any]:
    """COPY the long form into public.measurements, then empty it again for the import."""
    with psycopg.connect(url, autocommit=True) as conn:
        # The partitions the import will need, so that both write into the
        # same monthly partitions; the import then creates none.
        last_local_time = FIRST_LOCAL_TIME + (files.lines - 1) * LINE_INTERVAL
        conn.execute("SELECT public.ensure_measurement_partitions(%s, %s)",
                     [FIRST_LOCAL_TIME.replace(tzinfo=_zone()), last_local_time.replace(tzinfo=_zone())])
        conn.execute("CHECKPOINT")
        seconds = _copy_long_form(conn, "public.measurements", files)
        copied = conn.execute("SELECT count(*) FROM public.measurements").fetchone()[0]
        conn.execute("TRUNCATE public.measurements, reporting.rollup_invalidations")
        conn.execute("CHECKPOINT")
    return _copy_result(copied, seconds, files)


def _copy_long_form(conn: psycopg.Connection, table: str, files: BenchFiles) -> float:
    started = time.perf_counter()
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({LONG_COLUMNS}) FROM STDIN") as copy, \
            files.long_text.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK_BYTES):
            copy.write(chunk)
    return time.perf_counter() - started


def _copy_result(copied: int, seconds: float, files: BenchFiles) -> dict[str, Any]:
    if copied != files.readings:
        raise RuntimeError(f"COPY stored {copied} rows instead of {files.readings}; "
                           f"delete {files.long_text} and run the benchmark again")
    return {"rows": copied, "seconds": round(seconds, 2), "rows_per_second": round(copied / seconds)}


def _measure_import(url: str, files: BenchFiles, server_folder: Path, settings: Settings) -> dict[str, Any]:
    """Run import_files in a child process and return its summary, wall time and peak RSS."""
    environment = {**os.environ, CHILD_URL_VARIABLE: url,
                   "PUMPDASH_INGEST_BATCH_ROWS": str(settings.ingest_batch_rows)}
    command = [sys.executable, "-m", "core.bench_import", str(files.wide_csv), str(files.profiles),
               str(server_folder)]
    started = time.perf_counter()
    child = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True, check=False)
    wall_seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"the import child process failed with exit code {child.returncode}: "
                           f"{child.stderr.strip()[-2000:]}")
    outcome = json.loads(child.stdout)
    summary = outcome["summary"]
    if summary["rows_read"] != files.readings:
        raise RuntimeError(f"the importer read {summary['rows_read']} readings instead of {files.readings}")
    return {
        "rows": summary["rows_read"],
        "seconds": round(summary["seconds"], 2),
        "rows_per_second": round(summary["rows_read"] / summary["seconds"]),
        "process_seconds": round(wall_seconds, 2),
        "peak_rss_mb": round(outcome["peak_rss_kib"] / 1024, 1),
        "copy_seconds": round(summary["copy_seconds"], 2),
        "merge_seconds": round(summary["merge_seconds"], 2),
        "batches": summary["batches"],
        "back_pressure_waits": summary["back_pressure_waits"],
        "rows_accepted": summary["rows_accepted"],
        "rows_rejected": summary["rows_rejected"],
        "rows_duplicate": summary["rows_duplicate"],
        "rows_inserted": summary["rows_inserted"],
        "rows_updated": summary["rows_updated"],
        "rows_unchanged": summary["rows_unchanged"],
        "partitions_created": summary["partitions_created"],
    }


def _reset_statement_statistics(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")


def _stored_rows(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM public.measurements").fetchone()[0]


def _top_statements(url: str, limit: int = 8) -> list[dict[str, Any]]:
    """Return the statements that took the most server time during the run, from pg_stat_statements."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 160), calls, round(total_exec_time)::bigint "
            "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT %s", [limit]).fetchall()
    return [{"query": query, "calls": calls, "total_ms": total_ms} for query, calls, total_ms in rows]


# ---------------------------------------------------------------- report


def write_report(results: dict[str, Any], path: Path = REPORT_PATH) -> None:
    """Write the Markdown record of one import benchmark run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    copy, imported = results["copy"], results["import"]
    command = "python -m dashboard bench --only import"
    if results["rows"] != DEFAULT_ROWS:
        command += f" --rows {results['rows']}"
    if "reimport" in results:
        command += " --rerun"
    rows = [
        f"| raw COPY into an unlogged table without indexes | {copy['rows']:,} | {copy['seconds']} | "
        f"{copy['rows_per_second']:,} | - |",
        f"| COPY into `public.measurements` (no validation) | {results['copy_measurements']['rows']:,} | "
        f"{results['copy_measurements']['seconds']} | {results['copy_measurements']['rows_per_second']:,} | - |",
        f"| import_files, first import | {imported['rows']:,} | {imported['seconds']} | "
        f"{imported['rows_per_second']:,} | {imported['peak_rss_mb']} |",
    ]
    if "reimport" in results:
        again = results["reimport"]
        rows.append(f"| import_files, same file again | {again['rows']:,} | {again['seconds']} | "
                    f"{again['rows_per_second']:,} | {again['peak_rss_mb']} |")
    met = results["targets_met"]
    lines = [
        "# Import benchmark",
        "",
        f"Command: `{command}`. Run on {datetime.now(timezone.utc):%Y-%m-%d} ({platform.machine()}, "
        f"{psutil.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB RAM, embedded "
        f"PostgreSQL 18, Python {platform.python_version()}). Load average (1, 5, 15 min) before the run "
        f"{results['load_before']}, after it {results['load_after']}.",
        "",
        f"A row is a reading: one value cell of a point at one time. The file is a wide CSV of "
        f"{results['lines']:,} lines. Each line has a naive local time ({STATION_ZONE}) and {results['columns']} "
        f"value columns, so the file has {results['rows']:,} readings.",
        "",
        "- Raw COPY loads the same readings in long text form (series id, UTC time, value, quality, source) "
        "into an unlogged table without indexes.",
        "- COPY into `public.measurements` loads that long form into the real table, with its primary key, "
        "WAL and rollup trigger. It validates nothing, so it is the ceiling for any importer that stores into "
        "that table. The partitions were created before it, so the import creates none.",
        f"- The importer ran in a child process with `ingest_batch_rows` = {results['batch_rows']:,}. Its peak "
        "memory is that process's maximum resident set size.",
        "",
        "| what | readings | seconds | readings/s | peak MB |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"- Import throughput: {100 * results['ratio']:.1f} % of raw COPY (target at least "
        f"{100 * TARGET_RATIO:.0f} %: {'met' if met['ratio_at_least_0.40'] else 'missed'}).",
        f"- Import rate: {imported['rows_per_second']:,} readings/s (target at least {TARGET_ROWS_PER_SECOND:,}: "
        f"{'met' if met['rows_per_second_at_least_200000'] else 'missed'}).",
        f"- Importer peak memory: {imported['peak_rss_mb']} MB (target under {TARGET_PEAK_MB}: "
        f"{'met' if met['peak_mb_under_500'] else 'missed'}).",
        f"- COPY into `public.measurements` reaches {100 * results['ceiling_ratio']:.1f} % of raw COPY.",
        f"- The importer spent {imported['copy_seconds']} s in staging COPY and {imported['merge_seconds']} s in "
        f"the check and store functions. Those steps run for three batches at once, and a reader thread parses "
        f"the file meanwhile, so the sums can exceed the import's {imported['seconds']} s.",
        "",
        "Other sessions may share the machine, so throughput varies with the load average above. The figures "
        "before and after each change behind the importer's design are in docs/PLAYBOOKS/DECISIONS.md, "
        "decision 14. Timings of real exports are in docs/benchmarks/import-real-files.md.",
        "",
        "## Raw result",
        "",
        "```json",
        json.dumps(results, indent=2, ensure_ascii=False, default=str),
        "```",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------- child process


def _run_child(wide_csv: str, profiles: str, data_dir: str) -> None:
    """Import `wide_csv` as the CLI would and print its summary and this process's peak RSS as JSON."""
    from core.ingest import import_files
    from core.logs import setup_logging
    from core.settings import load_settings

    settings = load_settings(data_dir=Path(data_dir))
    setup_logging(settings)
    summary = import_files(os.environ[CHILD_URL_VARIABLE], [Path(wide_csv)], PROFILE_NAME, settings=settings,
                           profiles_path=Path(profiles))
    # ru_maxrss is in KiB on Linux.
    peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"summary": summary.to_dict(), "peak_rss_kib": peak_rss_kib}, default=str))


if __name__ == "__main__":
    _run_child(*sys.argv[1:4])

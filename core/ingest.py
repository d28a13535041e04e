"""File import: read CSV or XLSX exports through a profile, COPY readings into staging, merge batch by batch.

A profile in configs/ingest.yaml names the header row, unit row and time
column of a file and maps each value column to a (device, metric, unit)
point of one station. Python reads the file, parses times and stages one
row per reading with binary COPY into the session's temporary table
pg_temp.import_staging. public.check_staged_measurements validates, converts
units and de-duplicates each batch, and public.store_checked_measurements
upserts it, inside the same transaction, so a batch is stored whole or not
at all. core/loader.py runs those steps for three batches at once, on three
connections.

A reader thread builds the next batch meanwhile. It stays at most one batch
ahead, and the loader drops a batch's rows once they are in the server, so
memory is bounded by about three batches of `ingest_batch_rows` readings.
"""

from __future__ import annotations

import csv
import json
import logging
import platform
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import openpyxl
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from core.db import DatabaseError, execute_logged, function_call
from core.i18n import load_catalogue, t
from core.loader import CheckOptions, LoadSettings, dry_run_batches, load_batches
from core.logs import fields
from core.profiles import PROFILES_PATH, IngestError, Profile, ProfileError, load_profiles, pick_profile
from core.staging import Batch, Source, generate_batches, prepare_sources, staging_columns
from core.settings import Settings, load_settings

__all__ = ["IngestError", "ImportSummary", "Profile", "ProfileError", "import_files", "load_profiles"]

log = logging.getLogger(__name__)

REJECTS_SQL = ("SELECT line_no, column_name, value_text, reason_code, detail FROM public.import_rejects "
               "WHERE run_id = %s ORDER BY line_no, column_name")
REJECTS_HEADER = ("line_no", "column_name", "value_text", "reason_code", "reason_zh", "reason_en", "detail")
REJECTS_FETCH_ROWS = 10_000
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SECRET_WORDS = ("password", "secret", "token")

# ---------------------------------------------------------------- summary


@dataclass
class ImportSummary:
    """Counts and durations of one import run; rows_read = rows_accepted + rows_rejected + rows_duplicate.

    A reading is one cell mapped to a point (in a long export, one row of a
    mapped tag). A cell that contains no reading (empty, a missing-value token or
    a sentinel) is not a reading: it is counted in rows_missing only.
    tz_fallback counts file rows whose naive time was read in
    settings.default_timezone because neither the profile nor the database
    gave the station a zone.
    """

    run_id: str
    profile: str
    status: str = "running"
    dry_run: bool = False
    files: int = 0
    timestamps: int = 0
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    rows_missing: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_kept: int = 0
    partitions_created: int = 0
    batches: int = 0
    back_pressure_waits: int = 0
    tz_fallback: int = 0
    copy_seconds: float = 0.0
    merge_seconds: float = 0.0
    seconds: float = 0.0
    columns_ignored: list[str] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    run_dir: str = ""
    error: str | None = None

    @property
    def readings_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    @property
    def timestamps_per_second(self) -> float:
        return self.timestamps / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["readings_per_second"] = round(self.readings_per_second, 1)
        values["timestamps_per_second"] = round(self.timestamps_per_second, 1)
        return values

    def add_merge_counts(self, counts: dict[str, Any]) -> None:
        for name in ("rows_accepted", "rows_rejected", "rows_duplicate", "rows_inserted", "rows_updated",
                     "rows_unchanged", "rows_kept", "partitions_created"):
            setattr(self, name, getattr(self, name) + int(counts[name]))


# ---------------------------------------------------------------- reader thread


_END_OF_BATCHES = object()


class _BatchReader:
    """Iterate batches that a reader thread builds, at most one ahead of the consumer.

    back_pressure_waits counts how often the reader had a batch ready but had
    to wait because the database was still busy with the previous one.
    """

    def __init__(self, batches: Iterator[Batch]):
        self._batches = batches
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="ingest-reader", daemon=True)
        self.back_pressure_waits = 0

    def __enter__(self) -> _BatchReader:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self._queue.get()
            if item is _END_OF_BATCHES:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def _fill(self) -> None:
        try:
            for batch in self._batches:
                if not self._put(batch):
                    return
            self._put(_END_OF_BATCHES)
        except Exception as error:  # raised again by the consumer in __iter__
            self._put(error)
        finally:
            self._batches.close()

    def _put(self, item: Any) -> bool:
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.back_pressure_waits += 1
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False


# ---------------------------------------------------------------- database steps


def _call(conn: psycopg.Connection, function: str, **params: Any) -> list[dict[str, Any]]:
    return execute_logged(conn, function, function_call(function, params), params).rows


def _resolve_timezone(conn: psycopg.Connection, profile: Profile, settings: Settings) -> tuple[str, bool]:
    """Pick the zone for naive times and tell whether it is the configured fallback rather than a known zone."""
    if profile.station.timezone:
        return profile.station.timezone, False
    row = conn.execute("SELECT timezone FROM public.stations WHERE code = %s", [profile.station.code]).fetchone()
    if row is not None:
        return row[0], False
    return settings.default_timezone, True


def _ensure_catalogue(conn: psycopg.Connection, profile: Profile, zone: str) -> None:
    """Create or update the profile's station, devices and series in one transaction."""
    station = profile.station
    step = f"station {station.code!r}"
    try:
        with conn.transaction():
            _call(conn, "public.ensure_station", p_code=station.code, p_name_zh=station.name_zh,
                  p_name_en=station.name_en, p_timezone=zone)
            for device in profile.devices:
                step = f"device {device.code!r}"
                _call(conn, "public.ensure_device", p_station_code=station.code, p_code=device.code,
                      p_kind=device.kind, p_name_zh=device.name_zh, p_name_en=device.name_en)
            for header, spec in profile.columns.items():
                step = f"column {header!r}"
                _call(conn, "public.ensure_series", p_station_code=station.code, p_device_code=spec.device,
                      p_metric_code=spec.metric,
                      p_sample_interval_s=spec.sample_interval_s or profile.sample_interval_s)
    except DatabaseError as error:
        raise IngestError(f"profile {profile.name!r}, {step}: {error}. Fix it in configs/ingest.yaml") from error


def _start_run(conn: psycopg.Connection, run_id: str, profile: Profile, sources: list[Source]) -> None:
    try:
        conn.execute("INSERT INTO public.import_runs (run_id, profile, sources) VALUES (%s, %s, %s)",
                     [run_id, profile.name, Jsonb([source.describe() for source in sources])])
    except psycopg.errors.UniqueViolation:
        raise IngestError(f"import run {run_id!r} already exists; omit run_id to get a new one") from None


def _finish_run(conn: psycopg.Connection, summary: ImportSummary) -> None:
    conn.execute(
        """UPDATE public.import_runs
           SET finished_at = now(), status = %s, sources = %s, rows_read = %s, rows_accepted = %s,
               rows_rejected = %s, rows_duplicate = %s, rows_missing = %s, rows_inserted = %s, rows_updated = %s,
               tz_fallback = %s, error = %s
           WHERE run_id = %s""",
        [summary.status, Jsonb(summary.sources), summary.rows_read, summary.rows_accepted, summary.rows_rejected,
         summary.rows_duplicate, summary.rows_missing, summary.rows_inserted, summary.rows_updated,
         summary.tz_fallback, summary.error, summary.run_id],
    )
    conn.execute("SELECT public.delete_import_file_keys(%s)", [summary.run_id])


# ---------------------------------------------------------------- run folder


def _mask_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: "***" if any(word in str(key).lower() for word in SECRET_WORDS) else _mask_secrets(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_mask_secrets(item) for item in value]
    return value


def _describe_database(url: str) -> dict[str, str]:
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return {"url": "unparseable"}
    return _mask_secrets({key: str(value) for key, value in parts.items()})


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def _write_env(run_dir: Path, url: str, paths: list[Path], profile: Profile, settings: Settings,
               sources: list[Source], changed_by: str, server_version: str) -> None:
    _write_json(run_dir / "env.json", {
        "run_id": run_dir.name,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "arguments": {"paths": [str(path) for path in paths], "profile": profile.name, "changed_by": changed_by,
                      "database": _describe_database(url)},
        "configuration": {"settings": _mask_secrets(settings.model_dump(mode="json")),
                          "profiles_file": str(PROFILES_PATH), "profile": profile.model_dump(mode="json")},
        "sources": [{"path": str(source.path), "size_bytes": source.size_bytes, "sha256": source.sha256}
                    for source in sources],
        "environment": {"python": platform.python_version(), "platform": platform.platform(),
                        "psycopg": psycopg.__version__, "openpyxl": openpyxl.__version__,
                        "postgresql": server_version},
    })


def _write_rejects(conn: psycopg.Connection, run_dir: Path, run_id: str) -> None:
    """Export the run's rejected readings as rejects.csv beside summary.json, each reason in Chinese and English.

    The file starts with a byte order mark, so Excel opens the Chinese text as UTF-8.
    """
    with (run_dir / "rejects.csv").open("w", encoding="utf-8-sig", newline="") as handle, conn.transaction(), \
            conn.cursor(name="import_rejects_export") as cursor:
        writer = csv.writer(handle)
        writer.writerow(REJECTS_HEADER)
        cursor.itersize = REJECTS_FETCH_ROWS
        cursor.execute(REJECTS_SQL, [run_id])
        for line_no, column, value, reason, detail in cursor:
            writer.writerow((line_no, column, value, reason, reject_reason(reason, "zh-CN"),
                             reject_reason(reason, "en"), detail))


def reject_reason(code: str, lang: str) -> str:
    """Return the name of reject reason `code` in `lang`; an unknown code is shown as itself."""
    key = f"ingest.reason.{code}"
    return t(key, lang) if key in load_catalogue(lang) else code


# ---------------------------------------------------------------- entry point


def new_run_id(profile_name: str) -> str:
    """Return a new run id: UTC time stamp, profile name and a random suffix."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", profile_name)[:60]
    return f"{stamp}-{safe_name}-{secrets.token_hex(3)}"


def _check_run_id(run_id: str) -> str:
    if not RUN_ID_PATTERN.match(run_id):
        raise IngestError(f"invalid run id {run_id!r}: use 1-100 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit, or omit it to get a generated one")
    return run_id


def _check_options(batch: Batch) -> CheckOptions:
    # The path names the file for the duplicate rule; later batches of the
    # file are checked against this one unless it is the file's last.
    return CheckOptions(file_key=str(batch.source.path), more_batches=not batch.last_of_file)


def _run_batches(conn: psycopg.Connection, url: str, sources: list[Source], profile: Profile, zone: str,
                 summary: ImportSummary, settings: Settings, changed_by: str,
                 progress: Callable[[int, int], None] | None, overwrite_corrections: bool) -> None:
    rows_total = sum(source.rows_estimate or 0 for source in sources)
    rows_done = 0
    if progress:
        progress(0, rows_total)

    batch_settings = LoadSettings(run_id=summary.run_id,
                                 partition_horizon_months=settings.ingest_partition_horizon_months,
                                 ambiguous_local_time=profile.ambiguous_time, changed_by=changed_by,
                                 overwrite_corrections=overwrite_corrections)
    batches = generate_batches(sources, profile, summary.run_id, settings.ingest_batch_rows, zone)
    with _BatchReader(batches) as reader:
        if summary.dry_run:
            loaded_batches = dry_run_batches(conn, reader, staging_columns(profile), batch_settings, _check_options)
        else:
            loaded_batches = load_batches(url, reader, staging_columns(profile), batch_settings, _check_options)
        for loaded in loaded_batches:
            batch, counts = loaded.batch, loaded.counts
            copy_s, merge_s = loaded.copy_seconds, loaded.merge_seconds
            summary.batches += 1
            summary.copy_seconds += copy_s
            summary.merge_seconds += merge_s
            summary.add_merge_counts(counts)
            batch.source.timestamps += batch.timestamps
            batch.source.naive_timestamps += batch.naive_timestamps
            batch.source.rows_read += loaded.readings
            batch.source.rows_missing += batch.missing
            log.info("import.batch", extra=fields(
                run_id=summary.run_id, batch_no=batch.batch_no, file=batch.source.path.name,
                lines=f"{batch.first_line}-{batch.last_line}", readings=loaded.readings, missing=batch.missing,
                accepted=counts["rows_accepted"], rejected=counts["rows_rejected"],
                duplicate=counts["rows_duplicate"], inserted=counts["rows_inserted"],
                updated=counts["rows_updated"], copy_ms=round(copy_s * 1000, 1), merge_ms=round(merge_s * 1000, 1)))

            rows_done += batch.file_rows
            if progress:
                progress(rows_done, max(rows_total, rows_done))
        summary.back_pressure_waits = reader.back_pressure_waits


def _collect_source_counts(summary: ImportSummary, sources: list[Source], tz_fallback_used: bool) -> None:
    summary.timestamps = sum(source.timestamps for source in sources)
    summary.rows_read = sum(source.rows_read for source in sources)
    summary.rows_missing = sum(source.rows_missing for source in sources)
    summary.tz_fallback = sum(source.naive_timestamps for source in sources) if tz_fallback_used else 0
    summary.sources = [source.describe() for source in sources]
    summary.columns_ignored = sorted({f"{source.path.name}:{name}" for source in sources
                                      for name in source.columns_ignored})


def import_files(url: str, paths: list[Path], profile_name: str | Profile, *, settings: Settings | None = None,
                 run_id: str | None = None, changed_by: str = "import",
                 progress: Callable[[int, int], None] | None = None,
                 profiles_path: Path | None = None, overwrite_corrections: bool = False,
                 dry_run: bool = False) -> ImportSummary:
    """Import `paths` with profile `profile_name` (a name or a Profile) into the database at `url`.

    Each batch is committed on its own, so when a later batch fails the earlier
    ones stay stored. Running the same import again is safe: unchanged
    readings are counted in rows_unchanged and not rewritten. Readings an
    operator corrected are kept and counted in rows_kept, unless
    `overwrite_corrections` replaces them with the file's values.
    `progress(rows_done, rows_total)` is called after each batch with file
    data rows; rows_total is an estimate from the file size or sheet size.
    `profiles_path` reads profiles from another YAML file (for tests and tools).

    A `dry_run` does all of it in one transaction on one connection and rolls
    it back. The summary and rejects.csv then give exactly the counts and
    rejects of the import, and the database keeps nothing (status "checked").
    """
    started = time.perf_counter()
    settings = settings or load_settings()
    profile = profile_name if isinstance(profile_name, Profile) else \
        pick_profile(load_profiles(profiles_path), profile_name)
    if not paths:
        raise IngestError("no files given; pass at least one CSV or XLSX path")
    run_id = _check_run_id(run_id) if run_id else new_run_id(profile.name)
    sources = prepare_sources(list(paths), profile)
    for source in sources:
        if source.columns_ignored:
            log.warning("import.columns_ignored", extra=fields(file=source.path.name, columns=source.columns_ignored,
                                                               profile=profile.name))

    summary = ImportSummary(run_id=run_id, profile=profile.name, files=len(sources), dry_run=dry_run)
    run_dir = settings.runs_dir / run_id
    summary.run_dir = str(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)

    with psycopg.connect(url, autocommit=True, application_name="pumpdash-import") as conn, \
            _rolled_back_if(conn, dry_run):
        zone, tz_fallback_used = _resolve_timezone(conn, profile, settings)
        _ensure_catalogue(conn, profile, zone)
        _start_run(conn, run_id, profile, sources)
        try:
            _write_env(run_dir, url, list(paths), profile, settings, sources, changed_by,
                       conn.execute("SHOW server_version").fetchone()[0])
            log.info("import.start", extra=fields(run_id=run_id, profile=profile.name, files=len(sources),
                                                  timezone=zone, batch_rows=settings.ingest_batch_rows))
            if tz_fallback_used:
                log.warning("import.tz_fallback", extra=fields(run_id=run_id, station=profile.station.code,
                                                               timezone=zone))
            _run_batches(conn, url, sources, profile, zone, summary, settings, changed_by, progress,
                         overwrite_corrections)
            summary.status = "checked" if dry_run else "succeeded"
        except BaseException as error:
            summary.status = "failed"
            summary.error = str(error) or type(error).__name__
            raise
        finally:
            _collect_source_counts(summary, sources, tz_fallback_used)
            summary.seconds = time.perf_counter() - started
            _close_run(conn, run_dir, summary)
    return summary


def _rolled_back_if(conn: psycopg.Connection, dry_run: bool) -> AbstractContextManager[Any]:
    """Return a transaction rolled back at its end for a dry run, or a no-op for an import, which commits per batch."""
    return conn.transaction(force_rollback=True) if dry_run else nullcontext()


def _close_run(conn: psycopg.Connection, run_dir: Path, summary: ImportSummary) -> None:
    """Record the run's outcome in import_runs, summary.json and rejects.csv, and log it."""
    staged_total = summary.rows_accepted + summary.rows_rejected + summary.rows_duplicate
    if staged_total != summary.rows_read:
        log.error("import.count_mismatch", extra=fields(run_id=summary.run_id, rows_read=summary.rows_read,
                                                        rows_merged=staged_total))
    try:
        if not summary.dry_run:
            _finish_run(conn, summary)
        if summary.rows_rejected or summary.rows_duplicate:
            _write_rejects(conn, run_dir, summary.run_id)
    except psycopg.Error as error:
        # The run's own error, if any, is more useful to the caller than this one.
        log.error("import.record_failed", extra=fields(run_id=summary.run_id, error=str(error)))
    _write_json(run_dir / "summary.json", summary.to_dict())

    event = fields(**{key: value for key, value in summary.to_dict().items() if key not in ("sources",)})
    if summary.status in ("succeeded", "checked"):
        log.info("import.done", extra=event)
    else:
        log.error("import.failed", extra=event)

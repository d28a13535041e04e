"""Loading side of the import: COPY each batch into staging, check it and store it, three batches at once.

Each batch is one transaction on one connection (a lane): binary COPY into
the session's pg_temp.import_staging, public.check_staged_measurements, then
public.store_checked_measurements and COMMIT. The three steps form a
pipeline. While this thread COPYs batch k on one lane, a check thread checks
batch k-1 on the next lane and a store thread stores batch k-2 on the third.
Parsing, validation and writing thus keep both cores of a small server busy.
Each step runs one batch at a time in batch order, so batches commit in file
order, and an import killed at any moment leaves whole batches only.

The store step of a batch starts only after the batch before it has
committed. That order is what the duplicate rule across batches relies on:
the store function compares the batch with the keys that the file's
earlier, committed batches wrote to public.import_file_keys, so the first
valid line of the file wins.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

import psycopg
from psycopg import sql

from core.db import execute_logged, function_call
from core.logs import fields

log = logging.getLogger(__name__)

CHECK_FUNCTION = "public.check_staged_measurements"
STORE_FUNCTION = "public.store_checked_measurements"
# One lane per pipeline step (COPY, check, store); more would only queue
# behind the slowest step, which runs one batch at a time.
LANE_COUNT = 3
STAGING_TYPES_SQL = ("SELECT a.atttypid FROM unnest(%s::text[]) WITH ORDINALITY AS c(name, position) "
                     "JOIN pg_attribute AS a ON a.attrelid = 'pg_temp.import_staging'::regclass AND a.attname = c.name "
                     "ORDER BY c.position")


class StagingError(RuntimeError):
    """The database's staging table does not have the columns the importer stages."""


class StoreSkipped(RuntimeError):
    """A staged batch was rolled back because the check or store step of an earlier batch failed."""


@dataclass(frozen=True)
class CheckOptions:
    """Parameters of public.check_staged_measurements that depend on the batch: its file and whether more follow."""

    file_key: str | None
    more_batches: bool


@dataclass(frozen=True)
class LoadSettings:
    """Parameters of the check and store functions that are the same for every batch of a run."""

    run_id: str
    partition_horizon_months: int
    ambiguous_local_time: str
    changed_by: str
    overwrite_corrections: bool


@dataclass
class LoadedBatch:
    """Outcome of one committed batch: the store function's counts and where the time went."""

    batch: Any
    readings: int
    counts: dict[str, Any]
    copy_seconds: float
    merge_seconds: float


@dataclass
class _Lane:
    conn: psycopg.Connection
    staging_types: list[int]


@dataclass
class _StoreOrder:
    """Set once a check or store step fails, so that no later batch commits after the gap it leaves."""

    failed: bool = False


@dataclass
class _InFlight:
    batch: Any
    readings: int
    copy_seconds: float
    stored: Future


def load_batches(url: str, batches: Iterable[Any], columns: tuple[str, ...], settings: LoadSettings,
                 check_options: Callable[[Any], CheckOptions]) -> Iterator[LoadedBatch]:
    """Stage, check and store every batch; yield each after its commit, in batch order.

    A batch needs `batch_no` and `rows`, tuples in the order of `columns`.
    Its rows are emptied once they are in the server. `check_options(batch)`
    names its file for the duplicate rule. When a batch fails, the batches
    before it are committed and yielded first, then the error is raised.
    """
    copy_sql = _copy_statement(columns)
    with ExitStack() as stack:
        lanes = [_open_lane(url, columns, stack) for _ in range(LANE_COUNT)]
        checker = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-check"))
        storer = stack.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store"))
        order = _StoreOrder()
        in_flight: deque[_InFlight] = deque()
        try:
            for number, batch in enumerate(batches):
                # The lane's previous batch must be committed before it stages another.
                while len(in_flight) >= LANE_COUNT:
                    yield _finish(in_flight.popleft())
                lane = lanes[number % LANE_COUNT]
                options = check_options(batch)
                readings, copy_seconds = _stage(lane, batch, copy_sql)
                # copy_context() gives the threads this thread's context
                # variables, so their log records reach the run's log file.
                checked = checker.submit(contextvars.copy_context().run, _check, lane, order, settings,
                                         batch.batch_no, options)
                stored = storer.submit(contextvars.copy_context().run, _store, lane, order, checked, settings)
                in_flight.append(_InFlight(batch, readings, copy_seconds, stored))
            while in_flight:
                yield _finish(in_flight.popleft())
        except GeneratorExit:
            raise
        except BaseException:
            # Batches already handed to the check and store threads still commit;
            # report them before the error.
            while in_flight:
                pending = in_flight.popleft()
                if pending.stored.exception() is None:
                    yield _finish(pending)
            raise


def dry_run_batches(conn: psycopg.Connection, batches: Iterable[Any], columns: tuple[str, ...],
                    settings: LoadSettings, check_options: Callable[[Any], CheckOptions]) -> Iterator[LoadedBatch]:
    """Stage, check and store every batch on `conn`, one after another, inside the caller's transaction.

    For a dry run: the caller rolls the transaction back at the end, so the
    counts are exactly those an import would report (including the duplicate
    rule across batches and the inserted, updated and kept readings) and
    nothing stays stored. Nothing here commits.
    """
    copy_sql = _copy_statement(columns)
    lane = _Lane(conn, _create_staging(conn, columns))
    for batch in batches:
        started = time.perf_counter()
        readings = _copy_rows(lane, batch, copy_sql)
        copy_seconds = time.perf_counter() - started
        started = time.perf_counter()
        _check_batch(conn, settings, batch.batch_no, check_options(batch))
        counts = _store_batch(conn, settings)
        merge_seconds = time.perf_counter() - started
        # Staging empties at commit only, and this transaction commits never.
        conn.execute("TRUNCATE pg_temp.import_staging")
        yield LoadedBatch(batch, readings, counts, copy_seconds, merge_seconds)


def _copy_statement(columns: tuple[str, ...]) -> sql.Composable:
    return sql.SQL("COPY pg_temp.import_staging ({}) FROM STDIN (FORMAT binary)").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)))


def _create_staging(conn: psycopg.Connection, columns: tuple[str, ...]) -> list[int]:
    """Create the session's staging table; return the type oids of `columns` for binary COPY."""
    conn.execute("SELECT public.create_import_staging()")
    type_oids = [row[0] for row in conn.execute(STAGING_TYPES_SQL, [list(columns)])]
    if len(type_oids) != len(columns):
        raise StagingError(f"public.measurement_staging is missing some of the columns {', '.join(columns)}; "
                           "run python -m dashboard migrate")
    return type_oids


def _open_lane(url: str, columns: tuple[str, ...], stack: ExitStack) -> _Lane:
    # Not autocommit: a batch's transaction spans its COPY, check and store
    # steps, which run in different threads.
    conn = stack.enter_context(psycopg.connect(url, application_name="pumpdash-import"))
    type_oids = _create_staging(conn, columns)
    conn.commit()
    return _Lane(conn, type_oids)


def _stage(lane: _Lane, batch: Any, copy_sql: sql.Composable) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        readings = _copy_rows(lane, batch, copy_sql)
    except BaseException:
        lane.conn.rollback()
        raise
    return readings, time.perf_counter() - started


def _copy_rows(lane: _Lane, batch: Any, copy_sql: sql.Composable) -> int:
    with lane.conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
        # Binary COPY skips formatting each value as text in Python and
        # parsing it again in the server.
        copy.set_types(lane.staging_types)
        for row in batch.rows:
            copy.write_row(row)
    readings = len(batch.rows)
    # The rows are in the server now. Dropping them leaves at most three
    # batches in this process: one read ahead, one being read, one in COPY.
    batch.rows = []
    return readings


def _check(lane: _Lane, order: _StoreOrder, settings: LoadSettings, batch_no: int,
           options: CheckOptions) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    try:
        if order.failed:
            raise StoreSkipped("an earlier batch of this import failed, so this one was not checked")
        checked = _check_batch(lane.conn, settings, batch_no, options)
    except BaseException:
        order.failed = True
        lane.conn.rollback()
        raise
    return checked, time.perf_counter() - started


def _store(lane: _Lane, order: _StoreOrder, checked: Future, settings: LoadSettings) -> tuple[dict[str, Any], float]:
    _, check_seconds = checked.result()
    started = time.perf_counter()
    try:
        if order.failed:
            raise StoreSkipped("an earlier batch of this import failed, so this one was not stored")
        stored = _store_batch(lane.conn, settings)
        lane.conn.commit()
    except BaseException as error:
        order.failed = True
        lane.conn.rollback()
        log.error("import.store_failed", extra=fields(run_id=settings.run_id, error=str(error)))
        raise
    return stored, check_seconds + time.perf_counter() - started


def _check_batch(conn: psycopg.Connection, settings: LoadSettings, batch_no: int,
                 options: CheckOptions) -> dict[str, Any]:
    return _call(conn, CHECK_FUNCTION, p_run_id=settings.run_id, p_batch_no=batch_no,
                 p_partition_horizon_months=settings.partition_horizon_months,
                 p_file_key=options.file_key, p_more_batches=options.more_batches,
                 p_ambiguous_local_time=settings.ambiguous_local_time)


def _store_batch(conn: psycopg.Connection, settings: LoadSettings) -> dict[str, Any]:
    return _call(conn, STORE_FUNCTION, p_source="import", p_changed_by=settings.changed_by,
                 p_overwrite_substituted=settings.overwrite_corrections)


def _finish(pending: _InFlight) -> LoadedBatch:
    counts, merge_seconds = pending.stored.result()
    return LoadedBatch(pending.batch, pending.readings, counts, pending.copy_seconds, merge_seconds)


def _call(conn: psycopg.Connection, function: str, **params: Any) -> dict[str, Any]:
    return execute_logged(conn, function, function_call(function, params), params).rows[0]

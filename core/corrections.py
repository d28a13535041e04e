"""Operators' corrections of readings: calls of the api.* write functions and their errors.

The checks (range, quality, reason, comment), the version conflict and the
audit live in the api.* functions. This module passes the signed-in user's
name, runs a batch of corrections in one transaction, and turns the
database's errors into `CorrectionError`s that name the field and the reading
at fault, for messages in the user's language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import pandas as pd
import psycopg

from core.db import Database, DatabaseError, execute_logged, function_call
from core.logs import fields

log = logging.getLogger(__name__)

PAGE_SIZE = 100
COUNT_CAP = 100_000
QUALITIES = (0, 1, 2)
SOURCES = ("demo", "import", "manual", "api")
KEY_SEPARATOR = "|"

# SQLSTATEs the api.* functions raise on purpose.
INVALID_VALUE = "22023"    # invalid_parameter_value, with the field in COLUMN
CONFLICT = "40001"         # serialization_failure: version or count changed
NOT_FOUND = "P0002"        # no_data_found: the reading is gone
ALREADY_EXISTS = "23505"   # unique_violation: a restore found the reading back


class CorrectionError(Exception):
    """A change was rejected. `kind` is invalid, unchanged, conflict, not_found, exists or failed.

    `field` names the input at fault for `invalid`, and `reading_key` the
    reading of a batch that failed; `detail` is the database's own message.
    """

    def __init__(self, kind: str, detail: str, *, field: str | None = None, reading_key: str | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.field = field
        self.reading_key = reading_key


@dataclass(frozen=True)
class Filter:
    """Filter of the measurements page: series, half-open UTC range, qualities, source."""

    series_ids: tuple[int, ...]
    start: datetime
    end: datetime
    qualities: tuple[int, ...] = ()
    source: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "p_series_ids": list(self.series_ids), "p_from": self.start, "p_to": self.end,
            "p_quality": list(self.qualities) or None, "p_source": self.source,
        }


@dataclass(frozen=True)
class Change:
    """One correction: the reading, what the operator saw (version) and what it should become."""

    series_id: int
    ts: datetime
    expected_version: int
    value: float | None
    quality: int


def reading_key(series_id: int, ts: datetime | pd.Timestamp) -> str:
    """Return the key `series_id|ISO UTC time` of a reading. Tables and editors index rows by it, never by position."""
    return f"{int(series_id)}{KEY_SEPARATOR}{pd.Timestamp(ts).tz_convert('UTC').isoformat()}"


def parse_reading_key(key: str) -> tuple[int, datetime]:
    series_id, _, ts = key.partition(KEY_SEPARATOR)
    return int(series_id), pd.Timestamp(ts).to_pydatetime()


def _as_error(error: DatabaseError, *, reading: str | None = None) -> CorrectionError:
    kinds = {INVALID_VALUE: "invalid", CONFLICT: "conflict", NOT_FOUND: "not_found", ALREADY_EXISTS: "exists"}
    kind = kinds.get(error.sqlstate, "failed")
    if kind == "invalid" and error.detail == "unchanged":
        kind = "unchanged"
    return CorrectionError(kind, error.message, field=error.column, reading_key=reading)


def _call(conn: psycopg.Connection, function: str, **params: Any) -> list[dict[str, Any]]:
    return execute_logged(conn, function, function_call(function, params), params).rows


def _frame(rows: list[dict[str, Any]], columns: Sequence[str], time_columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in time_columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


READING_COLUMNS = ("series_id", "ts", "value", "original_value", "quality", "substituted", "source", "version",
                   "updated_at", "updated_by")


def list_readings(db: Database, selection: Filter, after: tuple[int, datetime] | None = None,
                  limit: int = PAGE_SIZE) -> pd.DataFrame:
    """Return one page of readings matching `selection` after the keyset `after`, indexed by reading key."""
    params = selection.params()
    if after is not None:
        params.update(p_after_series_id=after[0], p_after_ts=after[1])
    rows = _calls(db, "api.get_measurements", p_limit=limit, **params)
    frame = _frame(rows, READING_COLUMNS, ("ts", "updated_at"))
    frame.index = pd.Index([reading_key(row.series_id, row.ts) for row in frame.itertuples()], name="key")
    return frame


def count_readings(db: Database, selection: Filter, cap: int = COUNT_CAP) -> int:
    """Count the readings matching `selection`, up to `cap`."""
    return _calls(db, "api.count_measurements", p_cap=cap, **selection.params())[0]["count_measurements"]


def _calls(db: Database, function: str, **params: Any) -> list[dict[str, Any]]:
    try:
        return db.call(function, write=True, **params)
    except DatabaseError as error:
        raise _as_error(error) from error


def correct(db: Database, changes: Sequence[Change], *, reason_code: str, comment: str, user: str) -> list[dict]:
    """Apply `changes` in one transaction: all of them, or none when one is rejected.

    The error of a rejected change names its reading key, so a batch shows
    which row to fix. The changes before it are rolled back with it.
    """
    applied = []
    with db.connection(write=True) as conn:
        with conn.transaction():
            for change in changes:
                try:
                    rows = _call(conn, "api.update_measurement_value", p_series_id=change.series_id,
                                 p_ts=change.ts, p_value=change.value, p_quality=change.quality,
                                 p_reason_code=reason_code, p_comment=comment,
                                 p_expected_version=change.expected_version, p_changed_by=user)
                except DatabaseError as error:
                    raise _as_error(error, reading=reading_key(change.series_id, change.ts)) from error
                applied.extend(rows)

    log.info("corrections.applied", extra=fields(user=user, readings=len(applied), reason_code=reason_code))
    return applied


def history(db: Database, series_id: int, ts: datetime) -> pd.DataFrame:
    """Return the audit history of one reading, oldest first."""
    rows = _calls(db, "api.get_measurement_history", p_series_id=series_id, p_ts=ts)
    columns = ("audit_id", "action", "old_value", "new_value", "old_quality", "new_quality", "reason_code",
               "comment", "changed_by", "changed_at")
    return _frame(rows, columns, ("changed_at",))


def preview_delete(db: Database, selection: Filter) -> int:
    """Count the readings a delete of `selection` would remove now, ignoring its source filter."""
    params = selection.params()
    params.pop("p_source")
    return _calls(db, "api.delete_measurements_by_filter", p_dry_run=True, **params)[0][
        "delete_measurements_by_filter"]


def delete(db: Database, selection: Filter, *, expected_count: int, reason_code: str, comment: str,
           user: str) -> int:
    """Delete the readings of `selection`, refused when they are no longer `expected_count`; returns the count."""
    params = selection.params()
    params.pop("p_source")
    deleted = _calls(db, "api.delete_measurements_by_filter", p_dry_run=False, p_expected_count=expected_count,
                     p_reason_code=reason_code, p_comment=comment, p_changed_by=user, **params)[0][
        "delete_measurements_by_filter"]
    log.info("corrections.deleted", extra=fields(user=user, readings=deleted, series=list(selection.series_ids)))
    return deleted


DELETED_COLUMNS = ("audit_id", "series_id", "ts", "old_value", "old_quality", "reason_code", "comment", "changed_by",
                   "changed_at")


def deleted_readings(db: Database, selection: Filter, limit: int = 500) -> pd.DataFrame:
    """Readings of `selection`'s series and range whose last change was a delete, newest first."""
    rows = _calls(db, "api.get_deleted_measurements", p_series_ids=list(selection.series_ids), p_from=selection.start,
                  p_to=selection.end, p_limit=limit)
    return _frame(rows, DELETED_COLUMNS, ("ts", "changed_at"))


def restore(db: Database, audit_ids: Sequence[int], *, comment: str, user: str) -> int:
    """Undo the deletes recorded in `audit_ids` in one transaction; all come back, or none. Returns the count."""
    with db.connection(write=True) as conn:
        with conn.transaction():
            for audit_id in audit_ids:
                try:
                    _call(conn, "api.restore_measurement", p_audit_id=audit_id, p_comment=comment, p_changed_by=user)
                except DatabaseError as error:
                    raise _as_error(error) from error

    log.info("corrections.restored", extra=fields(user=user, readings=len(audit_ids)))
    return len(audit_ids)


def changed_rows(before: pd.DataFrame, after: pd.DataFrame, columns: Sequence[str] = ("value", "quality")) -> pd.DataFrame:
    """Rows of `after` whose `columns` differ from `before`, matched by index (the reading key), not position.

    NaN equals NaN here, so an untouched empty cell is no change.
    """
    common = after.index.intersection(before.index)
    old = before.loc[common, list(columns)]
    new = after.loc[common, list(columns)]
    differs = ~((old == new) | (old.isna() & new.isna())).all(axis=1)
    return after.loc[differs[differs].index]

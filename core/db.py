"""Connection pools and calls of database functions.

Two pools per process: the read pool opens every transaction read-only with
a statement timeout; the write pool is for api.* and maintenance calls. The
pools may connect as different roles (see core/dbroles.py).
Every call of a database function is logged as a `db.exec.*` event with the
function name, duration and row count.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple

import pandas as pd
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.logs import fields

log = logging.getLogger(__name__)

QUALIFIED_NAME = re.compile(r"^(reporting|api|monitoring|public)\.[a-z_][a-z0-9_]{0,62}$")
PARAMETER_NAME = re.compile(r"^p_[a-z0-9_]{1,60}$")


class DatabaseError(RuntimeError):
    """A database call failed, with PostgreSQL's SQLSTATE, message, hint, detail and the column at fault (if any)."""

    def __init__(self, function: str, error: psycopg.Error):
        self.function = function
        self.sqlstate = error.sqlstate
        self.message = error.diag.message_primary or str(error)
        self.hint = error.diag.message_hint
        self.column = error.diag.column_name
        self.detail = error.diag.message_detail
        super().__init__(f"{function}: {self.message}" + (f" ({self.hint})" if self.hint else ""))


def _qualified(name: str) -> sql.Composable:
    if not QUALIFIED_NAME.match(name):
        raise ValueError(f"invalid database object name {name!r}: expected schema.name in reporting, api, monitoring or public")
    schema, _, object_name = name.partition(".")
    return sql.Identifier(schema, object_name)


def function_call(function: str, params: dict[str, Any]) -> sql.Composed:
    """`SELECT * FROM schema.fn(p_a => %(p_a)s, ...)` with every name checked and quoted."""
    arguments = []
    for name in params:
        if not PARAMETER_NAME.match(name):
            raise ValueError(f"invalid parameter name {name!r} for {function}: expected p_ followed by lower-case letters")
        arguments.append(sql.SQL("{} => {}").format(sql.Identifier(name), sql.Placeholder(name)))
    return sql.SQL("SELECT * FROM {}({})").format(_qualified(function), sql.SQL(", ").join(arguments))


class Database:
    """The read and write pools of one process, opened on first use.

    `url` is the read pool's connection string and `write_url` the write
    pool's (default: `url`).
    """

    def __init__(self, url: str, *, write_url: str | None = None, min_size: int = 1, max_size: int = 8,
                 statement_timeout_ms: int = 30_000, application_name: str = "pumpdash"):
        read_options = f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms}"
        self.read_pool = ConnectionPool(
            url, min_size=min_size, max_size=max_size, open=False, name="read",
            kwargs={"options": read_options, "application_name": f"{application_name}-read"},
        )
        self.write_pool = ConnectionPool(
            write_url or url, min_size=min_size, max_size=max_size, open=False, name="write",
            kwargs={"application_name": f"{application_name}-write"},
        )

    def open(self) -> "Database":
        self.read_pool.open(wait=True, timeout=30)
        self.write_pool.open(wait=True, timeout=30)
        return self

    def close(self) -> None:
        self.read_pool.close()
        self.write_pool.close()

    @contextmanager
    def connection(self, *, write: bool = False) -> Iterator[psycopg.Connection]:
        pool = self.write_pool if write else self.read_pool
        with pool.connection() as conn:
            yield conn

    def call(self, function: str, *, write: bool = False, **params: Any) -> list[dict[str, Any]]:
        """Run a set-returning or scalar database function and return its rows as dicts."""
        query = function_call(function, params)
        with self.connection(write=write) as conn:
            return execute_logged(conn, function, query, params).rows

    def frame(self, function: str, **params: Any) -> pd.DataFrame:
        """Read-pool call of a database function as a DataFrame."""
        query = function_call(function, params)
        with self.connection() as conn:
            result = execute_logged(conn, function, query, params)
        return pd.DataFrame(result.rows, columns=result.columns)

    def view(self, view: str, order_by: tuple[str, ...] = ()) -> pd.DataFrame:
        """Return all rows of a reporting or monitoring view as a DataFrame."""
        query = sql.SQL("SELECT * FROM {}").format(_qualified(view))
        if order_by:
            query += sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(sql.Identifier(c) for c in order_by))
        with self.connection() as conn:
            result = execute_logged(conn, view, query, {})
        return pd.DataFrame(result.rows, columns=result.columns)


class Result(NamedTuple):
    rows: list[dict[str, Any]]
    columns: list[str]


def execute_logged(conn: psycopg.Connection, function: str, query: sql.Composable, params: dict[str, Any]) -> Result:
    """Execute `query` on `conn`, log a db.exec.ok or db.exec.error event and return rows and column names."""
    started = time.perf_counter()
    try:
        with conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(query, params)
            rows = cursor.fetchall() if cursor.description else []
            columns = [column.name for column in cursor.description or []]
    except psycopg.Error as error:
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        log.warning("db.exec.error", extra=fields(function=function, duration_ms=duration_ms, sqlstate=error.sqlstate,
                                                    error=error.diag.message_primary))
        raise DatabaseError(function, error) from error
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    log.info("db.exec.ok", extra=fields(function=function, duration_ms=duration_ms, rows=len(rows)))
    return Result(rows, columns)

"""Versioned migrations and re-runnable routines under sql/.

- `sql/migrations/NNNN_name.sql`: applied once each, in order, each in its
  own transaction, recorded in public.schema_migrations with a checksum.
- `sql/routines/<schema>.<name>.sql`: one function or view per file, written
  with CREATE OR REPLACE and ending with its GRANTs, re-applied whenever the
  file's checksum changes. CREATE OR REPLACE keeps existing grants and the
  file restates them, so a re-created routine keeps its privileges.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from core.logs import fields
from core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = PROJECT_ROOT / "sql" / "migrations"
ROUTINES_DIR = PROJECT_ROOT / "sql" / "routines"
MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
MIGRATE_LOCK_KEY = 7_240_001  # advisory lock id shared by every migrate run
PREMAKE_MONTHS_AHEAD = 3
# Errors that mean "a routine this file needs is not created yet".
DEPENDENCY_SQLSTATES = {"42883", "42P01", "42704", "3F000"}

BOOKKEEPING_SQL = """
CREATE TABLE IF NOT EXISTS public.schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS public.schema_routines (
    file        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(RuntimeError):
    """A migration or routine file failed or was changed after being applied."""


@dataclass
class MigrationReport:
    migrations_applied: list[str] = field(default_factory=list)
    routines_applied: list[str] = field(default_factory=list)
    partitions_created: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.migrations_applied or self.routines_applied or self.partitions_created)


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def migration_files() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"invalid migration file name {path.name}: expected NNNN_lower_case_name.sql")
        found.append((int(match.group(1)), path))
    return found


def routine_files() -> list[Path]:
    return sorted(ROUTINES_DIR.glob("*.sql"))


def migrate(url: str, *, target: int | None = None) -> MigrationReport:
    """Bring the database at `url` to migration `target` (default: the latest) and current routines."""
    report = MigrationReport()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        try:
            conn.execute(BOOKKEEPING_SQL)
            _apply_migrations(conn, target, report)
            latest = max((version for version, _ in migration_files()), default=0)
            if target is None or target >= latest:
                _apply_routines(conn, report)
                report.partitions_created = conn.execute(
                    "SELECT public.premake_measurement_partitions(%s)", [PREMAKE_MONTHS_AHEAD]
                ).fetchone()[0]
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
    log.info("migrate.done", extra=fields(migrations=len(report.migrations_applied),
                                          routines=len(report.routines_applied),
                                          partitions_created=report.partitions_created))
    return report


def _apply_migrations(conn: psycopg.Connection, target: int | None, report: MigrationReport) -> None:
    applied = dict(conn.execute("SELECT version, checksum FROM public.schema_migrations").fetchall())
    for version, path in migration_files():
        checksum = _checksum(path)
        if version in applied:
            if applied[version] != checksum:
                raise MigrationError(
                    f"migration {path.name} changed after it was applied; add a new migration instead of editing it")
            continue
        if target is not None and version > target:
            break
        with conn.transaction():
            try:
                conn.execute(path.read_text(encoding="utf-8"))
            except psycopg.Error as error:
                raise MigrationError(f"migration {path.name} failed: {error.diag.message_primary}") from error
            conn.execute("INSERT INTO public.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                         [version, path.name, checksum])
        report.migrations_applied.append(path.name)
        log.info("migrate.migration", extra=fields(file=path.name))


def _apply_routines(conn: psycopg.Connection, report: MigrationReport) -> None:
    applied = dict(conn.execute("SELECT file, checksum FROM public.schema_routines").fetchall())
    pending = [path for path in routine_files() if applied.get(path.name) != _checksum(path)]

    # Files are applied alphabetically; one that needs a routine from a later
    # file fails with a dependency error and is retried after the others.
    with conn.transaction():
        while pending:
            deferred, last_error = [], None
            for path in pending:
                try:
                    with conn.transaction():
                        conn.execute(path.read_text(encoding="utf-8"))
                except psycopg.Error as error:
                    if error.sqlstate not in DEPENDENCY_SQLSTATES:
                        raise MigrationError(f"routine {path.name} failed: {error.diag.message_primary}") from error
                    deferred.append(path)
                    last_error = error
                    continue
                conn.execute(
                    "INSERT INTO public.schema_routines (file, checksum) VALUES (%s, %s) "
                    "ON CONFLICT (file) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()",
                    [path.name, _checksum(path)],
                )
                report.routines_applied.append(path.name)
            if len(deferred) == len(pending):
                raise MigrationError(
                    f"routines {', '.join(p.name for p in deferred)} failed: {last_error.diag.message_primary}")
            pending = deferred


def status(url: str) -> dict[str, list[str]]:
    """Applied and pending migration and routine files."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BOOKKEEPING_SQL)
        applied = {row[0] for row in conn.execute("SELECT name FROM public.schema_migrations")}
        routines = dict(conn.execute("SELECT file, checksum FROM public.schema_routines").fetchall())
    return {
        "applied": sorted(applied),
        "pending_migrations": [p.name for _, p in migration_files() if p.name not in applied],
        "pending_routines": [p.name for p in routine_files() if routines.get(p.name) != _checksum(p)],
    }

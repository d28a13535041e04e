"""Migrations: idempotent, same schema whether applied at once or step by step, comments everywhere."""

from __future__ import annotations

import subprocess

import psycopg
import pytest

from core.migrate import migrate, migration_files
from core.pgserver import bin_dir


def _create_database(pg_server, name: str) -> str:
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.url(name)


def _schema_dump(url: str) -> str:
    dump = subprocess.run(
        [str(bin_dir() / "pg_dump"), "--schema-only", "--no-owner", "--exclude-table=public.schema_*", url],
        capture_output=True, text=True, check=True,
    ).stdout
    # pg_dump 18 wraps its output in \restrict lines carrying a random key per run.
    return "\n".join(line for line in dump.splitlines() if not line.startswith("\\restrict") and not line.startswith("\\unrestrict"))


def test_migrate_twice_is_noop(db_url):
    report = migrate(db_url)

    assert report.migrations_applied == []
    assert report.routines_applied == []
    assert report.partitions_created == 0
    assert report.changed is False


def test_step_by_step_equals_fresh(pg_server):
    fresh_url = _create_database(pg_server, "schema_fresh")
    stepwise_url = _create_database(pg_server, "schema_stepwise")
    migrate(fresh_url)
    for version, _ in migration_files():
        migrate(stepwise_url, target=version)
    migrate(stepwise_url)

    assert _schema_dump(stepwise_url) == _schema_dump(fresh_url)


def test_changed_routine_keeps_grants(pg_server):
    url = _create_database(pg_server, "schema_reapply")
    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE public.schema_routines SET checksum = 'stale' WHERE file = 'reporting.get_metrics_hourly.sql'")

    report = migrate(url)

    assert report.routines_applied == ["reporting.get_metrics_hourly.sql"]
    with psycopg.connect(url) as conn:
        granted = conn.execute(
            "SELECT has_function_privilege('pumpdash_read', "
            "'reporting.get_metrics_hourly(integer[], timestamptz, timestamptz)', 'EXECUTE')"
        ).fetchone()[0]
    assert granted is True


def test_partitions_premade_three_months(conn):
    names = {row[0] for row in conn.execute(
        "SELECT public.measurement_partition_name((date_trunc('month', now() AT TIME ZONE 'UTC') "
        "+ make_interval(months => n))::date) FROM generate_series(0, 3) AS n")}
    existing = {row[0] for row in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'public.measurements'::regclass")}

    assert names <= existing
    assert "measurements_default" in existing


@pytest.mark.parametrize("schema", ["reporting", "api", "monitoring", "public"])
def test_routines_have_comments(conn, schema):
    uncommented = conn.execute(
        """
        SELECT p.oid::regprocedure::text
        FROM pg_proc AS p
        JOIN pg_namespace AS n ON n.oid = p.pronamespace
        LEFT JOIN pg_depend AS d ON d.objid = p.oid AND d.deptype = 'e'
        WHERE n.nspname = %(schema)s AND d.objid IS NULL AND obj_description(p.oid, 'pg_proc') IS NULL
        UNION ALL
        SELECT c.oid::regclass::text
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        LEFT JOIN pg_depend AS d ON d.objid = c.oid AND d.deptype = 'e'
        WHERE n.nspname = %(schema)s AND c.relkind IN ('v', 'm') AND d.objid IS NULL
          AND obj_description(c.oid, 'pg_class') IS NULL
        """,
        {"schema": schema},
    ).fetchall()

    assert uncommented == []


def test_routines_declare_volatility():
    from core.migrate import routine_files

    missing = [
        path.name for path in routine_files()
        if "FUNCTION" in path.read_text() and not any(
            word in path.read_text() for word in ("\nIMMUTABLE", "\nSTABLE", "\nVOLATILE"))
    ]

    assert missing == []

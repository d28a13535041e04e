"""Dry runs: the counts and rejects of an import, with nothing left in the database."""

from __future__ import annotations

import csv
from datetime import datetime
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from core.ingest import import_files
from core.settings import load_settings
from tests.conftest import app_role_env
from tests.dbtools import module_database
from tests.importtools import run_cli, series_id, small_profile, stored_value, write_profiles

SHANGHAI = ZoneInfo("Asia/Shanghai")
STATION = "dry-run"
# Six lines in batches of four readings: lines 2-3, 4-5 and 6-7 form a batch
# each. Line 6 repeats line 2's hour in a later batch, line 4 has a value
# out of range and line 5 a word instead of a number.
LINES = ("time,flow,level\n"
         "2031-02-01 00:00,10.0,1.0\n"
         "2031-02-01 01:00,11.0,1.1\n"
         "2031-02-01 02:00,200000,1.2\n"
         "2031-02-01 03:00,abc,1.3\n"
         "2031-02-01 00:00,99.0,9.9\n"
         "2031-02-01 04:00,14.0,1.4\n")
COUNTS = ("rows_read", "rows_accepted", "rows_rejected", "rows_duplicate", "rows_inserted", "rows_updated",
          "rows_unchanged", "rows_kept", "partitions_created", "batches")


@pytest.fixture(scope="module")
def dry_db_url(pg_server, db_url) -> str:
    """A database of its own, so that "nothing stored" is not blurred by other tests' imports."""
    return module_database(pg_server, db_url, "pumpdash_dry_run")


@pytest.fixture(scope="module")
def dry_import_url(dry_db_url, app_role_urls) -> str:
    return make_conninfo(app_role_urls.importer, dbname="pumpdash_dry_run")


@pytest.fixture
def dry_conn(dry_db_url):
    with psycopg.connect(dry_db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def dry_run_case(tmp_path):
    profiles = write_profiles(tmp_path, {"small": small_profile(STATION)})
    data = tmp_path / "dry.csv"
    data.write_text(LINES, encoding="utf-8")
    # model_copy skips validation, which requires at least 1,000 readings per batch.
    settings = load_settings(data_dir=tmp_path / "data").model_copy(update={"ingest_batch_rows": 4})
    return profiles, data, settings


def stored_state(conn) -> tuple:
    """Everything a dry run of STATION could leave behind."""
    return (
        conn.execute("SELECT count(*) FROM public.stations WHERE code = %s", [STATION]).fetchone()[0],
        conn.execute("SELECT count(*) FROM public.import_runs WHERE profile = 'small'"
                     " AND sources::text LIKE '%%dry.csv%%'").fetchone()[0],
        conn.execute("SELECT count(*) FROM public.measurements WHERE ts >= '2031-02-01' AND ts < '2031-03-01'"
                     ).fetchone()[0],
        conn.execute("SELECT to_regclass('public.measurements_p2031_02') IS NOT NULL").fetchone()[0],
        conn.execute("SELECT count(*) FROM public.import_file_keys").fetchone()[0],
    )


def test_dry_run_reports_import_and_keeps_nothing(dry_import_url, dry_run_case, dry_conn):
    profiles, data, settings = dry_run_case
    before = stored_state(dry_conn)

    checked = import_files(dry_import_url, [data], "small", settings=settings, profiles_path=profiles, dry_run=True)
    after_check = stored_state(dry_conn)
    rejects = list(csv.DictReader((settings.runs_dir / checked.run_id / "rejects.csv").open(encoding="utf-8-sig")))
    imported = import_files(dry_import_url, [data], "small", settings=settings, profiles_path=profiles)

    assert before == (0, 0, 0, False, 0)
    assert after_check == before
    assert (checked.status, checked.dry_run) == ("checked", True)
    assert {name: getattr(checked, name) for name in COUNTS} == {
        "rows_read": 12, "rows_accepted": 8, "rows_rejected": 2, "rows_duplicate": 2, "rows_inserted": 8,
        "rows_updated": 0, "rows_unchanged": 0, "rows_kept": 0, "partitions_created": 1, "batches": 3}
    assert [(row["line_no"], row["column_name"], row["reason_code"]) for row in rejects] == [
        ("4", "flow", "out_of_range"), ("5", "flow", "not_a_number"),
        ("6", "flow", "duplicate_time"), ("6", "level", "duplicate_time")]
    assert {name: getattr(imported, name) for name in COUNTS} == {name: getattr(checked, name) for name in COUNTS}
    assert imported.status == "succeeded"
    sid = series_id(dry_conn, STATION, "P1", "flow_rate")
    assert stored_value(dry_conn, sid, datetime(2031, 2, 1, 0, tzinfo=SHANGHAI)) == 10.0


def test_dry_run_after_import_reports_unchanged(dry_import_url, dry_run_case):
    """Checked again once imported, the same file would change nothing."""
    profiles, data, settings = dry_run_case
    import_files(dry_import_url, [data], "small", settings=settings, profiles_path=profiles)

    checked = import_files(dry_import_url, [data], "small", settings=settings, profiles_path=profiles, dry_run=True)

    assert (checked.rows_accepted, checked.rows_inserted, checked.rows_updated, checked.rows_unchanged) == (8, 0, 0, 8)
    assert checked.partitions_created == 0



def test_cli_dry_run_stores_nothing(dry_db_url, dry_conn, app_role_urls, shared_data, tmp_path):
    """`import --dry-run` prints what the import would do, in the chosen language, and stores nothing."""
    lines = (shared_data / "batadal-ctown-2014.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    data = tmp_path / "batadal-ctown-head.csv"
    data.write_text("".join(lines[:3]), encoding="utf-8")
    database_env = {"DATABASE_URL": dry_db_url, **app_role_env(app_role_urls, dry_db_url)}

    done = run_cli(database_env, tmp_path / "data", "import", str(data), "--profile", "batadal-ctown", "--dry-run",
                   language="en")
    stations = dry_conn.execute("SELECT count(*) FROM public.stations WHERE code = 'batadal-ctown'").fetchone()[0]

    assert done.returncode == 0, done.stderr
    assert "Dry run finished" in done.stdout
    assert "88 readings read, 88 acceptable, 0 to reject" in done.stdout
    assert "the import would insert 88" in done.stdout
    assert stations == 0

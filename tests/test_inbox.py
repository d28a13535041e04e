"""`import --run-all`: every inbox file imported as its own run, then archived or moved to failed/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest

from core.i18n import t
from core.inbox import inbox_files, profile_for
from core.profiles import IngestError, load_profiles
from tests.conftest import app_role_env
from tests.dbtools import module_database
from tests.importtools import run_cli

HSY_FILE = "hsy-blominmaki-2024-11.xlsx"
CTOWN_FILE = "batadal-ctown-2014.csv"


@pytest.fixture(scope="module")
def inbox_db_url(pg_server, db_url) -> str:
    """A database of its own, so importing the real files here leaves the shared one to the import tests."""
    return module_database(pg_server, db_url, "pumpdash_inbox")


@pytest.fixture(scope="module")
def inbox_env(inbox_db_url, app_role_urls) -> dict[str, str]:
    """The inbox database as the admin URL, with the session's login roles, so the CLI provisions nothing."""
    return {"DATABASE_URL": inbox_db_url, **app_role_env(app_role_urls, inbox_db_url)}


def log_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_run_all_imports_real_files(inbox_db_url, inbox_env, shared_data, tmp_path):
    """Both real exports are imported and archived; a file no profile matches goes to failed/ with the reason."""
    inbox = tmp_path / "inbox"
    (inbox / "batadal-ctown").mkdir(parents=True)
    shutil.copy(shared_data / HSY_FILE, inbox / HSY_FILE)
    shutil.copy(shared_data / CTOWN_FILE, inbox / "batadal-ctown" / "ctown-copy.csv")
    (inbox / "notes.txt").write_text("not an export\n", encoding="utf-8")

    done = run_cli(inbox_env, tmp_path, "import", "--run-all")

    assert done.returncode == 4, done.stderr  # 4: a file failed
    assert list(inbox.rglob("*.*")) == []
    archived = sorted(path.name for path in (tmp_path / "archive").rglob("*") if path.is_file())
    assert archived == ["ctown-copy.csv", HSY_FILE]
    failed = [path for path in (tmp_path / "failed").rglob("*") if path.is_file()]
    assert sorted(path.name for path in failed) == ["error.txt", "notes.txt"]
    error_text = next(path for path in failed if path.name == "error.txt").read_text(encoding="utf-8")
    assert t("inbox.error.no_profile", "zh-CN", file="notes.txt", profiles="hsy-blominmaki, batadal-ctown") in error_text
    assert "No profile's files patterns match the file name notes.txt" in error_text
    assert "收件箱处理完毕：3 个文件，归档 2 个，失败 1 个。" in done.stdout

    summaries = {json.loads(path.read_text())["profile"]: json.loads(path.read_text())
                 for path in (tmp_path / "runs").glob("*/summary.json")}
    assert summaries["hsy-blominmaki"]["rows_read"] == 46_080
    assert summaries["batadal-ctown"]["rows_read"] == 385_484
    for summary in summaries.values():
        assert summary["rows_read"] == summary["rows_accepted"] + summary["rows_rejected"] + summary["rows_duplicate"]
        assert summary["status"] == "succeeded"

    # Routing by_run: one JSON log file per run, holding that run's database calls.
    for summary in summaries.values():
        events = log_events(tmp_path / "logs" / "runs" / f"{summary['run_id']}.log")
        names = [event.get("event") or event.get("message") for event in events]
        assert "import.done" in names
        assert any(str(name).startswith("db.exec.") for name in names)

    with psycopg.connect(inbox_db_url) as conn:
        stored = conn.execute("SELECT value FROM public.measurements AS m JOIN reporting.v_series AS v USING (series_id)"
                              " WHERE v.station_code = 'hsy-blominmaki' AND v.device_code = 'P1.1'"
                              " AND v.metric_code = 'flow_rate' AND m.ts = '2024-11-14 22:00+00'").fetchone()
    assert stored == (1497.26159667969,)


def test_run_all_with_empty_inbox(inbox_env, tmp_path):
    done = run_cli(inbox_env, tmp_path, "import", "--run-all")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(t("cli.inbox.empty", "zh-CN", inbox=tmp_path / "inbox"))


def test_run_all_rejects_paths(inbox_env, tmp_path):
    done = run_cli(inbox_env, tmp_path, "import", "--run-all", "x.csv")

    assert done.returncode == 1
    assert done.stderr.strip() == t("cli.error.run_all_alone", "zh-CN")


def test_profile_for_names_the_fix(tmp_path):
    profiles = load_profiles()
    inbox = tmp_path / "inbox"

    assert profile_for(inbox / "HSY-Blominmaki-2025-01.XLSX", inbox, profiles).name == "hsy-blominmaki"
    assert profile_for(inbox / "batadal-ctown" / "any.csv", inbox, profiles).name == "batadal-ctown"
    with pytest.raises(IngestError) as error:
        profile_for(inbox / "nobody" / "a.csv", inbox, profiles)
    assert (error.value.key, error.value.params["folder"]) == ("inbox.error.unknown_folder", "nobody")


def test_inbox_files_skip_hidden_and_deep(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "a" / "deep").mkdir(parents=True)
    for name in ("b.csv", ".hidden.csv", "a/c.csv", "a/deep/d.csv"):
        (inbox / name).write_text("x", encoding="utf-8")

    assert [path.relative_to(inbox).as_posix() for path in inbox_files(inbox)] == ["a/c.csv", "b.csv"]

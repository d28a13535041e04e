"""`python -m dashboard` end to end: db commands, run, SIGTERM, nothing left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from core.settings import PROJECT_ROOT
from tests.conftest import app_role_env, free_port


def _env(data_dir: Path, db_port: int, web_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update({
        "PUMPDASH_DATA_DIR": str(data_dir),
        "PUMPDASH_DB_PORT": str(db_port),
        "PUMPDASH_WEB_PORT": str(web_port),
        "PUMPDASH_DEMO_STATIONS": "1",
        "PUMPDASH_DEMO_DAYS": "2",
        "PUMPDASH_LANGUAGE": "zh-CN",
    })
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def _processes_using(folder: Path, wait_s: float = 10.0) -> list[psutil.Process]:
    """Processes whose command line names `folder`, after waiting up to `wait_s` for them to exit.

    A postgres backend can outlive its postmaster's exit by a moment on a busy machine.
    """
    deadline = time.monotonic() + wait_s
    while True:
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            cmdline = " ".join(process.info["cmdline"] or [])
            if str(folder) in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(process)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def launcher_env(tmp_path):
    data_dir = tmp_path / "data"
    env = _env(data_dir, free_port(), free_port())
    yield env, data_dir
    _cli(env, "db", "stop")


def test_db_commands_start_status_url_stop(launcher_env):
    env, data_dir = launcher_env

    started = _cli(env, "db", "start")
    status = _cli(env, "db", "status")
    url = _cli(env, "db", "url")
    stopped = _cli(env, "db", "stop")
    status_after = _cli(env, "db", "status")

    assert started.returncode == 0, started.stderr
    assert status.returncode == 0
    assert env["PUMPDASH_DB_PORT"] in status.stdout
    assert url.stdout.strip().startswith("postgresql://postgres:")
    assert f"@127.0.0.1:{env['PUMPDASH_DB_PORT']}/pumpdash" in url.stdout
    assert stopped.returncode == 0
    assert status_after.returncode == 3
    assert _processes_using(data_dir) == []


def test_run_serves_dashboard_and_stops_on_sigterm(launcher_env):
    env, data_dir = launcher_env
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "run"], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{env['PUMPDASH_WEB_PORT']}"
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if url in line or process.poll() is not None:
                break
        assert any(url in line for line in output), "".join(output)

        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as response:
            assert response.read() == b"ok"
        page = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "<html" in page.lower()
        children = psutil.Process(process.pid).children(recursive=True)
        streamlit = [child for child in children if "streamlit" in " ".join(child.cmdline())]
        assert len(streamlit) == 1
        streamlit_env = streamlit[0].environ()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        output.append(process.stdout.read())

    assert process.returncode == 0, "".join(output)
    assert "演示数据" in "".join(output)
    # Streamlit connects as the two pool roles and the import role, never with the admin's or the sidecar's URL.
    assert conninfo_to_dict(streamlit_env["PUMPDASH_READ_DATABASE_URL"])["user"] == "pumpdash_web_read"
    assert conninfo_to_dict(streamlit_env["PUMPDASH_WRITE_DATABASE_URL"])["user"] == "pumpdash_web_write"
    assert conninfo_to_dict(streamlit_env["PUMPDASH_IMPORT_DATABASE_URL"])["user"] == "pumpdash_web_import"
    assert {"DATABASE_URL", "PUMPDASH_DATABASE_URL", "PUMPDASH_MAINT_DATABASE_URL"} & set(streamlit_env) == set()
    assert sorted(path.name for path in (data_dir / "secrets").iterdir()) == [
        "pumpdash_sidecar.password", "pumpdash_web_import.password", "pumpdash_web_read.password",
        "pumpdash_web_write.password"]
    assert _cli(env, "db", "status").returncode == 3
    assert _processes_using(data_dir) == []
    assert [child.pid for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []


def test_refresh_command_reports_each_rollup(db_url, app_role_urls, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUMPDASH_")}
    env.update({"DATABASE_URL": db_url, "PUMPDASH_DATA_DIR": str(tmp_path), "PUMPDASH_LANGUAGE": "zh-CN",
                **app_role_env(app_role_urls, db_url)})

    both = _cli(env, "refresh")
    hourly_en = _cli(env, "--lang", "en", "refresh", "hourly")
    wrong = _cli(env, "refresh", "weekly")

    assert both.returncode == 0, both.stderr
    assert both.stdout.count("汇总") == 2
    assert "小时" in both.stdout.splitlines()[0]
    assert hourly_en.returncode == 0, hourly_en.stderr
    assert len(hourly_en.stdout.splitlines()) == 1
    assert "hourly" in hourly_en.stdout.lower()
    assert wrong.returncode == 2
    assert "weekly" in wrong.stderr
    # All three role URLs were given, so no role was provisioned into the data folder.
    assert not (tmp_path / "secrets").exists()


def test_invalid_setting_named_without_traceback(launcher_env):
    env, _ = launcher_env
    env = {**env, "PUMPDASH_WEB_PORT": "80"}

    result = _cli(env, "db", "status")

    assert result.returncode == 2
    assert "web_port" in result.stderr
    assert "80" in result.stderr
    assert "1024" in result.stderr
    assert "PUMPDASH_WEB_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_zero_stations_rejected(launcher_env):
    env, _ = launcher_env

    result = _cli(env, "demo", "--stations", "0")

    assert result.returncode == 2
    assert "--stations" in result.stderr
    assert "0" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_db_port_named(launcher_env):
    env, _ = launcher_env
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", int(env["PUMPDASH_DB_PORT"])))
        blocker.listen()

        result = _cli(env, "db", "start")

    assert result.returncode == 1
    assert env["PUMPDASH_DB_PORT"] in result.stderr
    assert "PUMPDASH_DB_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_import_file_without_traceback(launcher_env, tmp_path):
    env, _ = launcher_env

    result = _cli(env, "import", str(tmp_path / "missing.csv"), "--profile", "batadal-ctown")

    assert result.returncode == 1
    assert "missing.csv" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_leaves_running_database_alone(launcher_env):
    env, data_dir = launcher_env
    assert _cli(env, "db", "start").returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "dashboard", "run"], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            output.append(line)
            if f"127.0.0.1:{env['PUMPDASH_WEB_PORT']}" in line and "http" in line:
                break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        output.append(process.stdout.read())

    assert process.returncode == 0, "".join(output)
    assert "db stop" in "".join(output)
    assert _cli(env, "db", "status").returncode == 0


def test_second_start_tops_up_demo(launcher_env):
    env, _ = launcher_env
    from core.demo import count_demo_stations
    from core.settings import load_settings

    first = _cli(env, "demo", "--stations", "1", "--days", "2")
    assert first.returncode == 0, first.stderr
    assert _cli(env, "db", "start").returncode == 0
    url = _cli(env, "db", "url").stdout.strip()
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM public.measurements WHERE ts > now() - interval '3 hours'")
        conn.commit()

    from dashboard.cli import prepare_database
    prepare_database(url, load_settings(data_dir=Path(env["PUMPDASH_DATA_DIR"]), language="zh-CN"))
    with psycopg.connect(url) as conn:
        newest_age_min = conn.execute("SELECT extract(epoch FROM now() - max(ts)) / 60 FROM public.measurements").fetchone()[0]

    assert count_demo_stations(url) == 1
    assert newest_age_min < 30

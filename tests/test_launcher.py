"""`python -m dashboard` end to end: db commands, run, SIGTERM, nothing left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from core.settings import PROJECT_ROOT
from tests.conftest import free_port


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


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(process)
    return found


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
        assert any("streamlit" in " ".join(child.cmdline()) for child in children)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        output.append(process.stdout.read())

    assert process.returncode == 0, "".join(output)
    assert "演示数据" in "".join(output)
    assert _cli(env, "db", "status").returncode == 3
    assert _processes_using(data_dir) == []
    assert [child.pid for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []

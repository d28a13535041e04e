"""`python -m dashboard run`: own the embedded server, prepare the database, run Streamlit.

The launcher starts (or reuses) the embedded PostgreSQL, applies migrations,
loads demo data into an empty database, provisions the login roles and
starts `streamlit run` as a child in its own process group. The child
connects as the read and write login roles only and never gets the admin
URL. Ctrl-C or SIGTERM stops Streamlit first, then the database with a
fast shutdown, so no process is left behind.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from typing import Callable, Iterator

from core.dbroles import RoleUrls
from core.logs import fields
from core.pgserver import EmbeddedServer, port_is_free, server_from_settings
from core.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

APP_FILE = PROJECT_ROOT / "dashboard" / "app.py"
# Connection strings Streamlit must not inherit: the admin's and the
# maintenance role's. pydantic-settings matches environment names in any
# case (case_sensitive is False by default), so the check ignores case.
WITHHELD_VARIABLES = {"DATABASE_URL", "PUMPDASH_DATABASE_URL", "PUMPDASH_MAINT_DATABASE_URL"}
HEALTH_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10


class LaunchError(RuntimeError):
    """The dashboard could not be started; `key` and `params` name the catalogue message."""

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        super().__init__(f"{key} {params}")


@contextmanager
def database_url(settings: Settings, *, keep_running: bool = False) -> Iterator[str]:
    """Yield the database URL; an embedded server this call started is stopped afterwards."""
    if not settings.uses_embedded_server:
        yield settings.database_url.get_secret_value()
        return

    server = server_from_settings(settings)
    started = server.start()
    try:
        yield server.url()
    finally:
        if started and not keep_running:
            server.stop()


def streamlit_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "streamlit", "run", str(APP_FILE),
        "--server.address", "127.0.0.1",
        "--server.port", str(settings.web_port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]


def streamlit_environment(settings: Settings, roles: RoleUrls) -> dict[str, str]:
    """Return this process's environment for Streamlit: the pool and import roles' URLs and no other connection string."""
    env = {key: value for key, value in os.environ.items() if key.upper() not in WITHHELD_VARIABLES}
    env.update({
        "PUMPDASH_READ_DATABASE_URL": roles.read,
        "PUMPDASH_WRITE_DATABASE_URL": roles.write,
        "PUMPDASH_IMPORT_DATABASE_URL": roles.importer,
        "PUMPDASH_LANGUAGE": settings.language,
    })
    return env


def wait_for_health(port: int, process: subprocess.Popen, timeout_s: float = HEALTH_TIMEOUT_S) -> bool:
    """Poll Streamlit's health endpoint until it returns ok, the child exits or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    url = f"http://127.0.0.1:{port}/_stcore/health"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after STOP_TIMEOUT_S."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log.warning("launcher.kill", extra=fields(pid=process.pid, reason="no exit after SIGTERM"))
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def run_dashboard(settings: Settings, *, prepare: Callable[[str], RoleUrls], say: Callable[[str], None],
                  keep_db: bool = False) -> tuple[int, bool]:
    """Start the database and Streamlit, block until a signal or Streamlit exits.

    `prepare` gets the admin URL and returns the login roles' URLs.
    Return the exit code and whether the embedded server was stopped.
    """
    if not port_is_free(settings.web_port):
        raise LaunchError("cli.error.web_port_busy", port=settings.web_port)

    # A server that was already running (another dashboard, `db start`)
    # belongs to the process that started it, so it is left running on exit.
    server: EmbeddedServer | None = None
    if settings.uses_embedded_server:
        candidate = server_from_settings(settings)
        if candidate.start():
            server = candidate
        url = candidate.url()
    else:
        url = settings.database_url.get_secret_value()

    stopping = {"signal": None}

    def on_signal(signum, _frame):
        stopping["signal"] = signum

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    process = None
    try:
        roles = prepare(url)
        process = subprocess.Popen(streamlit_command(settings), cwd=PROJECT_ROOT,
                                   env=streamlit_environment(settings, roles), start_new_session=True)
        log.info("launcher.streamlit_started", extra=fields(pid=process.pid, port=settings.web_port))
        if not wait_for_health(settings.web_port, process):
            raise LaunchError("cli.error.streamlit_failed", code=process.poll(), timeout_s=HEALTH_TIMEOUT_S)
        say(f"http://127.0.0.1:{settings.web_port}")

        while stopping["signal"] is None and process.poll() is None:
            time.sleep(0.2)
        return (0 if stopping["signal"] is not None else (process.returncode or 0)), server is not None and not keep_db
    finally:
        if process is not None:
            stop_process_group(process)
        if server is not None and not keep_db:
            server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("launcher.stopped", extra=fields(signal=stopping["signal"]))

"""Shared parts of the browser tests: a Streamlit server on loopback, loopback-only pages, login.

`streamlit run` serves the app on a free loopback port; Playwright drives
Debian's Chromium. Every request that would leave 127.0.0.1 is aborted and
recorded, and the `page` fixture (tests/conftest.py) fails a test that made one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from core.settings import PROJECT_ROOT
from tests.conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
VIEWPORT = {"width": 1400, "height": 1500}
SERVER_START_TIMEOUT_S = 60
SERVER_STOP_TIMEOUT_S = 10
CHART_TIMEOUT_MS = 60_000
UI_TIMEOUT_MS = 20_000
PASSWORD = "Pumpen-Haus-2024"
CHART = '[data-testid="stPlotlyChart"]'
# Plotly draws into several stacked svg layers; the chart is ready when one exists.
CHART_SVG = f"{CHART} .main-svg"
LOGIN_LABELS = {
    "zh-CN": ("用户名", "密码", "登录", "退出登录"),
    "en": ("Username", "Password", "Log in", "Log out"),
}


@contextmanager
def streamlit_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Run `streamlit run dashboard/app.py` with `env` on a free loopback port; yield its base URL."""
    port = free_port()
    environment = {**os.environ, **env}
    environment.pop("PUMPDASH_LANGUAGE", None)
    command = [
        sys.executable, "-m", "streamlit", "run", str(PROJECT_ROOT / "dashboard" / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1",
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]
    with log_path.open("w", encoding="utf-8") as server_log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=environment, stdout=server_log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_health(port, process, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_server(process)


def wait_for_health(port: int, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"streamlit exited with code {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not answer /_stcore/health within {SERVER_START_TIMEOUT_S} s; see {log_path}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=SERVER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1"


@contextmanager
def local_page(browser: Browser, locale: str = "zh-CN") -> Iterator[Page]:
    """A page in a fresh context (its own Streamlit session) whose requests off 127.0.0.1 are aborted.

    Leaving the block fails the test if the page tried to reach another host.
    """
    context = browser.new_context(viewport=VIEWPORT, locale=locale)
    blocked: list[str] = []
    opened = context.new_page()

    def abort(route):
        blocked.append(route.request.url)
        route.abort()

    # Only off-host requests are routed, so requests to the app are not slowed down.
    opened.route(lambda url: not is_local(url), abort)
    try:
        yield opened
    finally:
        context.close()
    assert blocked == [], f"the page tried to reach other hosts: {blocked}"


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished its current rerun, so the next click lands on stable widgets.

    Elements of the previous run stay in the page, marked stale, until the
    new run replaces or removes them. The status widget can go before they do.
    """
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=CHART_TIMEOUT_MS)
    expect(page.locator('[data-stale="true"]')).to_have_count(0, timeout=CHART_TIMEOUT_MS)


def log_in(page: Page, username: str, password: str = PASSWORD, lang: str = "zh-CN") -> None:
    """Fill in and send the login form that any page shows first, and wait for the signed-in sidebar."""
    username_label, password_label, submit, logout = LOGIN_LABELS[lang]
    page.get_by_label(username_label, exact=True).fill(username)
    page.get_by_label(password_label, exact=True).fill(password)
    page.get_by_role("button", name=submit).click()
    expect(page.get_by_role("button", name=logout)).to_be_visible(timeout=UI_TIMEOUT_MS)
    wait_idle(page)


def wait_for_chart(page: Page, legend: str | None = None) -> None:
    """Wait until a chart is drawn and, when given, a legend entry reads exactly `legend`."""
    page.wait_for_selector(CHART_SVG, timeout=CHART_TIMEOUT_MS)
    if legend is not None:
        entry = page.locator(f"{CHART} .legendtext").get_by_text(legend, exact=True)
        expect(entry.first).to_be_visible(timeout=UI_TIMEOUT_MS)

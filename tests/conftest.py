"""Session fixtures: one throwaway embedded PostgreSQL on a free port, migrated once."""

from __future__ import annotations

import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core.db import Database
from core.dbroles import RoleUrls, provision_login_roles
from core.migrate import migrate
from core.pgserver import EmbeddedServer
from core.settings import PROJECT_ROOT

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
ARTIFACTS_DIR = PROJECT_ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """A fresh embedded server in a temporary folder, stopped at the end of the session."""
    folder = Path(tempfile.mkdtemp(prefix="pumpdash-test-"))
    server = EmbeddedServer(pgdata=folder / "pg", port=free_port(), database="pumpdash_test")
    server.start()
    yield server
    server.stop()
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture(scope="session")
def db_url(pg_server) -> str:
    """URL of the migrated test database."""
    url = pg_server.url()
    migrate(url)
    return url


@pytest.fixture(scope="session")
def database(db_url):
    """Read and write pools on the test database."""
    db = Database(db_url, min_size=1, max_size=4).open()
    yield db
    db.close()


@pytest.fixture(scope="session")
def app_roles_dir(tmp_path_factory) -> Path:
    """Data folder whose secrets/ contains the test server's login role passwords."""
    return tmp_path_factory.mktemp("app-roles")


@pytest.fixture(scope="session")
def app_role_urls(db_url, app_roles_dir) -> RoleUrls:
    """The app's login roles, provisioned on the test server; their URLs connect to the test database.

    Roles are cluster-wide, so provisioning them again with another data
    folder would change their passwords: tests that run the CLI pass these
    URLs instead (see app_role_env).
    """
    return provision_login_roles(db_url, app_roles_dir)


def app_role_env(role_urls: RoleUrls, database_url: str) -> dict[str, str]:
    """Environment variables that make the app connect as the login roles to the database of `database_url`."""
    database = conninfo_to_dict(database_url)["dbname"]
    return {
        "PUMPDASH_READ_DATABASE_URL": make_conninfo(role_urls.read, dbname=database),
        "PUMPDASH_WRITE_DATABASE_URL": make_conninfo(role_urls.write, dbname=database),
        "PUMPDASH_IMPORT_DATABASE_URL": make_conninfo(role_urls.importer, dbname=database),
        "PUMPDASH_MAINT_DATABASE_URL": make_conninfo(role_urls.maint, dbname=database),
    }


@pytest.fixture
def app_database(monkeypatch, db_url, app_role_urls) -> str:
    """Point the app at the test database with its pools as the login roles, from an empty query cache."""
    from dashboard import ui

    monkeypatch.setenv("DATABASE_URL", db_url)
    for name, value in app_role_env(app_role_urls, db_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUMPDASH_LANGUAGE", raising=False)
    ui.clear_query_cache()
    return db_url


@pytest.fixture
def conn(db_url):
    """A connection whose work is rolled back after the test."""
    with psycopg.connect(db_url) as connection:
        yield connection
        connection.rollback()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real input files beside the repository; missing files fail the test, never skip it."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real input files not found at {SHARED_DATA}: check out ../shared beside the repository")
    return SHARED_DATA


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for every browser test."""
    from playwright.sync_api import sync_playwright

    from tests.browsertools import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh loopback-only page; the test fails if it tried to reach another host."""
    from tests.browsertools import local_page

    with local_page(browser) as opened:
        yield opened


@pytest.fixture(scope="session")
def import_url(app_role_urls) -> str:
    """URL of the import login role on the test database, as the import page and the import command connect."""
    return app_role_urls.importer

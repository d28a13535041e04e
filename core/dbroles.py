"""Login roles that the app's processes connect as, one per group role.

The migrations create the group roles pumpdash_read, pumpdash_write,
pumpdash_import and pumpdash_maint, and grant them functions and tables.
This module creates or updates one LOGIN role in each group:

| login role           | group          | used by                                      |
|----------------------|----------------|----------------------------------------------|
| `pumpdash_web_read`  | pumpdash_read  | the dashboard's read pool                    |
| `pumpdash_web_write` | pumpdash_write | the dashboard's write pool (api.*, login)    |
| `pumpdash_web_import`| pumpdash_import| the import page and `dashboard import`       |
| `pumpdash_sidecar`   | pumpdash_maint | the scheduler sidecar and `dashboard refresh` |

Each password is generated once and kept in `<data_dir>/secrets/<role>.password`
(mode 0600). Every provisioning sets it again on the server, so the file and
the server agree even after the file was replaced or the database restored.
Only the SCRAM verifier, computed by libpq on this side, is sent to the
server, so the password never appears in pg_stat_statements or server logs.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from core.logs import fields
from core.settings import Settings

log = logging.getLogger(__name__)

READ_ROLE = "pumpdash_web_read"
WRITE_ROLE = "pumpdash_web_write"
IMPORT_ROLE = "pumpdash_web_import"
MAINT_ROLE = "pumpdash_sidecar"
# Login role -> the one group role it is a member of.
LOGIN_ROLES = {READ_ROLE: "pumpdash_read", WRITE_ROLE: "pumpdash_write", IMPORT_ROLE: "pumpdash_import",
               MAINT_ROLE: "pumpdash_maint"}
SECRETS_DIR = "secrets"
PASSWORD_BYTES = 32
PROVISION_LOCK_KEY = 7_240_002  # advisory lock id shared by every provisioning run
# Role attributes that would give a login role more than its group's grants.
UNSAFE_ATTRIBUTES = ("rolsuper", "rolcreaterole", "rolcreatedb", "rolreplication", "rolbypassrls")


class RoleProvisioningError(RuntimeError):
    """The login roles could not be created or updated; `key` and `params` name the catalogue message."""

    def __init__(self, key: str, **params):
        self.key = key
        self.params = params
        super().__init__(f"{key} {params}")


@dataclass(frozen=True)
class RoleUrls:
    """Connection strings of the login roles; repr hides them because they contain passwords."""

    read: str = field(repr=False)
    write: str = field(repr=False)
    importer: str = field(repr=False)
    maint: str = field(repr=False)


def password_file(data_dir: Path, role: str) -> Path:
    return data_dir / SECRETS_DIR / f"{role}.password"


def resolve_role_urls(settings: Settings, admin_url: str) -> RoleUrls:
    """Return the login roles' URLs: those given in settings, the others provisioned through `admin_url`.

    Provisioning is skipped when all four URLs are given.
    """
    configured = {
        "read": settings.read_database_url,
        "write": settings.write_database_url,
        "importer": settings.import_database_url,
        "maint": settings.maint_database_url,
    }
    if all(value is not None for value in configured.values()):
        return RoleUrls(**{name: value.get_secret_value() for name, value in configured.items()})

    provisioned = provision_login_roles(admin_url, settings.data_dir)
    return RoleUrls(**{
        name: value.get_secret_value() if value is not None else getattr(provisioned, name)
        for name, value in configured.items()
    })


def provision_login_roles(admin_url: str, data_dir: Path) -> RoleUrls:
    """Create or update the login roles and return their connection strings; safe to run at every start.

    `admin_url` must connect as a superuser or a role with CREATEROLE (the
    migrating user needs it already). Raises RoleProvisioningError when it
    cannot create or alter the roles, or when an existing role has more
    rights than its group.

    NOTE: roles belong to the whole server, not to one database. Two
    installations with different data folders on one server overwrite each
    other's passwords: give each its own server or pass the four URLs.
    """
    with psycopg.connect(admin_url, autocommit=True) as conn:
        admin = _check_can_create_roles(conn)
        # One run at a time per database, so two processes starting together
        # never leave different passwords in the file and on the server.
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [PROVISION_LOCK_KEY])
            passwords = {role: stored_password(password_file(data_dir, role)) for role in LOGIN_ROLES}
            created = []
            for role, group in LOGIN_ROLES.items():
                try:
                    if _ensure_login_role(conn, role, group, passwords[role]):
                        created.append(role)
                except psycopg.errors.InsufficientPrivilege as error:
                    raise RoleProvisioningError("dbroles.error.privilege", user=admin, role=role,
                                                detail=error.diag.message_primary) from error
                _check_role_is_limited(conn, role, group)

    log.info("dbroles.provisioned", extra=fields(roles=list(LOGIN_ROLES), created=created))
    return RoleUrls(
        read=make_conninfo(admin_url, user=READ_ROLE, password=passwords[READ_ROLE]),
        write=make_conninfo(admin_url, user=WRITE_ROLE, password=passwords[WRITE_ROLE]),
        importer=make_conninfo(admin_url, user=IMPORT_ROLE, password=passwords[IMPORT_ROLE]),
        maint=make_conninfo(admin_url, user=MAINT_ROLE, password=passwords[MAINT_ROLE]),
    )


def stored_password(path: Path) -> str:
    """Return the password stored at `path`; generate and store one first when the file is missing or empty.

    The folder is made mode 0700 and the file 0600, also when they already existed.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    password = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    if not password:
        password = secrets.token_urlsafe(PASSWORD_BYTES)
        # Written beside the target and renamed over it, so a reader never
        # sees a half-written file.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        os.replace(temporary, path)
        log.info("dbroles.password_generated", extra=fields(file=str(path)))
    path.chmod(0o600)
    return password


def _check_can_create_roles(conn: psycopg.Connection) -> str:
    """Return the connected user's name; raise RoleProvisioningError unless it is a superuser or has CREATEROLE."""
    user, is_superuser, can_create_roles = conn.execute(
        "SELECT rolname, rolsuper, rolcreaterole FROM pg_catalog.pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not (is_superuser or can_create_roles):
        raise RoleProvisioningError("dbroles.error.no_createrole", user=user)
    return user


def _ensure_login_role(conn: psycopg.Connection, role: str, group: str, password: str) -> bool:
    """Create `role` or update its password, and make it a member of `group`; return True when it was created."""
    # libpq computes the SCRAM-SHA-256 verifier here, so the plain password
    # never reaches the server.
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    exists = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [role]).fetchone() is not None
    statement = "ALTER ROLE {} WITH LOGIN PASSWORD {} VALID UNTIL 'infinity'" if exists else \
        "CREATE ROLE {} WITH LOGIN INHERIT PASSWORD {}"
    conn.execute(sql.SQL(statement).format(sql.Identifier(role), sql.Literal(verifier)))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(role)))
    return not exists


def _check_role_is_limited(conn: psycopg.Connection, role: str, group: str) -> None:
    """Raise RoleProvisioningError when `role` has a powerful attribute or belongs to a role other than `group`.

    An existing role of the same name may have been given more rights by
    hand, and provisioning only adds rights, never removes them.
    """
    attributes = conn.execute(
        sql.SQL("SELECT {} FROM pg_catalog.pg_roles WHERE rolname = %s").format(
            sql.SQL(", ").join(sql.Identifier(name) for name in UNSAFE_ATTRIBUTES)),
        [role],
    ).fetchone()
    powers = [name.removeprefix("rol").upper() for name, value in zip(UNSAFE_ATTRIBUTES, attributes) if value]
    other_groups = [row[0] for row in conn.execute(
        "SELECT g.rolname FROM pg_catalog.pg_auth_members AS m"
        " JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid"
        " JOIN pg_catalog.pg_roles AS r ON r.oid = m.member"
        " WHERE r.rolname = %s AND g.rolname <> %s ORDER BY 1",
        [role, group],
    )]
    if powers or other_groups:
        raise RoleProvisioningError("dbroles.error.too_powerful", role=role, group=group,
                                    attributes=", ".join(powers) or "-", groups=", ".join(other_groups) or "-")

"""The app's login roles: provisioning, and what each role may and may not do.

Station dbroles-test (Asia/Shanghai) has pump P1 flow every 15 minutes from
local 00:00 to 02:45 on 2024-11-15, value 10 * hour + quarter, so every
reporting call the pages make returns known values. Pump P2 power takes the
write role's correction, so P1 stays unchanged.
"""

from __future__ import annotations

import stat
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql

from core import reporting
from core.db import Database
from core.dbroles import LOGIN_ROLES, READ_ROLE, RoleProvisioningError, password_file, provision_login_roles
from core.i18n import t
from dashboard.cli import describe_error, refresh_rollups

STATION = "dbroles-test"
SHANGHAI = timezone(timedelta(hours=8))
DAY_START = datetime(2024, 11, 15, tzinfo=SHANGHAI)
READING_TIMES = [DAY_START + timedelta(minutes=15 * step) for step in range(12)]
NO_CREATEROLE_USER = "dbroles_test_plain"
NO_CREATEROLE_PASSWORD = "dbroles-test-only"


def flow_value(ts: datetime) -> float:
    return 10.0 * ts.hour + ts.minute // 15


@pytest.fixture(scope="module")
def admin(db_url):
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def series(admin) -> dict[str, int]:
    """Series ids of dbroles-test: P1 flow (read tests) and P2 power (the write role's correction)."""
    admin.execute("SELECT public.ensure_station(%s, '角色测试站', 'Role test station', 'Asia/Shanghai')", [STATION])
    admin.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [STATION])
    admin.execute("SELECT public.ensure_device(%s, 'P2', 'pump', '2 号泵', 'Pump 2')", [STATION])
    flow_id = admin.execute("SELECT public.ensure_series(%s, 'P1', 'flow_rate', 900)", [STATION]).fetchone()[0]
    power_id = admin.execute("SELECT public.ensure_series(%s, 'P2', 'power', 900)", [STATION]).fetchone()[0]
    admin.execute("SELECT public.ensure_measurement_partitions('2024-11-01', '2024-12-01')")
    with admin.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, quality, source_id) VALUES (%s, %s, %s, 0, 2)"
            " ON CONFLICT DO NOTHING",
            [(flow_id, ts, flow_value(ts)) for ts in READING_TIMES] + [(power_id, DAY_START, 48.0)],
        )
    return {"flow": flow_id, "power": power_id}


@pytest.fixture(scope="module")
def read_db(app_role_urls):
    """The app's Database with both pools on the read role, as a page's queries use it."""
    db = Database(app_role_urls.read, min_size=0, max_size=2).open()
    yield db
    db.close()


def tables(admin, schema: str) -> list[tuple[str, str]]:
    """(table, first column that an UPDATE may set) of every table and partition in `schema`."""
    return admin.execute(
        "SELECT c.relname, min(a.attname) FILTER (WHERE a.attnum = first.attnum)"
        " FROM pg_catalog.pg_class AS c"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid"
        " CROSS JOIN LATERAL (SELECT min(b.attnum) AS attnum FROM pg_catalog.pg_attribute AS b"
        "     WHERE b.attrelid = c.oid AND b.attnum > 0 AND NOT b.attisdropped"
        "       AND b.attidentity = '' AND b.attgenerated = '') AS first"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') GROUP BY c.relname ORDER BY 1",
        [schema],
    ).fetchall()


# -- provisioning -------------------------------------------------------------

def test_provisioning_idempotent(db_url, app_roles_dir, app_role_urls):
    again = provision_login_roles(db_url, app_roles_dir)

    assert again == app_role_urls
    for url, role in ((again.read, "pumpdash_web_read"), (again.write, "pumpdash_web_write"),
                      (again.importer, "pumpdash_web_import"), (again.maint, "pumpdash_sidecar")):
        with psycopg.connect(url) as connection:
            assert connection.execute("SELECT current_user").fetchone()[0] == role


def test_password_files_private(app_roles_dir, app_role_urls):
    secrets_dir = app_roles_dir / "secrets"

    assert stat.S_IMODE(secrets_dir.stat().st_mode) == 0o700
    assert sorted(path.name for path in secrets_dir.iterdir()) == [
        "pumpdash_sidecar.password", "pumpdash_web_import.password", "pumpdash_web_read.password",
        "pumpdash_web_write.password"]
    for role in LOGIN_ROLES:
        assert stat.S_IMODE(password_file(app_roles_dir, role).stat().st_mode) == 0o600


def test_roles_in_one_group_each(admin, app_role_urls):
    memberships = admin.execute(
        "SELECT r.rolname, g.rolname FROM pg_catalog.pg_auth_members AS m"
        " JOIN pg_catalog.pg_roles AS g ON g.oid = m.roleid JOIN pg_catalog.pg_roles AS r ON r.oid = m.member"
        " WHERE r.rolname = ANY (%s) ORDER BY 1", [list(LOGIN_ROLES)]).fetchall()
    attributes = admin.execute(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " FROM pg_catalog.pg_roles WHERE rolname = ANY (%s) ORDER BY 1", [list(LOGIN_ROLES)]).fetchall()

    assert memberships == [("pumpdash_sidecar", "pumpdash_maint"), ("pumpdash_web_import", "pumpdash_import"),
                           ("pumpdash_web_read", "pumpdash_read"), ("pumpdash_web_write", "pumpdash_write")]
    assert attributes == [(role, True, False, False, False, False, False) for role in sorted(LOGIN_ROLES)]


def test_server_password_reset_from_file(admin, db_url, app_roles_dir, app_role_urls):
    """A server whose role password no longer matches the file (a restored backup) gets the file's password back."""
    admin.execute(sql.SQL("ALTER ROLE {} PASSWORD 'changed-elsewhere'").format(sql.Identifier(READ_ROLE)))
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(app_role_urls.read).close()

    provision_login_roles(db_url, app_roles_dir)

    with psycopg.connect(app_role_urls.read) as connection:
        assert connection.execute("SELECT current_user").fetchone()[0] == READ_ROLE


def test_password_sent_only_as_verifier(admin, app_roles_dir, app_role_urls):
    password = password_file(app_roles_dir, READ_ROLE).read_text(encoding="utf-8").strip()
    statements = admin.execute(
        "SELECT count(*) FROM pg_stat_statements WHERE strpos(query, %s) > 0", [password]).fetchone()[0]
    verifier = admin.execute("SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s",
                             [READ_ROLE]).fetchone()[0]

    assert statements == 0
    assert verifier.startswith("SCRAM-SHA-256$4096:")


@pytest.fixture
def plain_user_url(admin, db_url):
    """A login role without CREATEROLE."""
    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(NO_CREATEROLE_USER)))
    admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
        sql.Identifier(NO_CREATEROLE_USER), sql.Literal(NO_CREATEROLE_PASSWORD)))
    yield psycopg.conninfo.make_conninfo(db_url, user=NO_CREATEROLE_USER, password=NO_CREATEROLE_PASSWORD)
    admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(NO_CREATEROLE_USER)))


def test_missing_createrole_named(plain_user_url, tmp_path):
    with pytest.raises(RoleProvisioningError) as raised:
        provision_login_roles(plain_user_url, tmp_path)

    assert raised.value.key == "dbroles.error.no_createrole"
    assert raised.value.params == {"user": NO_CREATEROLE_USER}
    assert t(raised.value.key, "en", **raised.value.params) == (
        "Database user dbroles_test_plain cannot create the app's login roles: it has neither CREATEROLE nor "
        "SUPERUSER. Have a superuser run ALTER ROLE dbroles_test_plain CREATEROLE, or have an administrator create "
        "the roles and set PUMPDASH_READ_DATABASE_URL, PUMPDASH_WRITE_DATABASE_URL, PUMPDASH_IMPORT_DATABASE_URL and "
        "PUMPDASH_MAINT_DATABASE_URL.")
    assert not (tmp_path / "secrets").exists()


def test_cli_names_missing_createrole_in_chinese():
    error = RoleProvisioningError("dbroles.error.no_createrole", user="app")

    assert describe_error(error, "zh-CN") == (
        "数据库用户 app 既没有 CREATEROLE 权限也不是超级用户，无法创建看板的登录角色。请由超级用户执行 "
        "ALTER ROLE app CREATEROLE，或由数据库管理员创建这些角色，再设置 PUMPDASH_READ_DATABASE_URL、"
        "PUMPDASH_WRITE_DATABASE_URL、PUMPDASH_IMPORT_DATABASE_URL 和 PUMPDASH_MAINT_DATABASE_URL。")


def test_extra_membership_rejected(admin, db_url, app_roles_dir):
    admin.execute(sql.SQL("GRANT pumpdash_write TO {}").format(sql.Identifier(READ_ROLE)))
    try:
        with pytest.raises(RoleProvisioningError) as raised:
            provision_login_roles(db_url, app_roles_dir)
    finally:
        admin.execute(sql.SQL("REVOKE pumpdash_write FROM {}").format(sql.Identifier(READ_ROLE)))

    assert raised.value.key == "dbroles.error.too_powerful"
    assert raised.value.params == {"role": READ_ROLE, "group": "pumpdash_read", "attributes": "-",
                                   "groups": "pumpdash_write"}


# -- read role: every call the pages make -------------------------------------

def test_read_role_lists_series(read_db, series):
    catalogue = reporting.list_series(read_db)
    rows = catalogue[catalogue["station_code"] == STATION]

    assert rows[["device_code", "metric_code", "unit", "timezone"]].values.tolist() == [
        ["P1", "flow_rate", "m³/h", "Asia/Shanghai"], ["P2", "power", "kW", "Asia/Shanghai"]]


def test_read_role_series_extent(read_db, series):
    extent = reporting.get_series_extent(read_db, [series["flow"]])

    assert extent.to_dict("records") == [{"series_id": series["flow"], "first_ts": READING_TIMES[0],
                                          "last_ts": READING_TIMES[-1]}]


@pytest.mark.parametrize(("span", "expected"), [
    (timedelta(hours=3), "raw"),
    (timedelta(days=60), "hourly"),
    (timedelta(days=365), "daily"),
])
def test_read_role_chooses_granularity(read_db, series, span, expected):
    assert reporting.choose_granularity(read_db, [series["flow"]], DAY_START, DAY_START + span) == expected


def test_read_role_raw_readings(read_db, series):
    frame = reporting.get_metrics(read_db, [series["flow"]], DAY_START, DAY_START + timedelta(hours=3), "raw")

    assert frame["bucket"].tolist() == READING_TIMES
    assert frame["value"].tolist() == [flow_value(ts) for ts in READING_TIMES]
    assert frame["granularity"].unique().tolist() == ["raw"]


def test_read_role_hourly_buckets(read_db, series):
    frame = reporting.get_metrics(read_db, [series["flow"]], DAY_START, DAY_START + timedelta(hours=3), "hourly")

    assert frame["bucket"].tolist() == [DAY_START + timedelta(hours=hour) for hour in range(3)]
    assert frame["value"].tolist() == [1.5, 11.5, 21.5]
    assert frame["sample_count"].tolist() == [4, 4, 4]


def test_read_role_daily_bucket(read_db, series):
    frame = reporting.get_metrics(read_db, [series["flow"]], DAY_START, DAY_START + timedelta(days=1), "daily")

    assert frame["bucket"].tolist() == [DAY_START]
    assert frame["value"].tolist() == [11.5]
    assert frame["value_min"].tolist() == [0.0]
    assert frame["value_max"].tolist() == [23.0]
    assert frame["sample_count"].tolist() == [12]


def test_read_role_auto_picks_raw(read_db, series):
    frame = reporting.get_metrics(read_db, [series["flow"]], DAY_START, DAY_START + timedelta(hours=3))

    assert frame["granularity"].unique().tolist() == ["raw"]
    assert frame["value"].tolist() == [flow_value(ts) for ts in READING_TIMES]


def test_read_role_station_overview(read_db, series):
    overview = reporting.get_station_overview(read_db, at=DAY_START + timedelta(hours=3))
    row = overview[overview["station_code"] == STATION].iloc[0]

    assert row["series_count"] == 2
    assert row["last_sample_at"] == READING_TIMES[-1]
    assert row["last_sample_age_s"] == 15 * 60
    assert row["samples_today"] == 13
    assert row["bad_today"] == 0
    # Two series at 15 minutes, from local midnight to 03:00 inclusive.
    assert row["expected_today"] == 2 * 13


def test_read_role_rollup_status(read_db):
    status = reporting.get_rollup_status(read_db)

    assert status["rollup"].tolist() == ["hourly", "daily"]
    assert status.columns.tolist() == ["rollup", "watermark", "pending_invalidations", "pending_series",
                                       "oldest_pending", "last_refresh_at", "last_refresh_ms"]


# -- read role: everything else is denied ---------------------------------------

@pytest.fixture
def reader(app_role_urls):
    """A plain read-role connection without the pool's read-only transactions, so privileges alone decide."""
    with psycopg.connect(app_role_urls.read, autocommit=True) as connection:
        yield connection


def not_denied(connection: psycopg.Connection, statements: list[sql.Composable]) -> list[str]:
    """Run each statement and return those that did not fail with InsufficientPrivilege; other errors propagate."""
    passed = []
    for statement in statements:
        try:
            connection.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            continue
        passed.append(statement.as_string(connection))
    return passed


@pytest.mark.parametrize("schema", ["public", "reporting"])
def test_read_role_cannot_change_tables(admin, reader, series, schema):
    found = tables(admin, schema)
    statements = []
    for table, column in found:
        name = sql.Identifier(schema, table)
        statements += [
            sql.SQL("INSERT INTO {} DEFAULT VALUES").format(name),
            sql.SQL("UPDATE {} SET {} = {}").format(name, sql.Identifier(column), sql.Identifier(column)),
            sql.SQL("DELETE FROM {}").format(name),
        ]

    assert len(found) >= 5
    assert not_denied(reader, statements) == []


@pytest.mark.parametrize("table", ["measurements", "app_users"])
def test_read_role_cannot_select_public(reader, table):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        reader.execute(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier("public", table)))


def test_read_role_cannot_call_api(admin, reader):
    calls = api_calls(admin)

    assert len(calls) >= 8
    assert not_denied(reader, calls) == []


def api_calls(admin) -> list[sql.Composed]:
    """A call with NULL arguments of every function in schema api."""
    functions = admin.execute(
        "SELECT p.proname, array_agg(pg_catalog.format_type(a.type, NULL) ORDER BY a.position)"
        " FILTER (WHERE a.type IS NOT NULL)"
        " FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
        " LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY AS a(type, position) ON true"
        " WHERE n.nspname = 'api' GROUP BY p.oid, p.proname ORDER BY 1").fetchall()
    return [
        sql.SQL("SELECT * FROM {}({})").format(
            sql.Identifier("api", name),
            sql.SQL(", ").join(sql.SQL("NULL::{}").format(sql.SQL(type_name)) for type_name in types or []))
        for name, types in functions
    ]


# -- write role -----------------------------------------------------------------

def test_write_role_cannot_select_public(admin, app_role_urls):
    selects = [sql.SQL("SELECT 1 FROM {} LIMIT 1").format(sql.Identifier("public", table))
               for table, _ in tables(admin, "public")]
    with psycopg.connect(app_role_urls.write, autocommit=True) as writer:
        assert not_denied(writer, selects) == []


def test_write_role_corrects_through_api(app_role_urls, series):
    with psycopg.connect(app_role_urls.write, autocommit=True) as writer:
        corrected = writer.execute(
            "SELECT * FROM api.update_measurement_value(%s, %s, 50.5, 0::smallint, 'sensor_fault',"
            " '按现场读数修正', 1, 'operator1')", [series["power"], DAY_START]).fetchone()

    assert corrected == (series["power"], DAY_START, 50.5, 0, 2)


# -- import role ----------------------------------------------------------------

# What the import role may write: readings and the run bookkeeping. Every
# other write on a table is denied, as are deletes of readings.
IMPORT_ROLE_WRITES = {("public", "measurements"): ("INSERT", "UPDATE"), ("public", "import_runs"): ("INSERT", "UPDATE"),
                      ("public", "import_rejects"): ("INSERT",), ("public", "import_file_keys"): ("INSERT", "DELETE"),
                      ("reporting", "rollup_invalidations"): ("INSERT",)}


@pytest.fixture
def import_conn(app_role_urls):
    with psycopg.connect(app_role_urls.importer, autocommit=True) as connection:
        yield connection


@pytest.mark.parametrize("schema", ["public", "reporting"])
def test_import_role_writes_only_readings_and_runs(admin, import_conn, series, schema):
    statements = []
    for table, column in tables(admin, schema):
        if table.startswith("measurements_"):
            continue  # partitions: the parent's grants decide, and it is listed
        allowed = IMPORT_ROLE_WRITES.get((schema, table), ())
        name = sql.Identifier(schema, table)
        candidates = {"INSERT": sql.SQL("INSERT INTO {} DEFAULT VALUES").format(name),
                      "UPDATE": sql.SQL("UPDATE {} SET {} = {} WHERE false").format(
                          name, sql.Identifier(column), sql.Identifier(column)),
                      "DELETE": sql.SQL("DELETE FROM {} WHERE false").format(name)}
        statements += [statement for verb, statement in candidates.items() if verb not in allowed]

    assert len(statements) >= {"public": 30, "reporting": 10}[schema]
    assert not_denied(import_conn, statements) == []


def test_import_role_cannot_call_api_or_accounts(admin, import_conn):
    calls = api_calls(admin) + [sql.SQL("SELECT * FROM public.list_app_users()"),
                                sql.SQL("SELECT public.set_app_user_role('admin', 'viewer')")]

    assert not_denied(import_conn, calls) == []


def test_import_role_cannot_read_accounts(import_conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        import_conn.execute("SELECT 1 FROM public.app_users LIMIT 1")


def test_import_role_creates_partition_through_function(admin, import_conn):
    """Partition DDL needs the owner of measurements; create_measurement_partition runs as that owner."""
    admin.execute("DROP TABLE IF EXISTS public.measurements_p2045_03")

    created = import_conn.execute("SELECT public.ensure_measurement_partitions('2045-03-05', '2045-03-06')").fetchone()[0]
    owners = admin.execute("SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class"
                           " WHERE oid IN ('public.measurements_p2045_03'::regclass, 'public.measurements'::regclass)"
                           ).fetchall()
    admin.execute("DROP TABLE public.measurements_p2045_03")

    assert created == 1
    assert len(owners) == 1
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        import_conn.execute("CREATE TABLE public.measurements_p2045_04 PARTITION OF public.measurements "
                            "FOR VALUES FROM ('2045-04-01') TO ('2045-05-01')")


# -- maintenance role -----------------------------------------------------------

def test_maint_role_refreshes_rollups(app_role_urls):
    reports = refresh_rollups(app_role_urls.maint, ["hourly", "daily"])

    assert [report["rollup"] for report in reports] == ["hourly", "daily"]
    assert [report["status"] for report in reports] == ["done", "done"]


def test_maint_role_cannot_read_tables(app_role_urls):
    with psycopg.connect(app_role_urls.maint, autocommit=True) as maintainer:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            maintainer.execute("SELECT 1 FROM public.measurements LIMIT 1")

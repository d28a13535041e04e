"""Command-line interface: `python -m dashboard [run | db | migrate | import | demo | refresh | bench | docs | user]`."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from core.i18n import normalize_language, t
from core.logs import setup_logging
from core.pgserver import PortInUseError, ServerError, server_from_settings
from core.settings import PROJECT_ROOT, Settings, load_settings

if TYPE_CHECKING:
    from core.dbroles import RoleUrls

log = logging.getLogger(__name__)

# Readings the import benchmark accepts for --rows: one line of the generated
# file at least, and at most ten times the recorded run.
BENCH_IMPORT_ROWS = (20, 100_000_000)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dashboard", description="泵站运行看板 / pump station dashboard")
    parser.add_argument("--data-dir", type=Path, help="data folder (env PUMPDASH_DATA_DIR, default data/)")
    parser.add_argument("--db-port", type=int, help="embedded PostgreSQL port on 127.0.0.1 (env PUMPDASH_DB_PORT)")
    parser.add_argument("--web-port", type=int, help="dashboard port on 127.0.0.1 (env PUMPDASH_WEB_PORT, default 8501)")
    parser.add_argument("--lang", choices=["zh-CN", "en"], help="language of messages (env PUMPDASH_LANGUAGE)")
    commands = parser.add_subparsers(dest="command")

    run = commands.add_parser("run", help="start database and dashboard (default)")
    run.add_argument("--keep-db", action="store_true", help="leave the embedded server running on exit")

    db = commands.add_parser("db", help="control the embedded PostgreSQL")
    db.add_argument("action", choices=["start", "stop", "status", "url", "psql"])

    migrate = commands.add_parser("migrate", help="apply migrations and routines")
    migrate.add_argument("--target", type=int, help="stop after this migration number")

    importer = commands.add_parser("import", help="import CSV or XLSX exports")
    importer.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    importer.add_argument("--profile", help="profile name from configs/ingest.yaml (required with PATH)")
    importer.add_argument("--run-all", action="store_true",
                          help="import every file in <data dir>/inbox/, one run each, then move it to archive/ or failed/")
    importer.add_argument("--overwrite-corrections", action="store_true",
                          help="replace readings an operator corrected with the file's values (default: keep them)")
    importer.add_argument("--dry-run", action="store_true",
                          help="check the files and report what an import would do, then roll everything back")

    demo = commands.add_parser("demo", help="generate demo stations")
    demo.add_argument("--stations", type=int, help="number of stations (default 3)")
    demo.add_argument("--days", type=int, help="days of history up to now (default 60)")
    demo.add_argument("--interval-min", type=int, help="minutes between samples (default 15)")

    refresh = commands.add_parser("refresh", help="refresh the hourly and daily rollups")
    refresh.add_argument("rollup", nargs="?", choices=["hourly", "daily", "all"], default="all")
    refresh.add_argument("--rebuild", action="store_true", help="rebuild from all raw readings (recovery)")

    bench = commands.add_parser("bench", help="benchmark the rollups or the importer on generated data")
    bench.add_argument("--only", choices=["rollups", "import"], default="rollups",
                       help="which benchmark to run (default rollups)")
    bench.add_argument("--scale", choices=["small", "full"], default="small",
                       help="rollups: small is about 0.5 million rows; full is 50 stations x 10 points x "
                            "1-minute x 90 days")
    bench.add_argument("--rows", type=int, default=1_000_000,
                       help="import: readings (value cells) in the generated wide CSV, 20 per line; "
                            "the recorded run uses 10000000 (default 1000000)")
    bench.add_argument("--rerun", action="store_true",
                       help="import: import the same file a second time and measure that too")

    docs = commands.add_parser("docs", help="write docs/API_FUNCTIONS_REFERENCE.md")
    docs.add_argument("--output", type=Path, default=PROJECT_ROOT / "docs" / "API_FUNCTIONS_REFERENCE.md")

    add_user_commands(commands)
    return parser


def add_user_commands(commands) -> None:
    user = commands.add_parser("user", help="manage dashboard accounts")
    actions = user.add_subparsers(dest="user_command", required=True)
    stdin_help = "read the password from the first line of standard input instead of prompting"

    # --role takes any text so that a wrong role gets the translated message
    # naming the allowed ones, like every other account error.
    add = actions.add_parser("add", help="create an account; the password is prompted twice")
    add.add_argument("username")
    add.add_argument("--role", required=True, help="viewer, operator or admin")
    add.add_argument("--display-name", help="name shown in the dashboard (default: the username)")
    add.add_argument("--password-stdin", action="store_true", help=stdin_help)

    passwd = actions.add_parser("passwd", help="set a new password; clears failed logins and any lockout")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help=stdin_help)

    actions.add_parser("disable", help="stop an account from logging in").add_argument("username")
    actions.add_parser("enable", help="allow a disabled account to log in again").add_argument("username")
    actions.add_parser("list", help="list accounts with role, state and last login")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(data_dir=args.data_dir, db_port=args.db_port, web_port=args.web_port,
                                 language=args.lang)
    except ValidationError as error:
        lang = normalize_language(args.lang or os.environ.get("PUMPDASH_LANGUAGE"))
        print(describe_settings_error(error, lang), file=sys.stderr)
        return 2
    setup_logging(settings)
    command = args.command or "run"
    handler = COMMANDS[command]
    try:
        return handler(args, settings)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # every failure reaches the user as one translated line
        message = describe_error(error, settings.language)
        log.error("cli.failed", exc_info=error, extra={"console": False})
        print(message, file=sys.stderr)
        return 1


class CliUsageError(Exception):
    """The command line combines options that do not go together; `key` names the catalogue message."""

    def __init__(self, key: str, **params):
        super().__init__(key)
        self.key = key
        self.params = params


def describe_settings_error(error: ValidationError, lang: str) -> str:
    """Describe each invalid setting on one translated line: its name, the value received and the allowed values."""
    lines = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        context = problem.get("ctx") or {}
        if "ge" in context and "le" in context:
            rule = t("cli.setting_rule.between", lang, low=context["ge"], high=context["le"])
        elif "ge" in context:
            rule = t("cli.setting_rule.at_least", lang, low=context["ge"])
        elif "le" in context:
            rule = t("cli.setting_rule.at_most", lang, high=context["le"])
        elif "expected" in context:
            rule = t("cli.setting_rule.one_of", lang, choices=context["expected"])
        elif problem["type"].startswith("int"):
            rule = t("cli.setting_rule.integer", lang)
        else:
            rule = problem["msg"]
        lines.append(t("cli.error.setting", lang, name=name, env=f"PUMPDASH_{name.upper()}",
                       value=problem.get("input"), rule=rule))
    return "\n".join(lines)


def describe_error(error: Exception, lang: str) -> str:
    from core.auth import AuthError
    from core.db import DatabaseError
    from core.dbroles import RoleProvisioningError
    from core.ingest import IngestError
    from dashboard.launcher import LaunchError

    if isinstance(error, (LaunchError, AuthError, RoleProvisioningError, CliUsageError)):
        return t(error.key, lang, **error.params)
    if isinstance(error, IngestError) and error.key:
        return t(error.key, lang, **error.params)
    if isinstance(error, PortInUseError):
        return t("cli.error.db_port_busy", lang, port=error.port)
    if isinstance(error, ServerError):
        return t("cli.error.server", lang, detail=str(error))
    if isinstance(error, DatabaseError):
        return t("cli.error.database", lang, detail=str(error))
    return t("cli.error.generic", lang, kind=type(error).__name__, detail=str(error))


def say(settings: Settings, key: str, **params) -> None:
    print(t(key, settings.language, **params), flush=True)


def prepare_database(url: str, settings: Settings) -> RoleUrls:
    """Apply migrations, load or top up demo data, provision the login roles and refresh the rollups.

    Return the login roles' URLs: those given in settings, the others provisioned through the admin `url`.
    """
    from core.dbroles import resolve_role_urls
    from core.demo import count_demo_stations, database_has_stations, generate_demo
    from core.migrate import migrate

    report = migrate(url)
    say(settings, "cli.migrated", migrations=len(report.migrations_applied), routines=len(report.routines_applied))
    if not database_has_stations(url):
        say(settings, "cli.demo_loading", stations=settings.demo_stations, days=settings.demo_days,
            interval_min=settings.demo_interval_min)
        demo = generate_demo(url, stations=settings.demo_stations, days=settings.demo_days,
                             interval_min=settings.demo_interval_min)
        say(settings, "cli.demo_loaded", stations=demo.stations, rows=demo.rows, seconds=f"{demo.seconds:.1f}")
    elif demo_stations := count_demo_stations(url):
        # Demo stations would otherwise show "no data" from the second start
        # on; the generator adds only the missing readings up to now.
        demo = generate_demo(url, stations=demo_stations, days=settings.demo_days,
                             interval_min=settings.demo_interval_min)
        say(settings, "cli.demo_topped_up", stations=demo_stations, rows=demo.rows)
    roles = resolve_role_urls(settings, url)
    create_first_admin(url, settings)
    # The sidecar refreshes on a schedule; refreshing here makes the first
    # charts read rollups instead of aggregating all history from raw rows.
    for report in refresh_rollups(roles.maint, ["hourly", "daily"]):
        say_refreshed(settings, report)
    return roles


def create_first_admin(url: str, settings: Settings) -> None:
    """Create the admin account on a database without accounts and print its password, this once only."""
    from core.auth import FIRST_ADMIN, create_first_admin as create

    password = create(url)
    if password is not None:
        say(settings, "cli.first_admin", username=FIRST_ADMIN, password=password)


def cmd_run(args, settings: Settings) -> int:
    from dashboard.launcher import run_dashboard

    say(settings, "cli.starting")
    code, database_stopped = run_dashboard(
        settings,
        prepare=lambda url: prepare_database(url, settings),
        say=lambda url: say(settings, "cli.running", url=url),
        keep_db=args.keep_db,
    )
    say(settings, "cli.stopped" if database_stopped else "cli.stopped_database_kept")
    return code


def cmd_db(args, settings: Settings) -> int:
    if not settings.uses_embedded_server:
        say(settings, "cli.db_external")
        return 2
    server = server_from_settings(settings)
    action = args.action
    if action == "start":
        started = server.start()
        say(settings, "cli.db_started" if started else "cli.db_already_running", port=server.running_port())
    elif action == "stop":
        say(settings, "cli.db_stopped" if server.stop() else "cli.db_not_running")
    elif action == "status":
        running = server.is_running()
        say(settings, "cli.db_status_running" if running else "cli.db_not_running",
            port=server.running_port(), pgdata=server.pgdata)
        return 0 if running else 3
    elif action == "url":
        if not server.is_running():
            say(settings, "cli.db_not_running")
            return 3
        print(server.url())
    elif action == "psql":
        if not server.is_running():
            say(settings, "cli.db_not_running")
            return 3
        return subprocess.call(server.psql_command())
    return 0


def cmd_migrate(args, settings: Settings) -> int:
    from core.migrate import migrate
    from dashboard.launcher import database_url

    with database_url(settings) as url:
        report = migrate(url, target=args.target)
    say(settings, "cli.migrated", migrations=len(report.migrations_applied), routines=len(report.routines_applied))
    return 0


def import_url(url: str, settings: Settings) -> str:
    """Migrate the database at the admin `url` and return the import login role's URL, as the import page uses."""
    from core.dbroles import resolve_role_urls
    from core.migrate import migrate

    migrate(url)
    return resolve_role_urls(settings, url).importer


def cmd_import(args, settings: Settings) -> int:
    from core.ingest import import_files, new_run_id
    from core.logs import run_logging
    from dashboard.launcher import database_url

    if args.run_all:
        if args.paths or args.profile or args.dry_run:
            raise CliUsageError("cli.error.run_all_alone")
        return cmd_import_inbox(settings)
    if not args.paths or not args.profile:
        raise CliUsageError("cli.error.import_needs_paths")

    run_id = new_run_id(args.profile)
    with database_url(settings) as url, run_logging(run_id):
        summary = import_files(import_url(url, settings), args.paths, args.profile, settings=settings,
                               run_id=run_id, overwrite_corrections=args.overwrite_corrections,
                               dry_run=args.dry_run)
    say_import_summary(settings, summary, files=len(args.paths))
    return 0 if summary.rows_rejected == 0 else 4


def say_import_summary(settings: Settings, summary, files: int) -> None:
    counts = {name: f"{getattr(summary, f'rows_{name}'):,}"
              for name in ("read", "accepted", "rejected", "duplicate", "missing", "inserted", "updated", "kept")}
    say(settings, "cli.import_checked" if summary.dry_run else "cli.import_done", files=files,
        timestamps=f"{summary.timestamps:,}", seconds=f"{summary.seconds:.2f}",
        rate=f"{summary.rows_read / max(summary.seconds, 1e-9):,.0f}", run_id=summary.run_id, **counts)


def cmd_import_inbox(settings: Settings) -> int:
    """Import every inbox file; exit 0 when all were archived without rejected rows, else 4."""
    from core.inbox import run_inbox
    from dashboard.launcher import database_url

    with database_url(settings) as url:
        results = run_inbox(import_url(url, settings), settings)

    if not results:
        say(settings, "cli.inbox.empty", inbox=settings.inbox_dir)
        return 0
    for result in results:
        if result.status == "archived":
            say(settings, "cli.inbox.archived", file=result.file, profile=result.profile, moved_to=result.moved_to)
            say_import_summary(settings, result.summary, files=1)
        else:
            say(settings, "cli.inbox.failed", file=result.file, moved_to=result.moved_to,
                reason=t(result.error_key, settings.language, **result.error_params))
    failed = sum(result.status == "failed" for result in results)
    rejected = sum(result.summary.rows_rejected for result in results if result.summary)
    say(settings, "cli.inbox.done", files=len(results), archived=len(results) - failed, failed=failed)
    return 0 if failed == 0 and rejected == 0 else 4


def cmd_demo(args, settings: Settings) -> int:
    from core.demo import generate_demo
    from core.migrate import migrate
    from dashboard.launcher import database_url

    stations = settings.demo_stations if args.stations is None else args.stations
    days = settings.demo_days if args.days is None else args.days
    interval_min = settings.demo_interval_min if args.interval_min is None else args.interval_min
    for name, value, low, high in (("--stations", stations, 1, 500), ("--days", days, 1, 3650),
                                   ("--interval-min", interval_min, 1, 1440)):
        if not low <= value <= high:
            print(t("cli.error.demo_argument", settings.language, name=name, value=value, low=low, high=high),
                  file=sys.stderr)
            return 2
    with database_url(settings) as url:
        migrate(url)
        say(settings, "cli.demo_loading", stations=stations, days=days, interval_min=interval_min)
        report = generate_demo(url, stations=stations, days=days, interval_min=interval_min)
    say(settings, "cli.demo_loaded", stations=report.stations, rows=report.rows, seconds=f"{report.seconds:.1f}")
    return 0


def refresh_rollups(url: str, rollups: list[str], *, rebuild: bool = False) -> list[dict]:
    """Refresh (or rebuild) each named rollup through its database function; return their reports.

    `url` connects as the maintenance login role or as the admin.
    """
    from core.db import Database

    function = "reporting.rebuild_rollup" if rebuild else "reporting.refresh_rollup"
    db = Database(url, min_size=0, max_size=1).open()
    try:
        return [{"rollup": rollup, **db.call(function, write=True, p_rollup=rollup)[0]} for rollup in rollups]
    finally:
        db.close()


def say_refreshed(settings: Settings, report: dict) -> None:
    lang = settings.language
    watermark = report["watermark_after"]
    say(settings, "cli.refreshed",
        rollup=t(f"cli.rollup_name.{report['rollup']}", lang),
        status=t(f"cli.refresh_status.{report['status']}", lang),
        watermark=f"{watermark:%Y-%m-%d %H:%M} UTC" if watermark else "-",
        buckets=report["buckets_written"], invalidations=report["invalidations"],
        ms=f"{report['duration_ms']:.1f}")


def cmd_refresh(args, settings: Settings) -> int:
    from core.dbroles import resolve_role_urls
    from core.migrate import migrate
    from dashboard.launcher import database_url

    rollups = ["hourly", "daily"] if args.rollup == "all" else [args.rollup]
    with database_url(settings) as url:
        migrate(url)
        maint_url = resolve_role_urls(settings, url).maint
        reports = refresh_rollups(maint_url, rollups, rebuild=args.rebuild)
    for report in reports:
        say_refreshed(settings, report)
    return 0


def cmd_bench(args, settings: Settings) -> int:
    import json

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if args.only == "import":
        from core.bench_import import run_import_benchmark

        low, high = BENCH_IMPORT_ROWS
        if not low <= args.rows <= high:
            progress(t("cli.error.bench_argument", settings.language, name="--rows", value=args.rows, low=low,
                       high=high))
            return 2
        results = run_import_benchmark(settings, args.rows, rerun=args.rerun, say=progress)
        print(json.dumps(results, ensure_ascii=False, default=str))
        progress(t("cli.bench_import_done", settings.language, rows=f"{results['rows']:,}",
                   import_rate=f"{results['import']['rows_per_second']:,}",
                   copy_rate=f"{results['copy']['rows_per_second']:,}", percent=f"{100 * results['ratio']:.1f}",
                   peak_mb=results["import"]["peak_rss_mb"], seconds=results["import"]["seconds"]))
        return 0

    from core.bench import run_benchmark

    results = run_benchmark(settings, args.scale, say=progress)
    print(json.dumps(results, ensure_ascii=False, default=str))
    return 0


def cmd_docs(args, settings: Settings) -> int:
    from core.apidoc import render_reference
    from core.migrate import migrate
    from dashboard.launcher import database_url

    with database_url(settings) as url:
        migrate(url)
        text = render_reference(url)
    args.output.write_text(text, encoding="utf-8")
    say(settings, "cli.docs_written", path=args.output)
    return 0


def read_new_password(args, settings: Settings) -> str:
    """Read a new password from standard input or, on a terminal, prompt for it twice."""
    from core.auth import AuthError, check_password_rules

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")

    lang = settings.language
    password = getpass.getpass(t("cli.user.password_prompt", lang))
    # Checked before the second prompt, so a too short password is not typed twice.
    check_password_rules(args.username, password)
    if getpass.getpass(t("cli.user.password_repeat", lang)) != password:
        raise AuthError("the two passwords differ", "auth.error.password_mismatch")
    return password


def format_user(user: dict, settings: Settings) -> str:
    lang = settings.language
    zone = ZoneInfo(settings.default_timezone)

    if user["disabled"]:
        state = t("cli.user.state.disabled", lang)
    elif user["locked_until"]:
        state = t("cli.user.state.locked", lang, until=f"{user['locked_until'].astimezone(zone):%Y-%m-%d %H:%M %Z}")
    else:
        state = t("cli.user.state.active", lang)

    last_login = user["last_login_at"]
    role = t(f"auth.role.{user['role']}", lang)
    return t("cli.user.row", lang, username=user["username"], display_name=user["display_name"], role=role,
             state=state,
             last_login=f"{last_login.astimezone(zone):%Y-%m-%d %H:%M %Z}" if last_login else t("cli.user.never", lang))


def cmd_user(args, settings: Settings) -> int:
    from core import auth
    from core.migrate import migrate
    from dashboard.launcher import database_url

    action = args.user_command
    with database_url(settings) as url:
        migrate(url)
        if action == "add":
            # Checked before the password prompt, so a wrong name or role fails before any typing.
            auth.check_account(url, args.username, args.role)
            auth.add_user(url, args.username, args.role, read_new_password(args, settings), args.display_name)
            say(settings, "cli.user.added", username=auth.normalize_username(args.username), role=args.role)
        elif action == "passwd":
            auth.set_password(url, args.username, read_new_password(args, settings))
            say(settings, "cli.user.password_set", username=auth.normalize_username(args.username))
        elif action == "disable":
            auth.disable_user(url, args.username)
            say(settings, "cli.user.disabled", username=auth.normalize_username(args.username))
        elif action == "enable":
            auth.enable_user(url, args.username)
            say(settings, "cli.user.enabled", username=auth.normalize_username(args.username))
        elif action == "list":
            users = auth.list_users(url)
            for user in users:
                print(format_user(user, settings))
            if not users:
                say(settings, "cli.user.none")
    return 0


COMMANDS = {
    "run": cmd_run,
    "db": cmd_db,
    "migrate": cmd_migrate,
    "import": cmd_import,
    "demo": cmd_demo,
    "docs": cmd_docs,
    "refresh": cmd_refresh,
    "bench": cmd_bench,
    "user": cmd_user,
}

"""Streamlit-side helpers shared by the pages.

- one `Database` (read and write pools) per process and pair of database URLs,
- cached reporting queries keyed by their inputs, and a way to clear them,
- the language switch and the selection kept in the URL query string,
- time conversion and formatting in a station's time zone,
- the messages shown when the database or one panel's query fails.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable, NoReturn
from zoneinfo import ZoneInfo

import pandas as pd
import psycopg
import streamlit as st

from core import reporting
from core.db import Database, DatabaseError
from core.i18n import LANGUAGES, normalize_language, t
from core.logs import fields, setup_logging
from core.settings import PROJECT_ROOT, load_settings

log = logging.getLogger(__name__)

LANGUAGE_KEY = "lang"
PREVIOUS_LANGUAGE_KEY = "ui_previous_language"
LANGUAGE_CHANGED_KEY = "ui_language_changed"
QUERY_CACHE_TTL_S = 60
CONNECT_TIMEOUT_S = 5
ERROR_DETAIL_MAX_CHARS = 240
TIME_FORMAT = "%Y-%m-%d %H:%M"
PAGE_ICON = "💧"  # an emoji, so the browser fetches no icon font from the internet
# Material icons ship with Streamlit's frontend; an emoji needs a colour emoji
# font, which many Linux machines lack.
SUCCESS_ICON = ":material/check_circle:"
PAGES_DIR = PROJECT_ROOT / "pages"

# Errors a panel catches to show a short note instead of failing the page.
QUERY_ERRORS = (psycopg.Error, DatabaseError)


class DatabaseUnavailable(RuntimeError):
    """No database URL is configured or the server cannot be reached; `key` names the catalogue message."""

    def __init__(self, key: str, detail: str = ""):
        self.key = key
        self.detail = detail
        super().__init__(f"{key}: {detail}")


def page_file(name: str) -> Path:
    """Return the absolute path of page `name` under pages/, as st.Page and st.page_link take it."""
    return PAGES_DIR / f"{name}.py"


@st.cache_resource(show_spinner=False)
def configure_logging() -> bool:
    """Route this process's logs as configured in configs/logging.yaml, once; return whether this call did it.

    A host that already configured logging (pytest, an embedding program)
    keeps its handlers.
    """
    if logging.getLogger().handlers:
        return False
    setup_logging(load_settings())
    return True


# -- language ---------------------------------------------------------------

def _initial_language() -> str:
    requested = st.query_params.get(LANGUAGE_KEY)
    if requested:
        return normalize_language(requested)

    # The launcher passes --lang as PUMPDASH_LANGUAGE, which settings read.
    configured = getattr(load_settings(), "language", None)
    return normalize_language(configured)


def language() -> str:
    """Return the language of this session: the sidebar switch, else the URL's `lang`, else the configured one."""
    if LANGUAGE_KEY not in st.session_state:
        st.session_state[LANGUAGE_KEY] = _initial_language()
    return st.session_state[LANGUAGE_KEY]


def render_language_switch() -> str:
    """Draw the language switch in the sidebar, mirror it into the URL and return the chosen language."""
    current = language()
    st.sidebar.selectbox(
        t("language.label", current),
        LANGUAGES,
        key=LANGUAGE_KEY,
        format_func=lambda code: t(f"language.{code}", current),
    )
    chosen = st.session_state[LANGUAGE_KEY]
    previous = st.session_state.get(PREVIOUS_LANGUAGE_KEY)
    st.session_state[LANGUAGE_CHANGED_KEY] = previous is not None and previous != chosen
    st.session_state[PREVIOUS_LANGUAGE_KEY] = chosen
    sync_query_params({LANGUAGE_KEY: chosen})
    return chosen


def relabel_widgets(keys: Iterable[str]) -> None:
    """After a language switch, re-send the values of these widgets so the browser shows the new labels.

    Selectboxes and radios keyed by `key` keep their identity when their
    option labels change, and the browser then shows no selection (Streamlit
    1.67). Assigning the unchanged value through Session State makes
    Streamlit send it again with the new labels.
    """
    if not st.session_state.get(LANGUAGE_CHANGED_KEY):
        return
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


# -- database ---------------------------------------------------------------

@dataclass(frozen=True)
class DatabaseUrls:
    """Connection strings of the read and write pools; repr hides them because they contain passwords."""

    read: str = field(repr=False)
    write: str = field(repr=False)


def database_urls() -> DatabaseUrls | None:
    """Return the pools' connection strings, or None when no database is configured.

    The launcher sets PUMPDASH_READ_DATABASE_URL and PUMPDASH_WRITE_DATABASE_URL
    to least-privilege login roles. A pool whose variable is unset uses
    DATABASE_URL, so `streamlit run dashboard/app.py` with only DATABASE_URL
    works for development.
    """
    settings = load_settings()
    read = settings.read_database_url or settings.database_url
    write = settings.write_database_url or settings.database_url
    if read is None or write is None:
        return None
    return DatabaseUrls(read=read.get_secret_value(), write=write.get_secret_value())


def import_database_url() -> str | None:
    """Return the import page's connection string: PUMPDASH_IMPORT_DATABASE_URL, else DATABASE_URL, else None.

    The launcher sets it to the import login role, which may load files and
    nothing else (sql/migrations/0013_import_role.sql).
    """
    settings = load_settings()
    url = settings.import_database_url or settings.database_url
    return None if url is None else url.get_secret_value()


def database_url() -> str | None:
    """Return the read pool's connection string (see database_urls), or None when none is configured."""
    urls = database_urls()
    return None if urls is None else urls.read


def _short_detail(error: BaseException) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    text = " ".join(text.split())
    if len(text) > ERROR_DETAIL_MAX_CHARS:
        text = text[: ERROR_DETAIL_MAX_CHARS - 1] + "…"
    return text


def _probe(url: str) -> None:
    # Database.open() waits up to 30 s for a server that is down, so one
    # direct connection with a short timeout reports that at once.
    try:
        with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.Error as error:
        log.warning("ui.database_unreachable", extra=fields(error=_short_detail(error)))
        raise DatabaseUnavailable("db.unreachable", _short_detail(error)) from error


def _close_database(db: Database) -> None:
    db.close()


# NOTE: the probe covers only the first open. If the server stops later, each
# query waits for the pool's 30 s connection timeout before its panel shows
# the failure note.
@st.cache_resource(show_spinner=False, on_release=_close_database)
def _open_database(read_url: str, write_url: str) -> Database:
    _probe(read_url)
    if write_url != read_url:
        _probe(write_url)
    settings = load_settings()
    db = Database(read_url, write_url=write_url, min_size=settings.pool_min_size, max_size=settings.pool_max_size,
                  statement_timeout_ms=settings.statement_timeout_ms, application_name="pumpdash-web")
    log.info("ui.database_opened", extra=fields(pool_max_size=settings.pool_max_size))
    return db.open()


def _configured_urls() -> DatabaseUrls:
    urls = database_urls()
    if urls is None:
        raise DatabaseUnavailable("db.not_configured")
    return urls


def get_database() -> Database:
    """Return this process's Database for the configured URLs; raise DatabaseUnavailable when there are none."""
    urls = _configured_urls()
    return _open_database(urls.read, urls.write)


@st.cache_data(ttl=QUERY_CACHE_TTL_S, show_spinner=False, max_entries=500)
def _cached_report(read_url: str, write_url: str, report_name: str, params: dict[str, Any]) -> Any:
    # The URLs are part of the cache key so two databases in one process
    # (tests, or a changed DATABASE_URL) never share results.
    report_function = getattr(reporting, report_name)
    return report_function(_open_database(read_url, write_url), **params)


def query(report_name: str, **params: Any) -> Any:
    """Call core.reporting.<report_name>(db, **params), cached for QUERY_CACHE_TTL_S per distinct input."""
    urls = _configured_urls()
    return _cached_report(urls.read, urls.write, report_name, params)


def clear_query_cache() -> None:
    """Drop every cached query result; call it after the app itself writes, so pages show the change at once."""
    _cached_report.clear()


def show_database_problem(error: BaseException, lang: str) -> NoReturn:
    """Show why the page cannot load (no URL, server unreachable, query failed) and stop the script run."""
    if isinstance(error, DatabaseUnavailable):
        st.error(t(error.key, lang, detail=error.detail))
    else:
        log.warning("ui.page_query_failed", extra=fields(error=_short_detail(error)))
        st.error(t("db.query_failed", lang, detail=_short_detail(error)))
    st.stop()


def show_panel_error(panel_key: str, error: BaseException, lang: str) -> None:
    """Show a short note in place of one panel whose query failed; the rest of the page still renders."""
    log.warning("ui.panel_failed", extra=fields(panel=panel_key, error=_short_detail(error)))
    st.warning(t("db.panel_failed", lang, panel=t(panel_key, lang), detail=_short_detail(error)))


def load_series_catalogue(lang: str) -> pd.DataFrame:
    """Return reporting.v_series, or show the database problem or the "no stations yet" hint and stop."""
    try:
        catalogue = query("list_series")
    except (DatabaseUnavailable, *QUERY_ERRORS) as error:
        show_database_problem(error, lang)

    if catalogue.empty:
        st.info(t("db.no_stations", lang))
        st.stop()
    return catalogue


def escape_markdown(text: str) -> str:
    """Backslash-escape the characters Streamlit's markdown would interpret, for names typed by users."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|<>~:$])", r"\\\1", text)


def localized(row: pd.Series | dict, field: str, lang: str) -> str:
    """Return `<field>_zh` or `<field>_en` of a catalogue row, whichever matches `lang`."""
    suffix = "zh" if lang == "zh-CN" else "en"
    return str(row[f"{field}_{suffix}"])


# -- URL query string -------------------------------------------------------

def query_value(key: str) -> str | None:
    """Return the last value of query parameter `key`, or None when it is absent or empty."""
    value = st.query_params.get(key)
    return value or None


def query_values(key: str) -> list[str]:
    """Return every value of a repeated query parameter such as `devices=P1&devices=P2`."""
    return [value for value in st.query_params.get_all(key) if value]


def sync_query_params(values: dict[str, str | Iterable[str] | None]) -> None:
    """Write `values` into the URL so a copied link reopens the same view. None or [] removes a parameter.

    The whole query string is sent on every run, not only what changed.
    When a rerun is interrupted, Streamlit's server-side copy of the
    parameters can already contain a value the browser never received, so a
    comparison against that copy would never send it.
    """
    desired = {key: st.query_params.get_all(key) for key in st.query_params}
    for key, value in values.items():
        new_value = value if value is None or isinstance(value, str) else [str(item) for item in value]
        if new_value in (None, [], ""):
            desired.pop(key, None)
        else:
            desired[key] = new_value

    st.query_params.from_dict(desired)


# -- time -------------------------------------------------------------------

def display_timezone() -> str:
    """Return the zone for times that belong to no station, such as account logins: the configured default zone."""
    return load_settings().default_timezone


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def to_local(timestamps: pd.Series, tz: str) -> pd.Series:
    """Convert UTC timestamps to wall-clock times of zone `tz`, without zone information, for display."""
    return pd.to_datetime(timestamps, utc=True).dt.tz_convert(tz).dt.tz_localize(None)


def format_local(moment: datetime | pd.Timestamp | None, tz: str, missing: str = "–") -> str:
    """Format an instant as `YYYY-MM-DD HH:MM` in zone `tz`."""
    if moment is None or pd.isna(moment):
        return missing
    return pd.Timestamp(moment).tz_convert(tz).strftime(TIME_FORMAT)


def local_midnight(day: date, tz: str) -> datetime:
    """Return the instant (UTC) at which local day `day` starts in zone `tz`."""
    start = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))
    return start.astimezone(timezone.utc)


def local_date(moment: datetime, tz: str) -> date:
    """Return the calendar date of instant `moment` in zone `tz`."""
    return moment.astimezone(ZoneInfo(tz)).date()


def next_local_hour(moment: datetime, tz: str) -> datetime:
    """Return the start of the local hour after the one containing `moment`, as UTC.

    Working in wall-clock time keeps hours aligned in zones with half-hour
    offsets, where a UTC hour would split the station's hourly buckets.
    """
    local = moment.astimezone(ZoneInfo(tz))
    hour_start = local.replace(minute=0, second=0, microsecond=0)
    return (hour_start + timedelta(hours=1)).astimezone(timezone.utc)


def format_age(seconds: float | None, lang: str) -> str:
    """Format an age such as "5 分钟前" or "5 min ago". None means there is no reading at all."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return t("time.never", lang)

    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return t("time.age_seconds", lang, count=int(seconds))
    if seconds < 3600:
        return t("time.age_minutes", lang, count=int(seconds // 60))
    if seconds < 86400:
        return t("time.age_hours", lang, count=int(seconds // 3600))
    return t("time.age_days", lang, count=int(seconds // 86400))

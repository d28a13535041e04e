"""Python wrappers of the reporting.* database functions, returning DataFrames.

The wrappers only call the database and give the columns pandas types (UTC
timestamps, floats). Bucketing, the granularity choice and quality rules
stay in SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import pandas as pd

from core.db import Database

GRANULARITIES = ("raw", "hourly", "daily")
AUTO = "auto"
DEFAULT_MAX_POINTS = 4000  # the default p_max_points of reporting.get_metrics_auto

METRIC_COLUMNS = (
    "granularity", "series_id", "bucket", "value", "value_avg", "value_min", "value_max", "value_sum",
    "value_first", "value_last", "sample_count", "bad_count", "substituted_count",
)
FLOAT_COLUMNS = ("value", "value_avg", "value_min", "value_max", "value_sum", "value_first", "value_last")
COUNT_COLUMNS = ("sample_count", "bad_count", "substituted_count")


def _as_utc(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    # psycopg returns timestamptz in the session's TimeZone, which differs
    # between servers. The app works in UTC and converts only for display.
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def list_series(db: Database) -> pd.DataFrame:
    """Return every series with station, device and metric names, unit and decimals (reporting.v_series)."""
    frame = db.view("reporting.v_series", order_by=("station_code", "device_order", "metric_id"))
    frame["decimals"] = frame["decimals"].astype("int64")
    return frame


def get_series_extent(db: Database, series_ids: Sequence[int]) -> pd.DataFrame:
    """Return the first and last reading time of each series (reporting.get_series_extent)."""
    frame = db.frame("reporting.get_series_extent", p_series_ids=list(series_ids))
    return _as_utc(frame, ("first_ts", "last_ts"))


def choose_granularity(db: Database, series_ids: Sequence[int], start: datetime, end: datetime,
                       max_points: int = DEFAULT_MAX_POINTS) -> str | None:
    """Return raw, hourly or daily as reporting.choose_granularity picks it for [start, end), or None."""
    rows = db.call("reporting.choose_granularity", p_series_ids=list(series_ids), p_from=start, p_to=end,
                   p_max_points=max_points)
    return rows[0]["choose_granularity"] if rows else None


def get_metrics(db: Database, series_ids: Sequence[int], start: datetime, end: datetime,
                granularity: str = AUTO, max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """Return the series in [start, end) at `granularity`, or as reporting.get_metrics_auto picks it for `auto`.

    Every row names the granularity used, so the caller can show which one
    the database picked.
    """
    if granularity == AUTO:
        frame = db.frame("reporting.get_metrics_auto", p_series_ids=list(series_ids), p_from=start, p_to=end,
                         p_max_points=max_points)
    elif granularity in GRANULARITIES:
        frame = db.frame("reporting.get_metrics_multi", p_series_ids=list(series_ids), p_from=start, p_to=end,
                         p_granularity=granularity)
    else:
        raise ValueError(f"invalid granularity {granularity!r}: expected auto, raw, hourly or daily")

    if frame.empty:
        frame = pd.DataFrame(columns=list(METRIC_COLUMNS))
    frame = _as_utc(frame, ("bucket",))
    for column in FLOAT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in COUNT_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).fillna(0).astype("int64")
    return frame


def get_station_overview(db: Database, at: datetime | None = None) -> pd.DataFrame:
    """Return one row per station: last sample time and age, today's sample counts (reporting.get_station_overview)."""
    params = {} if at is None else {"p_at": at}
    frame = db.frame("reporting.get_station_overview", **params)
    return _as_utc(frame, ("last_sample_at",))


def get_rollup_status(db: Database) -> pd.DataFrame:
    """Return one row per rollup (hourly, daily): watermark, pending invalidations, last refresh (reporting.get_rollup_status).

    The watermark is NaT before the rollup's first refresh.
    """
    frame = db.frame("reporting.get_rollup_status")
    return _as_utc(frame, ("watermark", "oldest_pending", "last_refresh_at"))


def list_reason_codes(db: Database) -> pd.DataFrame:
    """Return the reasons an operator may give for a change, in display order (reporting.v_reason_codes)."""
    return db.view("reporting.v_reason_codes", order_by=("sort_order",))


CORRECTION_COLUMNS = ("series_id", "ts", "value", "original_value", "quality", "substituted", "source", "version",
                      "updated_at", "updated_by")


def get_corrections(db: Database, series_ids: Sequence[int], start: datetime, end: datetime,
                    limit: int = 2000) -> pd.DataFrame:
    """Return the corrected readings of the series in [start, end), at most `limit` (reporting.get_corrections)."""
    frame = db.frame("reporting.get_corrections", p_series_ids=list(series_ids), p_from=start, p_to=end,
                     p_limit=limit)
    frame = frame.reindex(columns=list(CORRECTION_COLUMNS))
    for column in ("value", "original_value"):
        frame[column] = frame[column].astype("float64")
    return _as_utc(frame, ("ts", "updated_at"))

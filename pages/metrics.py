"""Station metrics page: one station, several devices and metrics on one chart, and a table.

The selection (station, devices, metrics, range, dates, granularity) lives in
widget state and is mirrored into the URL, so a copied link reopens the view.
Times are shown in the station's time zone; the database does all bucketing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from core.i18n import t
from core.reporting import AUTO, DEFAULT_MAX_POINTS, GRANULARITIES
from dashboard import charts, ui

PRESET_DURATIONS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
CUSTOM_RANGE = "custom"
RANGE_CHOICES = (*PRESET_DURATIONS, CUSTOM_RANGE)
DEFAULT_RANGE = "24h"
GRANULARITY_CHOICES = (AUTO, *GRANULARITIES)
PREFERRED_METRIC = "flow_rate"

STATION_KEY = "station"
DEVICES_KEY = "devices"
METRICS_KEY = "metrics"
RANGE_KEY = "range"
DATES_KEY = "dates"
GRANULARITY_KEY = "granularity"
SEEN_STATION_KEY = "metrics_page_station"
SEEN_DEVICES_KEY = "metrics_page_devices"
REMEMBERED_METRICS_KEY = "metrics_page_remembered_metrics"
LAST_PRESET_KEY = "metrics_page_last_preset"


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) in UTC; `anchored_at` is the latest reading a preset was moved to."""

    start: datetime
    end: datetime
    anchored_at: datetime | None = None


# -- pickers ----------------------------------------------------------------

def _init_state(key: str, value) -> None:
    # The URL seeds a widget only when this session has no state for it yet,
    # so later clicks are not overwritten by the (already synced) URL.
    if key not in st.session_state:
        st.session_state[key] = value


def _restrict_choice(key: str, options: list[str], fallback: list[str], context_changed: bool) -> None:
    # Options change with the station and devices, so choices that no longer
    # exist are dropped. When none is left after the context changed, the
    # fallback replaces them instead of a blank chart. A choice the user
    # emptied in an unchanged context stays empty.
    current = st.session_state.get(key) or []
    still_valid = [value for value in current if value in options]
    if not still_valid and context_changed:
        still_valid = fallback
    st.session_state[key] = still_valid


def pick_station(catalogue: pd.DataFrame, lang: str) -> str:
    stations = catalogue.drop_duplicates("station_code").set_index("station_code")
    codes = list(stations.index)
    requested = ui.query_value(STATION_KEY)
    if STATION_KEY not in st.session_state and requested and requested not in codes:
        st.warning(t("metrics.unknown_station", lang, station=requested))
    _init_state(STATION_KEY, requested if requested in codes else codes[0])
    if st.session_state[STATION_KEY] not in codes:
        st.session_state[STATION_KEY] = codes[0]

    st.selectbox(
        t("metrics.station", lang), codes, key=STATION_KEY,
        format_func=lambda code: f"{ui.localized(stations.loc[code], 'station_name', lang)} ({code})",
    )
    return st.session_state[STATION_KEY]


def _default_devices(station_series: pd.DataFrame) -> list[str]:
    with_preferred = station_series[station_series["metric_code"] == PREFERRED_METRIC]
    source = with_preferred if not with_preferred.empty else station_series
    return [source["device_code"].iloc[0]]


def pick_devices(station_series: pd.DataFrame, station_changed: bool, lang: str) -> list[str]:
    devices = station_series.drop_duplicates("device_code").set_index("device_code")
    options = list(devices.index)
    default = _default_devices(station_series)
    _init_state(DEVICES_KEY, [code for code in ui.query_values(DEVICES_KEY) if code in options] or default)
    _restrict_choice(DEVICES_KEY, options, default, station_changed)

    st.multiselect(
        t("metrics.devices", lang), options, key=DEVICES_KEY,
        format_func=lambda code: ui.localized(devices.loc[code], "device_name", lang),
        placeholder=t("metrics.devices_placeholder", lang),
    )
    return list(st.session_state[DEVICES_KEY])


def pick_metrics(station_series: pd.DataFrame, devices: list[str], devices_changed: bool, lang: str) -> list[str]:
    available = station_series[station_series["device_code"].isin(devices)]
    metrics = available.drop_duplicates("metric_code").set_index("metric_code")
    options = list(metrics.index)
    default = [PREFERRED_METRIC] if PREFERRED_METRIC in options else options[:1]
    _init_state(METRICS_KEY, [code for code in ui.query_values(METRICS_KEY) if code in options] or default)

    # Removing the last device empties the metric options. The metrics chosen
    # before come back when a device that has them is picked again.
    remembered = [code for code in st.session_state.get(REMEMBERED_METRICS_KEY, []) if code in options]
    _restrict_choice(METRICS_KEY, options, remembered or default, devices_changed)

    st.multiselect(
        t("metrics.metrics", lang), options, key=METRICS_KEY,
        format_func=lambda code: _metric_label(metrics.loc[code], lang),
        placeholder=t("metrics.metrics_placeholder", lang),
    )
    chosen = list(st.session_state[METRICS_KEY])
    if chosen:
        st.session_state[REMEMBERED_METRICS_KEY] = chosen
    return chosen


def _metric_label(row: pd.Series, lang: str) -> str:
    name = ui.localized(row, "metric_name", lang)
    return f"{name} ({row['unit']})" if row["unit"] else name


def pick_range(lang: str) -> str:
    requested = ui.query_value(RANGE_KEY)
    if requested not in RANGE_CHOICES:
        has_dates = ui.query_value("from") and ui.query_value("to")
        requested = CUSTOM_RANGE if has_dates else DEFAULT_RANGE
    _init_state(RANGE_KEY, requested)

    st.radio(
        t("metrics.range", lang), RANGE_CHOICES, key=RANGE_KEY, horizontal=True,
        format_func=lambda choice: t(f"metrics.range_{choice}", lang),
    )
    choice = st.session_state[RANGE_KEY]
    if choice != CUSTOM_RANGE:
        st.session_state[LAST_PRESET_KEY] = choice
    return choice


def _parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def pick_dates(preset: Window, tz: str, lang: str) -> tuple[date, date]:
    start_day = _parse_date(ui.query_value("from"))
    end_day = _parse_date(ui.query_value("to"))
    if start_day is None or end_day is None or start_day > end_day:
        # Without dates in the link, start from what the last preset showed.
        start_day = ui.local_date(preset.start, tz)
        end_day = ui.local_date(preset.end - timedelta(microseconds=1), tz)

    chosen = st.date_input(
        t("metrics.dates", lang), value=(start_day, end_day), key=DATES_KEY, format="YYYY-MM-DD",
    )
    # While the user has picked only the first day of a new range, the widget
    # returns one date, and the page shows that single day until the second.
    days = [day for day in (chosen if isinstance(chosen, (tuple, list)) else [chosen]) if day is not None]
    if not days:
        return start_day, end_day
    return days[0], days[-1]


def pick_granularity(lang: str) -> str:
    requested = ui.query_value(GRANULARITY_KEY)
    _init_state(GRANULARITY_KEY, requested if requested in GRANULARITY_CHOICES else AUTO)

    st.radio(
        t("metrics.granularity", lang), GRANULARITY_CHOICES, key=GRANULARITY_KEY, horizontal=True,
        format_func=lambda choice: t(f"granularity.{choice}", lang),
    )
    return st.session_state[GRANULARITY_KEY]


# -- time window ------------------------------------------------------------

@dataclass(frozen=True)
class Extent:
    """First and last reading over the selected series; `known` is False when the extent query failed."""

    first: datetime | None
    last: datetime | None
    known: bool = True

    @property
    def is_empty(self) -> bool:
        return self.known and self.last is None


def load_extent(series_ids: list[int], lang: str) -> Extent:
    try:
        extent = ui.query("get_series_extent", series_ids=tuple(series_ids))
    except ui.QUERY_ERRORS as error:
        ui.show_panel_error("metrics.panel_extent", error, lang)
        return Extent(None, None, known=False)

    first = extent["first_ts"].min()
    last = extent["last_ts"].max()
    return Extent(None if pd.isna(first) else first.to_pydatetime(),
                  None if pd.isna(last) else last.to_pydatetime())


def preset_window(choice: str, last_reading: datetime | None, tz: str) -> Window:
    """Return the last `choice` hours or days up to now, or up to the latest reading when that is older.

    Historical data (an import of an old export) would otherwise give an
    empty chart for every preset.
    """
    duration = PRESET_DURATIONS[choice]
    end = ui.next_local_hour(ui.now_utc(), tz)
    if last_reading is not None and last_reading < end - duration:
        anchored_end = ui.next_local_hour(last_reading, tz)
        return Window(anchored_end - duration, anchored_end, anchored_at=last_reading)
    return Window(end - duration, end)


def custom_window(first_day: date, last_day: date, tz: str) -> Window:
    """Return local midnight of `first_day` to local midnight after `last_day` (both days included)."""
    return Window(ui.local_midnight(first_day, tz), ui.local_midnight(last_day + timedelta(days=1), tz))


# -- table ------------------------------------------------------------------

def render_table(table: pd.DataFrame, decimals_by_column: dict[str, int]) -> None:
    column_config = {
        column: st.column_config.NumberColumn(column, format=f"%.{decimals}f")
        for column, decimals in decimals_by_column.items()
    }
    st.dataframe(table, hide_index=True, column_config=column_config)


def render_downloads(table: pd.DataFrame, file_stem: str, lang: str) -> None:
    # utf-8-sig: Excel opens a CSV with a BOM as UTF-8, so Chinese headers survive.
    csv_bytes = table.to_csv(index=False).encode("utf-8-sig")
    xlsx_buffer = io.BytesIO()
    with pd.ExcelWriter(xlsx_buffer, engine="xlsxwriter") as writer:
        table.to_excel(writer, index=False, sheet_name="data")

    left, right = st.columns(2, width=360)
    left.download_button(t("metrics.download_csv", lang), csv_bytes, file_name=f"{file_stem}.csv", mime="text/csv",
                         on_click="ignore")
    right.download_button(t("metrics.download_xlsx", lang), xlsx_buffer.getvalue(), file_name=f"{file_stem}.xlsx",
                          mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", on_click="ignore")


# -- page -------------------------------------------------------------------

def describe_window(window: Window, granularity_used: str | None, requested: str, tz: str, lang: str) -> None:
    st.caption(t("metrics.window", lang, start=ui.format_local(window.start, tz), end=ui.format_local(window.end, tz),
                 timezone=tz))
    if window.anchored_at is not None:
        st.info(t("metrics.anchored", lang, latest=ui.format_local(window.anchored_at, tz), timezone=tz))
    if granularity_used is None:
        return
    key = "metrics.granularity_auto" if requested == AUTO else "metrics.granularity_manual"
    st.caption(t(key, lang, granularity=t(f"granularity.{granularity_used}", lang)))


def fetch_metrics(series_ids: list[int], window: Window, granularity: str, lang: str) -> pd.DataFrame | None:
    try:
        return ui.query("get_metrics", series_ids=tuple(series_ids), start=window.start, end=window.end,
                        granularity=granularity)
    except ui.QUERY_ERRORS as error:
        ui.show_panel_error("metrics.panel_chart", error, lang)
        return None


def resolve_window(range_choice: str, extent: Extent, tz: str, lang: str, dates_column) -> Window:
    last_preset = st.session_state.get(LAST_PRESET_KEY, DEFAULT_RANGE)
    preset = preset_window(range_choice if range_choice != CUSTOM_RANGE else last_preset, extent.last, tz)
    if range_choice != CUSTOM_RANGE:
        return preset

    with dates_column:
        first_day, last_day = pick_dates(preset, tz, lang)
    return custom_window(first_day, last_day, tz)


def sync_url(station: str, devices: list[str], metrics: list[str], range_choice: str, window: Window | None,
             granularity: str, tz: str) -> None:
    is_custom = range_choice == CUSTOM_RANGE and window is not None
    ui.sync_query_params({
        STATION_KEY: station,
        DEVICES_KEY: devices,
        METRICS_KEY: metrics,
        RANGE_KEY: range_choice,
        "from": ui.local_date(window.start, tz).isoformat() if is_custom else None,
        "to": ui.local_date(window.end - timedelta(microseconds=1), tz).isoformat() if is_custom else None,
        GRANULARITY_KEY: granularity,
    })


def render_data(data: pd.DataFrame, selected: pd.DataFrame, window: Window, granularity: str, extent: Extent,
                station: str, tz: str, lang: str) -> None:
    if data.empty:
        describe_window(window, None, granularity, tz, lang)
        st.info(t("metrics.no_data_in_range", lang, first=ui.format_local(extent.first, tz),
                  last=ui.format_local(extent.last, tz), timezone=tz))
        return

    granularity_used = str(data["granularity"].iloc[0])
    describe_window(window, granularity_used, granularity, tz, lang)
    points_per_series = int(data.groupby("series_id").size().max())
    if points_per_series > DEFAULT_MAX_POINTS:
        st.caption(t("metrics.many_points", lang, points=points_per_series))

    figure = charts.build_figure(data, selected, granularity_used, tz, lang)
    st.plotly_chart(figure, config={"displaylogo": False}, key="metrics_chart")

    st.subheader(t("metrics.table_heading", lang))
    table, decimals_by_column = charts.build_table(data, selected, tz, lang)
    render_table(table, decimals_by_column)
    file_stem = f"{station}-{ui.local_date(window.start, tz):%Y%m%d}-{granularity_used}"
    render_downloads(table, file_stem, lang)


def render() -> None:
    lang = ui.language()
    st.title(t("metrics.title", lang))
    catalogue = ui.load_series_catalogue(lang)
    ui.relabel_widgets((STATION_KEY, DEVICES_KEY, METRICS_KEY, RANGE_KEY, GRANULARITY_KEY))

    station_column, devices_column, metrics_column = st.columns(3)
    with station_column:
        station = pick_station(catalogue, lang)
    station_changed = st.session_state.get(SEEN_STATION_KEY) not in (None, station)
    st.session_state[SEEN_STATION_KEY] = station

    station_series = catalogue[catalogue["station_code"] == station]
    tz = str(station_series["timezone"].iloc[0])
    with devices_column:
        devices = pick_devices(station_series, station_changed, lang)
    devices_changed = station_changed or st.session_state.get(SEEN_DEVICES_KEY) not in (None, devices)
    st.session_state[SEEN_DEVICES_KEY] = devices
    with metrics_column:
        metrics = pick_metrics(station_series, devices, devices_changed, lang)

    range_column, dates_column, granularity_column = st.columns([3, 2, 3])
    with range_column:
        range_choice = pick_range(lang)
    with granularity_column:
        granularity = pick_granularity(lang)

    selected = station_series[station_series["device_code"].isin(devices)
                              & station_series["metric_code"].isin(metrics)]
    if selected.empty:
        sync_url(station, devices, metrics, range_choice, None, granularity, tz)
        st.info(t("metrics.choose_series", lang))
        return

    selected_ids = [int(series_id) for series_id in selected["series_id"]]
    extent = load_extent(selected_ids, lang)
    window = resolve_window(range_choice, extent, tz, lang, dates_column)
    sync_url(station, devices, metrics, range_choice, window, granularity, tz)
    if extent.is_empty:
        st.info(t("metrics.no_readings", lang))
        return

    data = fetch_metrics(selected_ids, window, granularity, lang)
    if data is not None:
        render_data(data, selected, window, granularity, extent, station, tz, lang)


render()

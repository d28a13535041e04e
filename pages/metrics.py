"""Station metrics page: devices and metrics of one or several stations on one chart, and a table.

The selection (stations, devices, metrics, range, dates, granularity) lives
in widget state and is mirrored into the URL, so a copied link reopens the
view. Times are shown in the first picked station's time zone; the database
does all bucketing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
import streamlit as st

from core.i18n import t
from core.reporting import AUTO, DEFAULT_MAX_POINTS, GRANULARITIES
from dashboard import charts, session, ui

PRESET_DURATIONS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
CUSTOM_RANGE = "custom"
RANGE_CHOICES = (*PRESET_DURATIONS, CUSTOM_RANGE)
DEFAULT_RANGE = "24h"
GRANULARITY_CHOICES = (AUTO, *GRANULARITIES)
PREFERRED_METRIC = "flow_rate"

STATIONS_KEY = "stations"
# Links made before several stations could be picked, and the overview's
# links, name one station as `station`.
LEGACY_STATION_KEY = "station"
DEVICES_KEY = "devices"
METRICS_KEY = "metrics"
RANGE_KEY = "range"
DATES_KEY = "dates"
GRANULARITY_KEY = "granularity"
SEEN_STATIONS_KEY = "metrics_page_stations"
SEEN_DEVICES_KEY = "metrics_page_devices"
REMEMBERED_METRICS_KEY = "metrics_page_remembered_metrics"
LAST_PRESET_KEY = "metrics_page_last_preset"

# A device is picked as "station:device" because device codes repeat across
# stations. The CHECK constraints on station and device codes exclude ":".
DEVICE_KEY_SEPARATOR = ":"

# Points per series the page sends to the browser at most. Auto keeps within
# DEFAULT_MAX_POINTS; a manual raw or hourly choice over a long range is drawn
# one granularity coarser instead.
POINT_LIMIT_PER_SERIES = 5000
COARSER_GRANULARITY = {"raw": "hourly", "hourly": "daily"}

# The freshness note under an hourly or daily chart: watermark set, never refreshed.
FRESHNESS_KEYS = {
    "hourly": ("metrics.freshness_hourly", "metrics.freshness_hourly_never"),
    "daily": ("metrics.freshness_daily", "metrics.freshness_daily_never"),
}


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end) in UTC; `anchored_at` is the latest reading a preset was moved to."""

    start: datetime
    end: datetime
    anchored_at: datetime | None = None


# -- pickers ----------------------------------------------------------------

# The pickers are multiselects with wrap=True: in a column their chips would
# otherwise stay on one scrolling row, hiding all but the first station or device.

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


def requested_stations() -> list[str]:
    """Return the station codes of the link: repeated `stations`, else the single `station` of older links."""
    return list(dict.fromkeys(ui.query_values(STATIONS_KEY) or ui.query_values(LEGACY_STATION_KEY)))


def warn_unknown_stations(requested: list[str], codes: list[str], lang: str) -> None:
    unknown = [code for code in requested if code not in codes]
    if not unknown:
        return
    key = "metrics.unknown_station" if len(unknown) == len(requested) else "metrics.unknown_station_skipped"
    st.warning(t(key, lang, station=", ".join(unknown)))


def pick_stations(catalogue: pd.DataFrame, lang: str) -> list[str]:
    stations = catalogue.drop_duplicates("station_code").set_index("station_code")
    codes = list(stations.index)
    requested = requested_stations()
    if STATIONS_KEY not in st.session_state:
        warn_unknown_stations(requested, codes, lang)
    _init_state(STATIONS_KEY, [code for code in requested if code in codes] or codes[:1])
    st.session_state[STATIONS_KEY] = [code for code in st.session_state[STATIONS_KEY] if code in codes]

    st.multiselect(
        t("metrics.stations", lang), codes, key=STATIONS_KEY,
        format_func=lambda code: f"{ui.localized(stations.loc[code], 'station_name', lang)} ({code})",
        placeholder=t("metrics.stations_placeholder", lang), wrap=True,
    )
    return list(st.session_state[STATIONS_KEY])


def device_key(station: str, device: str) -> str:
    return f"{station}{DEVICE_KEY_SEPARATOR}{device}"


def station_of(key: str) -> str:
    return key.partition(DEVICE_KEY_SEPARATOR)[0]


def device_of(key: str) -> str:
    return key.partition(DEVICE_KEY_SEPARATOR)[2]


def with_device_keys(catalogue: pd.DataFrame) -> pd.DataFrame:
    return catalogue.assign(device_key=catalogue["station_code"] + DEVICE_KEY_SEPARATOR + catalogue["device_code"])


def _default_devices(station_series: pd.DataFrame, stations: list[str]) -> list[str]:
    """Return per station its first device with the preferred metric, else its first device."""
    defaults = []
    for station in stations:
        series = station_series[station_series["station_code"] == station]
        with_preferred = series[series["metric_code"] == PREFERRED_METRIC]
        source = with_preferred if not with_preferred.empty else series
        defaults.append(source["device_key"].iloc[0])
    return defaults


def devices_from_url(options: list[str], stations: list[str]) -> list[str]:
    """Return the devices of the link as device keys.

    A bare code (links to one station) means that device in every picked
    station that has it; "station:device" names one device.
    """
    chosen = []
    for value in ui.query_values(DEVICES_KEY):
        if DEVICE_KEY_SEPARATOR in value:
            chosen.append(value)
        else:
            chosen += [device_key(station, value) for station in stations]
    return [key for key in dict.fromkeys(chosen) if key in options]


def devices_for_url(devices: list[str], stations: list[str]) -> list[str]:
    # Links to one station keep bare device codes, as before several stations could be picked.
    return [device_of(key) for key in devices] if len(stations) == 1 else devices


def pick_devices(station_series: pd.DataFrame, stations: list[str], previous_stations: list[str] | None,
                 lang: str) -> list[str]:
    devices = station_series.drop_duplicates("device_key").set_index("device_key")
    options = list(devices.index)
    _init_state(DEVICES_KEY, devices_from_url(options, stations) or _default_devices(station_series, stations))
    chosen = [key for key in st.session_state[DEVICES_KEY] if key in options]

    # Devices of removed stations drop out. A station just added brings its
    # default device, so a second station shows on the chart at once. When
    # no device is left, every station's default replaces a blank chart. A
    # choice the user emptied with the same stations stays empty.
    if previous_stations is not None and previous_stations != stations:
        chosen_stations = {station_of(key) for key in chosen}
        added = [code for code in stations if code not in previous_stations and code not in chosen_stations]
        chosen += _default_devices(station_series, added)
        chosen = chosen or _default_devices(station_series, stations)
    st.session_state[DEVICES_KEY] = chosen

    several = len(stations) > 1
    st.multiselect(
        t("metrics.devices", lang), options, key=DEVICES_KEY,
        format_func=lambda key: _device_label(devices.loc[key], several, lang),
        placeholder=t("metrics.devices_placeholder", lang), wrap=True,
    )
    return list(st.session_state[DEVICES_KEY])


def _device_label(row: pd.Series, with_station: bool, lang: str) -> str:
    device = ui.localized(row, "device_name", lang)
    return f"{ui.localized(row, 'station_name', lang)} · {device}" if with_station else device


def pick_metrics(station_series: pd.DataFrame, devices: list[str], devices_changed: bool, lang: str) -> list[str]:
    available = station_series[station_series["device_key"].isin(devices)]
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
        placeholder=t("metrics.metrics_placeholder", lang), wrap=True,
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


# -- chart data within the point limit ---------------------------------------

@dataclass(frozen=True)
class ChartData:
    """Metrics rows to draw.

    When the requested granularity had more than POINT_LIMIT_PER_SERIES points
    per series, `limited_from` names it, `requested_points` is its maximum
    points per series, and `frame` contains rows of a coarser granularity.
    """

    frame: pd.DataFrame
    limited_from: str | None = None
    requested_points: int = 0

    @property
    def granularity(self) -> str | None:
        return None if self.frame.empty else str(self.frame["granularity"].iloc[0])


def fetch_metrics(series_ids: list[int], window: Window, granularity: str, lang: str) -> pd.DataFrame | None:
    try:
        return ui.query("get_metrics", series_ids=tuple(series_ids), start=window.start, end=window.end,
                        granularity=granularity)
    except ui.QUERY_ERRORS as error:
        ui.show_panel_error("metrics.panel_chart", error, lang)
        return None


def points_per_series(frame: pd.DataFrame) -> int:
    return int(frame.groupby("series_id").size().max()) if not frame.empty else 0


def readings_per_series(hourly: pd.DataFrame) -> int:
    # Each hourly bucket counts its good and bad readings, so their sum is the
    # number of raw rows per series, known without transferring those rows.
    if hourly.empty:
        return 0
    readings = hourly["sample_count"] + hourly["bad_count"]
    return int(readings.groupby(hourly["series_id"]).sum().max())


def load_chart_data(series_ids: list[int], window: Window, requested: str, lang: str) -> ChartData | None:
    """Fetch the series at `requested`, or coarser when that has more than POINT_LIMIT_PER_SERIES points per series.

    Returns None when a query failed (its panel note is shown).
    """
    if requested == "raw":
        return load_raw_within_limit(series_ids, window, lang)

    frame = fetch_metrics(series_ids, window, requested, lang)
    if frame is None:
        return None
    points = points_per_series(frame)
    if requested not in COARSER_GRANULARITY or points <= POINT_LIMIT_PER_SERIES:
        return ChartData(frame)

    daily = fetch_metrics(series_ids, window, COARSER_GRANULARITY[requested], lang)
    return None if daily is None else ChartData(daily, requested, points)


def load_raw_within_limit(series_ids: list[int], window: Window, lang: str) -> ChartData | None:
    hourly = fetch_metrics(series_ids, window, "hourly", lang)
    if hourly is None:
        return None

    raw_points = readings_per_series(hourly)
    if raw_points <= POINT_LIMIT_PER_SERIES:
        raw = fetch_metrics(series_ids, window, "raw", lang)
        return None if raw is None else ChartData(raw)

    # Hourly data is over the limit too when the range exceeds about 208 days.
    if points_per_series(hourly) <= POINT_LIMIT_PER_SERIES:
        return ChartData(hourly, "raw", raw_points)
    daily = fetch_metrics(series_ids, window, "daily", lang)
    return None if daily is None else ChartData(daily, "raw", raw_points)


# -- page -------------------------------------------------------------------

@dataclass(frozen=True)
class Zone:
    """Display time zone, which is the first picked station's. `differs` is True when a shown series is in another zone."""

    tz: str
    station_name: str
    differs: bool = False


def display_zone(station_series: pd.DataFrame, stations: list[str], selected: pd.DataFrame, lang: str) -> Zone:
    first = station_series[station_series["station_code"] == stations[0]].iloc[0]
    tz = str(first["timezone"])
    differs = bool(set(selected["timezone"]) - {tz})
    return Zone(tz, ui.localized(first, "station_name", lang), differs)


def describe_window(window: Window, chart: ChartData, requested: str, zone: Zone, lang: str) -> None:
    tz = zone.tz
    st.caption(t("metrics.window", lang, start=ui.format_local(window.start, tz), end=ui.format_local(window.end, tz),
                 timezone=tz))
    if zone.differs:
        st.caption(t("metrics.zones_differ", lang, station=zone.station_name, timezone=tz))
    if window.anchored_at is not None:
        st.info(t("metrics.anchored", lang, latest=ui.format_local(window.anchored_at, tz), timezone=tz))
    if chart.granularity is None:
        return

    used = t(f"granularity.{chart.granularity}", lang)
    if chart.limited_from is not None:
        requested_name = t(f"granularity.{chart.limited_from}", lang)
        st.warning(t("metrics.too_many_points", lang, requested=requested_name, drawn=used,
                     points=f"{chart.requested_points:,}", limit=f"{POINT_LIMIT_PER_SERIES:,}"))
        st.caption(t("metrics.granularity_limited", lang, granularity=used, requested=requested_name))
        return
    key = "metrics.granularity_auto" if requested == AUTO else "metrics.granularity_manual"
    st.caption(t(key, lang, granularity=used))


def render_freshness(granularity: str, tz: str, lang: str) -> None:
    """Show up to when the rollup behind an hourly or daily chart is materialized. Raw charts get no note."""
    if granularity not in FRESHNESS_KEYS:
        return
    try:
        status = ui.query("get_rollup_status")
    except ui.QUERY_ERRORS as error:
        ui.show_panel_error("metrics.panel_freshness", error, lang)
        return

    current_key, never_key = FRESHNESS_KEYS[granularity]
    watermarks = status.loc[status["rollup"] == granularity, "watermark"]
    if watermarks.empty or pd.isna(watermarks.iloc[0]):
        st.caption(t(never_key, lang))
        return
    st.caption(t(current_key, lang, watermark=ui.format_local(watermarks.iloc[0], tz), timezone=tz))


def resolve_window(range_choice: str, extent: Extent, tz: str, lang: str, dates_column) -> Window:
    last_preset = st.session_state.get(LAST_PRESET_KEY, DEFAULT_RANGE)
    preset = preset_window(range_choice if range_choice != CUSTOM_RANGE else last_preset, extent.last, tz)
    if range_choice != CUSTOM_RANGE:
        return preset

    with dates_column:
        first_day, last_day = pick_dates(preset, tz, lang)
    return custom_window(first_day, last_day, tz)


def sync_url(stations: list[str], devices: list[str], metrics: list[str], range_choice: str, window: Window | None,
             granularity: str, tz: str | None) -> None:
    is_custom = range_choice == CUSTOM_RANGE and window is not None and tz is not None
    ui.sync_query_params({
        STATIONS_KEY: stations,
        LEGACY_STATION_KEY: None,
        DEVICES_KEY: devices_for_url(devices, stations),
        METRICS_KEY: metrics,
        RANGE_KEY: range_choice,
        "from": ui.local_date(window.start, tz).isoformat() if is_custom else None,
        "to": ui.local_date(window.end - timedelta(microseconds=1), tz).isoformat() if is_custom else None,
        GRANULARITY_KEY: granularity,
    })


def render_data(chart: ChartData, selected: pd.DataFrame, window: Window, requested: str, extent: Extent,
                stations: list[str], zone: Zone, lang: str) -> None:
    tz = zone.tz
    data = chart.frame
    describe_window(window, chart, requested, zone, lang)
    if data.empty:
        st.info(t("metrics.no_data_in_range", lang, first=ui.format_local(extent.first, tz),
                  last=ui.format_local(extent.last, tz), timezone=tz))
        return

    points = points_per_series(data)
    if points > DEFAULT_MAX_POINTS:
        st.caption(t("metrics.many_points", lang, points=points))

    corrections = load_corrections(selected, window, lang) if chart.granularity == "raw" else None
    figure = charts.build_figure(data, selected, chart.granularity, tz, lang, zones_differ=zone.differs,
                                 corrections=corrections)
    st.plotly_chart(figure, config={"displaylogo": False}, key="metrics_chart")
    render_freshness(chart.granularity, tz, lang)

    st.subheader(t("metrics.table_heading", lang))
    table, decimals_by_column = charts.build_table(data, selected, tz, lang)
    render_table(table, decimals_by_column)
    file_stem = f"{'+'.join(stations)}-{ui.local_date(window.start, tz):%Y%m%d}-{chart.granularity}"
    render_downloads(table, file_stem, lang)


def load_corrections(selected: pd.DataFrame, window: Window, lang: str) -> pd.DataFrame | None:
    """Corrected readings in the window, for their markers; None (markers per bucket) when the query failed."""
    try:
        return ui.query("get_corrections", series_ids=tuple(int(s) for s in selected["series_id"]),
                        start=window.start, end=window.end)
    except ui.QUERY_ERRORS as error:
        ui.show_panel_error("metrics.panel_corrections", error, lang)
        return None


def remember(key: str, value: list[str]) -> list[str] | None:
    """Store `value` under `key` for the next run and return what the previous run stored."""
    previous = st.session_state.get(key)
    st.session_state[key] = value
    return previous


def render() -> None:
    lang = ui.language()
    session.require_page("metrics", lang)
    st.title(t("metrics.title", lang))
    catalogue = with_device_keys(ui.load_series_catalogue(lang))
    ui.relabel_widgets((STATIONS_KEY, DEVICES_KEY, METRICS_KEY, RANGE_KEY, GRANULARITY_KEY))

    station_column, devices_column, metrics_column = st.columns(3)
    with station_column:
        stations = pick_stations(catalogue, lang)
    previous_stations = remember(SEEN_STATIONS_KEY, stations)

    station_series = catalogue[catalogue["station_code"].isin(stations)]
    with devices_column:
        devices = pick_devices(station_series, stations, previous_stations, lang)
    previous_devices = remember(SEEN_DEVICES_KEY, devices)
    devices_changed = previous_stations not in (None, stations) or previous_devices not in (None, devices)
    with metrics_column:
        metrics = pick_metrics(station_series, devices, devices_changed, lang)

    range_column, dates_column, granularity_column = st.columns([3, 2, 3])
    with range_column:
        range_choice = pick_range(lang)
    with granularity_column:
        granularity = pick_granularity(lang)

    selected = station_series[station_series["device_key"].isin(devices)
                              & station_series["metric_code"].isin(metrics)]
    if selected.empty:
        sync_url(stations, devices, metrics, range_choice, None, granularity, None)
        st.info(t("metrics.choose_series" if stations else "metrics.choose_station", lang))
        return

    zone = display_zone(station_series, stations, selected, lang)
    selected_ids = [int(series_id) for series_id in selected["series_id"]]
    extent = load_extent(selected_ids, lang)
    window = resolve_window(range_choice, extent, zone.tz, lang, dates_column)
    sync_url(stations, devices, metrics, range_choice, window, granularity, zone.tz)
    if extent.is_empty:
        st.info(t("metrics.no_readings", lang))
        return

    chart = load_chart_data(selected_ids, window, granularity, lang)
    if chart is not None:
        render_data(chart, selected, window, granularity, extent, stations, zone, lang)


render()

"""Measurements page for operators: find readings, correct one or several, delete by filter, see the audit.

The table is a snapshot: it is read when the filter, the page or the
refresh button changes, and every correction is sent with the version of the
reading in that snapshot. A reading someone else changed in the meantime is
then refused as a conflict instead of being overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from core import corrections
from core.corrections import Change, CorrectionError, Filter
from core.i18n import t
from dashboard import session, ui

STATION_KEY = "corr_station"
DEVICES_KEY = "corr_devices"
METRICS_KEY = "corr_metrics"
DATES_KEY = "corr_dates"
QUALITIES_KEY = "corr_qualities"
SOURCE_KEY = "corr_source"
SNAPSHOT_KEY = "corr_snapshot"
CURSORS_KEY = "corr_cursors"
SELECTED_KEY = "corr_selected"
DELETE_PREVIEW_KEY = "corr_delete_preview"
FLASH_KEY = "corr_flash"
SEEN_STATION_KEY = "corr_seen_station"
RELABEL_KEY = "corr_relabel"
ALL_SOURCES = ""
PREFERRED_METRIC = "flow_rate"
MAX_SERIES = 200


@dataclass
class Snapshot:
    """The readings of one table page as read from the database, with the filter and cursor that gave them."""

    selection: Filter
    cursor_index: int
    readings: pd.DataFrame
    total: int
    generation: int


# -- filters ----------------------------------------------------------------

def _label(row: pd.Series, field: str, lang: str) -> str:
    return ui.localized(row, field, lang)


def pick_series(catalogue: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Station, devices and metrics pickers; return the catalogue rows of the picked series."""
    stations = catalogue.drop_duplicates("station_code").set_index("station_code")
    columns = st.columns(3)
    station = columns[0].selectbox(t("measurements.station", lang), list(stations.index), key=STATION_KEY,
                                   format_func=lambda code: f"{_label(stations.loc[code], 'station_name', lang)} ({code})")
    station_series = catalogue[catalogue["station_code"] == station]
    if st.session_state.get(SEEN_STATION_KEY, station) != station:
        # Another station has other data days: start from its latest day again.
        st.session_state.pop(DATES_KEY, None)
    st.session_state[SEEN_STATION_KEY] = station

    devices = station_series.drop_duplicates("device_code").set_index("device_code")
    device_codes = list(devices.index)
    if DEVICES_KEY not in st.session_state or not set(st.session_state[DEVICES_KEY]) <= set(device_codes):
        st.session_state[DEVICES_KEY] = device_codes[:1]
    picked_devices = columns[1].multiselect(
        t("measurements.devices", lang), device_codes, key=DEVICES_KEY,
        format_func=lambda code: _label(devices.loc[code], "device_name", lang))

    device_series = station_series[station_series["device_code"].isin(picked_devices)]
    metrics = device_series.drop_duplicates("metric_code").set_index("metric_code")
    metric_codes = list(metrics.index)
    if not set(st.session_state.get(METRICS_KEY, [])) <= set(metric_codes) or not st.session_state.get(METRICS_KEY):
        preferred = [PREFERRED_METRIC] if PREFERRED_METRIC in metric_codes else metric_codes[:1]
        st.session_state[METRICS_KEY] = preferred
    picked_metrics = columns[2].multiselect(
        t("measurements.metrics", lang), metric_codes, key=METRICS_KEY,
        format_func=lambda code: f"{_label(metrics.loc[code], 'metric_name', lang)} ({metrics.loc[code, 'unit']})")
    return device_series[device_series["metric_code"].isin(picked_metrics)]


def default_day(series: pd.DataFrame, tz: str, lang: str) -> date:
    """Return the local day of the latest reading of the picked series, or today when there is none."""
    try:
        extent = ui.query("get_series_extent", series_ids=tuple(int(s) for s in series["series_id"]))
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)
    last = extent["last_ts"].dropna()
    if last.empty:
        return ui.local_date(ui.now_utc(), tz)
    return ui.local_date(last.max().to_pydatetime(), tz)


def pick_filter(series: pd.DataFrame, lang: str) -> Filter | None:
    """Dates, qualities and source; return the filter, or None (with a note) when it cannot be used."""
    tz = series["timezone"].iloc[0]
    columns = st.columns(3)
    if DATES_KEY not in st.session_state:
        day = default_day(series, tz, lang)
        st.session_state[DATES_KEY] = (day, day)
    dates = columns[0].date_input(t("measurements.dates", lang, timezone=tz), key=DATES_KEY)
    qualities = columns[1].multiselect(t("measurements.qualities", lang), corrections.QUALITIES, key=QUALITIES_KEY,
                                       placeholder=t("measurements.qualities_all", lang),
                                       format_func=lambda quality: t(f"quality.{quality}", lang))
    source = columns[2].selectbox(t("measurements.source", lang), (ALL_SOURCES, *corrections.SOURCES),
                                  key=SOURCE_KEY,
                                  format_func=lambda code: t(f"source.{code or 'all'}", lang))

    if not isinstance(dates, (tuple, list)) or len(dates) != 2:
        st.info(t("measurements.pick_end_date", lang))
        return None
    first_day, last_day = dates
    return Filter(
        series_ids=tuple(sorted(int(s) for s in series["series_id"])),
        start=ui.local_midnight(first_day, tz),
        end=ui.local_midnight(last_day + timedelta(days=1), tz),
        qualities=tuple(sorted(qualities)),
        source=source or None,
    )


# -- the snapshot -----------------------------------------------------------

def load_snapshot(selection: Filter, cursor_index: int, lang: str) -> Snapshot:
    """Read one page of readings; the cursor stack of the filter gives the keyset to start after."""
    cursors = st.session_state.get(CURSORS_KEY) or [None]
    previous = st.session_state.get(SNAPSHOT_KEY)
    try:
        db = ui.get_database()
        readings = corrections.list_readings(db, selection, after=cursors[cursor_index])
        total = corrections.count_readings(db, selection)
    except (ui.DatabaseUnavailable, CorrectionError, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)
    generation = previous.generation + 1 if previous else 0
    return Snapshot(selection, cursor_index, readings, total, generation)


def current_snapshot(selection: Filter, lang: str) -> Snapshot:
    """Return the snapshot of `selection`, reading it again only when the filter changed or nothing was read yet."""
    snapshot: Snapshot | None = st.session_state.get(SNAPSHOT_KEY)
    if snapshot is None or snapshot.selection != selection:
        st.session_state[CURSORS_KEY] = [None]
        st.session_state.pop(DELETE_PREVIEW_KEY, None)
        snapshot = load_snapshot(selection, 0, lang)
        st.session_state[SNAPSHOT_KEY] = snapshot
    return snapshot


def reload(snapshot: Snapshot, lang: str, cursor_index: int | None = None) -> None:
    index = snapshot.cursor_index if cursor_index is None else cursor_index
    st.session_state[SNAPSHOT_KEY] = load_snapshot(snapshot.selection, index, lang)


def go_to_page(snapshot: Snapshot, step: int, lang: str) -> None:
    cursors = st.session_state[CURSORS_KEY]
    if step > 0:
        last = snapshot.readings.iloc[-1]
        del cursors[snapshot.cursor_index + 1:]
        cursors.append((int(last["series_id"]), last["ts"].to_pydatetime()))
    reload(snapshot, lang, cursor_index=snapshot.cursor_index + step)


# -- table ------------------------------------------------------------------

def describe_readings(readings: pd.DataFrame, series: pd.DataFrame, tz: str, lang: str) -> pd.DataFrame:
    """Build the table the operator reads: local time, device and metric names, labelled quality and source."""
    info = series.set_index("series_id")
    frame = pd.DataFrame(index=readings.index)
    frame[t("measurements.col.time", lang)] = ui.to_local(readings["ts"], tz).dt.strftime("%Y-%m-%d %H:%M:%S").values
    frame[t("measurements.col.device", lang)] = [_label(info.loc[s], "device_name", lang) for s in readings["series_id"]]
    frame[t("measurements.col.metric", lang)] = [_label(info.loc[s], "metric_name", lang) for s in readings["series_id"]]
    frame[t("measurements.col.value", lang)] = readings["value"].values
    frame[t("measurements.col.unit", lang)] = [info.loc[s, "unit"] for s in readings["series_id"]]
    frame[t("measurements.col.original", lang)] = [format_value(value) for value in readings["original_value"]]
    frame[t("measurements.col.quality", lang)] = [t(f"quality.{q}", lang) for q in readings["quality"]]
    frame[t("measurements.col.substituted", lang)] = readings["substituted"].values
    frame[t("measurements.col.source", lang)] = [t(f"source.{s}", lang) for s in readings["source"]]
    frame[t("measurements.col.version", lang)] = readings["version"].values
    frame[t("measurements.col.updated_by", lang)] = readings["updated_by"].fillna("").values
    return frame


def render_table(snapshot: Snapshot, series: pd.DataFrame, tz: str, lang: str) -> None:
    readings = snapshot.readings
    shown_from = snapshot.cursor_index * corrections.PAGE_SIZE + 1
    total = (t("measurements.total_capped", lang, count=f"{snapshot.total:,}")
             if snapshot.total >= corrections.COUNT_CAP else f"{snapshot.total:,}")
    st.caption(t("measurements.page_caption", lang, first=shown_from if len(readings) else 0,
                 last=shown_from + len(readings) - 1, total=total, timezone=tz))
    st.dataframe(describe_readings(readings, series, tz, lang), hide_index=True, width="stretch", height=320)

    columns = st.columns([1, 1, 1, 5])
    if columns[0].button(t("measurements.previous_page", lang), disabled=snapshot.cursor_index == 0):
        go_to_page(snapshot, -1, lang)
        st.rerun()
    if columns[1].button(t("measurements.next_page", lang), disabled=len(readings) < corrections.PAGE_SIZE):
        go_to_page(snapshot, 1, lang)
        st.rerun()
    if columns[2].button(t("measurements.refresh", lang)):
        reload(snapshot, lang)
        st.rerun()


# -- messages ---------------------------------------------------------------

def error_message(error: CorrectionError, series: pd.DataFrame, lang: str, tz: str,
                  values: dict[str, float | None] | None = None) -> str:
    """Return the rejection in the user's language, naming the field or reading, the value and what to do.

    `values` maps reading keys to the values the operator sent, so a
    rejected value can be quoted.
    """
    where = ""
    info = series.set_index("series_id")
    row = series.iloc[0]
    if error.reading_key:
        series_id, ts = corrections.parse_reading_key(error.reading_key)
        where = t("measurements.error.at_reading", lang, time=ui.format_local(ts, tz, ""),
                  name=reading_name(series, series_id, lang))
        if series_id in info.index:
            row = info.loc[series_id]

    if error.kind != "invalid":
        return where + t(f"measurements.error.{error.kind}", lang, detail=error.detail)
    field = error.field if error.field in ("value", "quality", "reason_code", "comment", "changed_by") else "other"
    sent = (values or {}).get(error.reading_key)
    sent_text = t("measurements.error.empty_value", lang) if sent is None or pd.isna(sent) else f"{sent:g}"
    return where + t(f"measurements.error.invalid_{field}", lang, value=sent_text, min=f"{row['valid_min']:g}",
                     max=f"{row['valid_max']:g}", unit=row["unit"], detail=error.detail)


def reading_name(series: pd.DataFrame, series_id: int, lang: str) -> str:
    info = series.set_index("series_id")
    if series_id not in info.index:
        return str(series_id)
    row = info.loc[series_id]
    return f"{_label(row, 'device_name', lang)} · {_label(row, 'metric_name', lang)}"


def flash(message: str) -> None:
    """Keep a success message for the toast of the next run, which follows the write's st.rerun."""
    st.session_state[FLASH_KEY] = message


def show_flash() -> None:
    message = st.session_state.pop(FLASH_KEY, None)
    if message:
        st.toast(message, icon=ui.SUCCESS_ICON)
        st.success(message)


def after_write(snapshot: Snapshot, message: str, lang: str) -> None:
    """Charts and the table show the change at once: drop cached queries, read the page again, rerun."""
    ui.clear_query_cache()
    reload(snapshot, lang)
    flash(message)
    # The reading picker keeps its key while its labels (with the values)
    # change; re-sending its value on the next run shows the new label.
    st.session_state[RELABEL_KEY] = True
    st.rerun()


# -- reason and comment -----------------------------------------------------

def reason_names(lang: str) -> dict[str, str]:
    """Return the reason codes in display order, mapped to their names in `lang`."""
    try:
        reasons = ui.query("list_reason_codes")
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)
    return {row["code"]: ui.localized(row, "name", lang) for _, row in reasons.iterrows()}


def reason_inputs(key: str, lang: str) -> tuple[str, str]:
    """Draw the reason and the required comment of a change, and return both."""
    names = reason_names(lang)
    reason = st.selectbox(t("measurements.reason", lang), list(names), key=f"{key}_reason",
                          format_func=lambda code: names[code])
    comment = st.text_area(t("measurements.comment", lang), key=f"{key}_comment", max_chars=2000,
                           placeholder=t("measurements.comment_placeholder", lang))
    return reason, comment


# -- single correction ------------------------------------------------------

def reading_option(snapshot: Snapshot, series: pd.DataFrame, tz: str, lang: str):
    readings = snapshot.readings

    def label(key: str) -> str:
        row = readings.loc[key]
        value = "–" if pd.isna(row["value"]) else f"{row['value']:g}"
        return f"{ui.format_local(row['ts'], tz)} · {reading_name(series, int(row['series_id']), lang)} = {value}"

    return label


def render_single(snapshot: Snapshot, series: pd.DataFrame, user, tz: str, lang: str) -> None:
    readings = snapshot.readings
    if readings.empty:
        st.info(t("measurements.no_readings", lang))
        return

    options = list(readings.index)
    if st.session_state.get(SELECTED_KEY) not in options:
        st.session_state[SELECTED_KEY] = options[0]
    key = st.selectbox(t("measurements.reading", lang), options, key=SELECTED_KEY,
                       format_func=reading_option(snapshot, series, tz, lang))
    reading = readings.loc[key]
    info = series.set_index("series_id").loc[int(reading["series_id"])]
    decimals = int(info["decimals"])

    with st.form(f"correct_{snapshot.generation}_{key}"):
        st.caption(t("measurements.seen", lang, version=int(reading["version"]),
                     original="–" if pd.isna(reading["original_value"]) else f"{reading['original_value']:g}",
                     min=f"{info['valid_min']:g}", max=f"{info['valid_max']:g}", unit=info["unit"]))
        columns = st.columns(2)
        value = columns[0].number_input(
            t("measurements.new_value", lang, unit=info["unit"]),
            value=None if pd.isna(reading["value"]) else float(reading["value"]),
            step=10.0 ** -decimals, format=f"%.{decimals}f", key=f"value_{snapshot.generation}_{key}")
        quality = columns[1].selectbox(t("measurements.quality", lang), corrections.QUALITIES,
                                       index=int(reading["quality"]), key=f"quality_{snapshot.generation}_{key}",
                                       format_func=lambda q: t(f"quality.{q}", lang))
        reason, comment = reason_inputs(f"single_{snapshot.generation}_{key}", lang)
        submitted = st.form_submit_button(t("measurements.submit_correction", lang), type="primary")

    if submitted:
        change = Change(int(reading["series_id"]), reading["ts"].to_pydatetime(), int(reading["version"]),
                        value, int(quality))
        try:
            corrections.correct(ui.get_database(), [change], reason_code=reason, comment=comment,
                                user=user.username)
        except CorrectionError as error:
            st.error(error_message(error, series, lang, tz, {corrections.reading_key(change.series_id, change.ts): value}))
        except ui.DatabaseUnavailable as error:
            ui.show_database_problem(error, lang)
        else:
            after_write(snapshot, t("measurements.corrected", lang, count=1), lang)

    render_history(int(reading["series_id"]), reading["ts"].to_pydatetime(), tz, lang)


def render_history(series_id: int, ts, tz: str, lang: str) -> None:
    st.subheader(t("measurements.history", lang))
    try:
        entries = corrections.history(ui.get_database(), series_id, ts)
    except (ui.DatabaseUnavailable, CorrectionError) as error:
        ui.show_panel_error("measurements.history", error, lang)
        return
    if entries.empty:
        st.caption(t("measurements.history_empty", lang))
        return

    table = pd.DataFrame({
        t("measurements.col.changed_at", lang): [ui.format_local(moment, tz) for moment in entries["changed_at"]],
        t("measurements.col.action", lang): [t(f"action.{action}", lang) for action in entries["action"]],
        t("measurements.col.old_value", lang): [format_value(value) for value in entries["old_value"]],
        t("measurements.col.new_value", lang): [format_value(value) for value in entries["new_value"]],
        t("measurements.col.old_quality", lang): [_quality(q, lang) for q in entries["old_quality"]],
        t("measurements.col.new_quality", lang): [_quality(q, lang) for q in entries["new_quality"]],
        t("measurements.col.reason", lang): [reason_names(lang).get(code, "") for code in entries["reason_code"]],
        t("measurements.col.comment", lang): entries["comment"].fillna(""),
        t("measurements.col.changed_by", lang): entries["changed_by"].fillna(""),
    })
    st.dataframe(table, hide_index=True, width="stretch")


def format_value(value) -> str:
    """Format a value for a table cell; a missing one is an empty cell, not "None"."""
    return "" if value is None or pd.isna(value) else f"{value:g}"


def _quality(quality, lang: str) -> str:
    return "" if pd.isna(quality) else t(f"quality.{int(quality)}", lang)


# -- batch correction -------------------------------------------------------

def render_batch(snapshot: Snapshot, series: pd.DataFrame, user, tz: str, lang: str) -> None:
    readings = snapshot.readings
    if readings.empty:
        st.info(t("measurements.no_readings", lang))
        return

    st.caption(t("measurements.batch_help", lang))
    original = describe_readings(readings, series, tz, lang)
    value_column = t("measurements.col.value", lang)
    quality_column = t("measurements.col.quality", lang)
    quality_labels = {t(f"quality.{q}", lang): q for q in corrections.QUALITIES}
    editable = {value_column, quality_column}
    edited = st.data_editor(
        original, key=f"batch_editor_{snapshot.generation}", hide_index=True, width="stretch", height=320,
        num_rows="fixed", disabled=[column for column in original.columns if column not in editable],
        column_config={quality_column: st.column_config.SelectboxColumn(options=list(quality_labels),
                                                                         required=True)},
    )

    before = pd.DataFrame({"value": readings["value"], "quality": readings["quality"]}, index=readings.index)
    after = pd.DataFrame({"value": pd.to_numeric(edited[value_column], errors="coerce"),
                          "quality": edited[quality_column].map(quality_labels)}, index=edited.index)
    changed = corrections.changed_rows(before, after)
    if changed.empty:
        return

    render_batch_preview(changed, before, original, lang)
    reason, comment = reason_inputs(f"batch_{snapshot.generation}", lang)
    if st.button(t("measurements.batch_confirm", lang, count=len(changed)), type="primary"):
        changes = [Change(int(readings.loc[key, "series_id"]), readings.loc[key, "ts"].to_pydatetime(),
                          int(readings.loc[key, "version"]), None if pd.isna(row["value"]) else float(row["value"]),
                          int(row["quality"]))
                   for key, row in changed.iterrows()]
        try:
            corrections.correct(ui.get_database(), changes, reason_code=reason, comment=comment, user=user.username)
        except CorrectionError as error:
            sent = {corrections.reading_key(change.series_id, change.ts): change.value for change in changes}
            st.error(error_message(error, series, lang, tz, sent))
        except ui.DatabaseUnavailable as error:
            ui.show_database_problem(error, lang)
        else:
            after_write(snapshot, t("measurements.corrected", lang, count=len(changes)), lang)


def render_batch_preview(changed: pd.DataFrame, before: pd.DataFrame, described: pd.DataFrame, lang: str) -> None:
    keys = changed.index
    preview = pd.DataFrame({
        t("measurements.col.time", lang): described.loc[keys, t("measurements.col.time", lang)],
        t("measurements.col.device", lang): described.loc[keys, t("measurements.col.device", lang)],
        t("measurements.col.metric", lang): described.loc[keys, t("measurements.col.metric", lang)],
        t("measurements.col.old_value", lang): before.loc[keys, "value"],
        t("measurements.col.new_value", lang): changed["value"],
        t("measurements.col.old_quality", lang): [_quality(q, lang) for q in before.loc[keys, "quality"]],
        t("measurements.col.new_quality", lang): [_quality(q, lang) for q in changed["quality"]],
    })
    st.subheader(t("measurements.batch_preview", lang, count=len(changed)))
    st.dataframe(preview, hide_index=True, width="stretch")


# -- delete by filter -------------------------------------------------------

def render_delete(snapshot: Snapshot, series: pd.DataFrame, user, tz: str, lang: str) -> None:
    selection = snapshot.selection
    st.caption(t("measurements.delete_help", lang, start=ui.format_local(selection.start, tz),
                 end=ui.format_local(selection.end, tz), timezone=tz, series=len(selection.series_ids)))
    if st.button(t("measurements.delete_preview", lang)):
        try:
            count = corrections.preview_delete(ui.get_database(), selection)
        except (ui.DatabaseUnavailable, CorrectionError) as error:
            ui.show_database_problem(error, lang)
        st.session_state[DELETE_PREVIEW_KEY] = (selection, count)

    preview = st.session_state.get(DELETE_PREVIEW_KEY)
    if not preview or preview[0] != selection:
        return
    count = preview[1]
    if count == 0:
        st.info(t("measurements.delete_none", lang))
        return

    st.warning(t("measurements.delete_count", lang, count=count))
    with st.form(f"delete_{snapshot.generation}"):
        typed = st.text_input(t("measurements.delete_type_count", lang, count=count), max_chars=20,
                              key=f"delete_{snapshot.generation}_typed")
        reason, comment = reason_inputs(f"delete_{snapshot.generation}", lang)
        submitted = st.form_submit_button(t("measurements.delete_confirm", lang, count=count), type="primary")
    if not submitted:
        return

    if typed.strip() != str(count):
        st.error(t("measurements.delete_mismatch", lang, typed=typed.strip()[:20], count=count))
        return
    try:
        deleted = corrections.delete(ui.get_database(), selection, expected_count=count, reason_code=reason,
                                     comment=comment, user=user.username)
    except CorrectionError as error:
        st.session_state.pop(DELETE_PREVIEW_KEY, None)
        st.error(error_message(error, series, lang, tz))
        return
    except ui.DatabaseUnavailable as error:
        ui.show_database_problem(error, lang)
    st.session_state.pop(DELETE_PREVIEW_KEY, None)
    st.session_state[CURSORS_KEY] = [None]
    after_write(snapshot, t("measurements.deleted", lang, count=deleted), lang)


def render_restore(snapshot: Snapshot, series: pd.DataFrame, user, tz: str, lang: str) -> None:
    """List the deleted readings of the filter and restore the picked ones with their old value and quality."""
    st.subheader(t("measurements.restore_heading", lang))
    try:
        deleted = corrections.deleted_readings(ui.get_database(), snapshot.selection)
    except (ui.DatabaseUnavailable, CorrectionError) as error:
        ui.show_panel_error("measurements.restore_heading", error, lang)
        return
    if deleted.empty:
        st.caption(t("measurements.restore_none", lang))
        return

    entries = deleted.set_index("audit_id")

    def label(audit_id: int) -> str:
        row = entries.loc[audit_id]
        value = "–" if pd.isna(row["old_value"]) else f"{row['old_value']:g}"
        return t("measurements.restore_option", lang, time=ui.format_local(row["ts"], tz),
                 name=reading_name(series, int(row["series_id"]), lang), value=value, user=row["changed_by"],
                 deleted_at=ui.format_local(row["changed_at"], tz))

    with st.form(f"restore_{snapshot.generation}"):
        picked = st.multiselect(t("measurements.restore_pick", lang, count=len(entries)), list(entries.index),
                                format_func=label, key=f"restore_{snapshot.generation}_picked")
        comment = st.text_area(t("measurements.comment", lang), key=f"restore_{snapshot.generation}_comment",
                               max_chars=2000)
        submitted = st.form_submit_button(t("measurements.restore_confirm", lang))
    if not submitted:
        return
    if not picked:
        st.error(t("measurements.restore_pick_first", lang))
        return

    try:
        restored = corrections.restore(ui.get_database(), [int(audit_id) for audit_id in picked], comment=comment,
                                       user=user.username)
    except CorrectionError as error:
        st.error(error_message(error, series, lang, tz))
        return
    except ui.DatabaseUnavailable as error:
        ui.show_database_problem(error, lang)
    after_write(snapshot, t("measurements.restored", lang, count=restored), lang)


# -- page -------------------------------------------------------------------

def render() -> None:
    lang = ui.language()
    user = session.require_page("measurements", lang)
    st.title(t("measurements.title", lang))
    show_flash()
    if st.session_state.pop(RELABEL_KEY, False) and SELECTED_KEY in st.session_state:
        st.session_state[SELECTED_KEY] = st.session_state[SELECTED_KEY]

    catalogue = ui.load_series_catalogue(lang)
    ui.relabel_widgets((STATION_KEY, DEVICES_KEY, METRICS_KEY, QUALITIES_KEY, SOURCE_KEY, SELECTED_KEY))
    series = pick_series(catalogue, lang)
    if series.empty:
        st.info(t("measurements.choose_series", lang))
        return
    if len(series) > MAX_SERIES:
        st.warning(t("measurements.too_many_series", lang, count=len(series), limit=MAX_SERIES))
        return

    selection = pick_filter(series, lang)
    if selection is None:
        return
    tz = series["timezone"].iloc[0]
    snapshot = current_snapshot(selection, lang)
    render_table(snapshot, series, tz, lang)

    single, batch, delete = st.tabs([t("measurements.tab_single", lang), t("measurements.tab_batch", lang),
                                     t("measurements.tab_delete", lang)])
    with single:
        render_single(snapshot, series, user, tz, lang)
    with batch:
        render_batch(snapshot, series, user, tz, lang)
    with delete:
        render_delete(snapshot, series, user, tz, lang)
        render_restore(snapshot, series, user, tz, lang)


render()

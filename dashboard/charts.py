"""Plotly figure and table of the station metrics page, built from reporting.get_metrics_* rows.

The functions take a metrics frame (one row per series and bucket, `bucket`
in UTC) and the selected rows of reporting.v_series, and call no Streamlit
element, so the page only renders what they return. Times are shown as
wall-clock times of one zone, `tz`: the station's, or the first picked
station's when the series come from several stations.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import hex_to_rgb, qualitative

from core.i18n import t
from dashboard import ui

# Expected distance between neighbouring buckets. A distance above
# GAP_FACTOR times this is drawn as a gap. The factor 1.5 tolerates the 23-
# and 25-hour local days at DST changes and small jitter in raw sample times.
BUCKET_STEP_S = {"hourly": 3600, "daily": 86400}
GAP_FACTOR = 1.5
# Min/max bands only make sense around an average. A summed bucket (energy)
# lies far above the range of its single readings.
BAND_AGG_KINDS = {"avg"}
PALETTE = qualitative.Plotly
BAND_OPACITY = 0.15
CHART_HEIGHT_PX = 520
VALUE_COLUMNS = ("value", "value_min", "value_max")

# Numeric tick labels at every zoom level, so plotly never prints English
# month names.
TICK_FORMAT_STOPS = [
    {"dtickrange": [None, 43_200_000], "value": "%m-%d %H:%M"},
    {"dtickrange": [43_200_000, "M1"], "value": "%Y-%m-%d"},
    {"dtickrange": ["M1", "M12"], "value": "%Y-%m"},
    {"dtickrange": ["M12", None], "value": "%Y"},
]
HOVER_TIME_FORMAT = "%Y-%m-%d %H:%M"


# -- data shaping -----------------------------------------------------------

def series_labels(selected: pd.DataFrame, lang: str) -> dict[int, str]:
    """Return "device · metric" per series_id, or "station · device · metric" when series of several stations are shown.

    The device code is added where labels still collide.
    """
    with_station = selected["station_code"].nunique() > 1
    labels = {}
    for row in selected.itertuples(index=False):
        names = row._asdict()
        parts = [ui.localized(names, "device_name", lang), ui.localized(names, "metric_name", lang)]
        if with_station:
            parts.insert(0, ui.localized(names, "station_name", lang))
        labels[int(row.series_id)] = " · ".join(parts)

    counts = pd.Series(list(labels.values())).value_counts()
    for row in selected.itertuples(index=False):
        if counts[labels[int(row.series_id)]] > 1:
            labels[int(row.series_id)] += f" [{row.device_code}]"
    return labels


def time_axis_title(tz: str, zones_differ: bool, lang: str) -> str:
    """Return the time axis title naming zone `tz`, with a note when the stations' zones differ."""
    title = t("metrics.time_axis", lang, timezone=tz)
    return t("metrics.zones_differ_suffix", lang, title=title) if zones_differ else title


def expected_step_s(granularity: str, series_row: pd.Series, buckets: pd.Series) -> float | None:
    """Return the expected seconds between neighbouring points of one series at `granularity`."""
    if granularity in BUCKET_STEP_S:
        return float(BUCKET_STEP_S[granularity])
    if pd.notna(series_row["sample_interval_s"]):
        return float(series_row["sample_interval_s"])

    # Series without a nominal interval: the typical distance of its samples.
    steps = buckets.sort_values().diff().dt.total_seconds().dropna()
    return float(steps.median()) if not steps.empty else None


def insert_gap_breaks(points: pd.DataFrame, step_s: float | None) -> pd.DataFrame:
    """Insert an empty row between neighbouring buckets further apart than GAP_FACTOR steps.

    Plotly joins every pair of neighbouring points; an empty value between
    them (with connectgaps off) breaks the line where data is missing.
    """
    points = points.sort_values("bucket").reset_index(drop=True)
    if step_s is None or len(points) < 2:
        return points

    distance = points["bucket"].diff()
    is_gap = distance.dt.total_seconds() > GAP_FACTOR * step_s
    if not is_gap.any():
        return points

    breaks = points.loc[is_gap, ["bucket"]].copy()
    breaks["bucket"] = points["bucket"].shift()[is_gap] + distance[is_gap] / 2
    for column in VALUE_COLUMNS:
        breaks[column] = float("nan")
    breaks["substituted_count"] = 0
    combined = pd.concat([points, breaks], ignore_index=True)
    return combined.sort_values("bucket").reset_index(drop=True)


def _as_list(values: pd.Series) -> list:
    # Plain lists keep the chart spec readable JSON, because plotly encodes
    # numpy arrays as base64. NaN becomes null, which plotly draws as a break.
    return [None if pd.isna(value) else float(value) for value in values]


def _local_strings(buckets: pd.Series, tz: str) -> list[str]:
    # Wall-clock strings in zone `tz`: plotly shows a date string
    # as written, so no browser zone can shift the axis.
    return ui.to_local(buckets, tz).dt.strftime("%Y-%m-%d %H:%M:%S").tolist()


def band_outline(points: pd.DataFrame, tz: str) -> tuple[list, list]:
    """Return x and y of closed min/max outlines, one per run of points without a gap.

    Each outline goes along the maxima and back along the minima. None
    separates the outlines, and plotly's fill="toself" fills each one on its
    own, whereas a "tonexty" fill between two lines would bridge the gaps.
    """
    has_band = points["value_min"].notna() & points["value_max"].notna()
    run_id = (~has_band).cumsum()
    band_x: list = []
    band_y: list = []
    for _, run in points[has_band].groupby(run_id[has_band]):
        times = _local_strings(run["bucket"], tz)
        band_x += times + times[::-1] + [None]
        band_y += _as_list(run["value_max"]) + _as_list(run["value_min"])[::-1] + [None]
    return band_x, band_y


def _rgba(color_hex: str, opacity: float) -> str:
    red, green, blue = hex_to_rgb(color_hex)
    return f"rgba({red}, {green}, {blue}, {opacity})"


# -- chart ------------------------------------------------------------------

def unit_axes(selected: pd.DataFrame, lang: str) -> dict[str, tuple[str, str]]:
    """Return {unit: (trace axis id, axis title)} with one y axis per unit in order of appearance."""
    axes: dict[str, tuple[str, str]] = {}
    for number, (unit, group) in enumerate(selected.groupby("unit", sort=False), start=1):
        names = list(dict.fromkeys(ui.localized(row, "metric_name", lang) for _, row in group.iterrows()))
        title = " / ".join(names) + (f" ({unit})" if unit else "")
        axes[unit] = ("y" if number == 1 else f"y{number}", title)
    return axes


def _axis_layout(number: int, title: str) -> dict:
    layout = {"title": {"text": title}, "zeroline": False}
    if number == 1:
        return layout

    # Axis 2 sits on the right edge. Further axes alternate sides and are
    # shifted outwards so their tick labels do not overlap.
    layout.update({"overlaying": "y", "showgrid": False, "tickmode": "auto"})
    if number == 2:
        layout.update({"side": "right"})
    else:
        layout.update({"side": "left" if number % 2 else "right", "anchor": "free", "autoshift": True})
    return layout


def add_series_traces(figure: go.Figure, points: pd.DataFrame, series_row: pd.Series, label: str,
                      color: str, axis_id: str, granularity: str, tz: str, lang: str,
                      corrections: pd.DataFrame | None = None) -> None:
    x_values = _local_strings(points["bucket"], tz)
    decimals = int(series_row["decimals"])
    unit = series_row["unit"]

    # The band goes first so the line is drawn on top of it.
    if granularity in BUCKET_STEP_S and series_row["agg_kind"] in BAND_AGG_KINDS:
        band_x, band_y = band_outline(points, tz)
        figure.add_trace(go.Scatter(
            x=band_x, y=band_y, yaxis=axis_id, name=t("metrics.band", lang, series=label), legendgroup=label,
            mode="lines", line={"width": 0}, fill="toself", fillcolor=_rgba(color, BAND_OPACITY),
            showlegend=False, hoverinfo="skip",
        ))

    figure.add_trace(go.Scatter(
        x=x_values, y=_as_list(points["value"]), yaxis=axis_id, name=label, legendgroup=label,
        mode="lines+markers" if granularity == "daily" else "lines",
        line={"color": color, "width": 1.8}, connectgaps=False,
        hovertemplate=f"%{{y:.{decimals}f}} {unit}".rstrip(),
    ))

    add_correction_markers(figure, points, corrections, label, color, axis_id, decimals, unit, tz, lang)


def add_correction_markers(figure: go.Figure, points: pd.DataFrame, corrections: pd.DataFrame | None, label: str,
                           color: str, axis_id: str, decimals: int, unit: str, tz: str, lang: str) -> None:
    """Mark corrected readings: each one with its first ingested value on hover, else each bucket holding some.

    `corrections` are this series' rows of reporting.get_corrections; they
    are given for raw data, where a point is one reading.
    """
    value_format = f"%{{y:.{decimals}f}} {unit}".rstrip()
    name = t("metrics.corrected", lang, series=label)
    marker = {"symbol": "x", "size": 10, "color": color, "line": {"width": 2, "color": color}}

    if corrections is not None and not corrections.empty:
        originals = [t("metrics.original_missing", lang) if pd.isna(value) else f"{value:.{decimals}f} {unit}".rstrip()
                     for value in corrections["original_value"]]
        figure.add_trace(go.Scatter(
            x=_local_strings(corrections["ts"], tz), y=_as_list(corrections["value"]), yaxis=axis_id, name=name,
            legendgroup=label, mode="markers", marker=marker,
            customdata=list(zip(originals, corrections["updated_by"].fillna(""))),
            hovertemplate=t("metrics.corrected_hover", lang, value=value_format, original="%{customdata[0]}",
                            user="%{customdata[1]}"),
        ))
        return

    corrected = points[points["substituted_count"] > 0]
    if not corrected.empty:
        figure.add_trace(go.Scatter(
            x=_local_strings(corrected["bucket"], tz), y=_as_list(corrected["value"]), yaxis=axis_id, name=name,
            legendgroup=label, mode="markers", marker=marker, customdata=_as_list(corrected["substituted_count"]),
            hovertemplate=t("metrics.corrected_bucket_hover", lang, value=value_format, count="%{customdata}"),
        ))


def build_figure(data: pd.DataFrame, selected: pd.DataFrame, granularity: str, tz: str, lang: str,
                 zones_differ: bool = False, corrections: pd.DataFrame | None = None) -> go.Figure:
    """Build the chart: one line per series, min/max bands for bucketed data, one y axis per unit.

    `corrections` (reporting.get_corrections) mark corrected raw readings
    with their original values; without them, buckets holding corrections
    are marked.

    `zones_differ` is True when some series belong to stations outside zone
    `tz`, and the time axis title then mentions it.
    """
    figure = go.Figure()
    labels = series_labels(selected, lang)
    axes = unit_axes(selected, lang)

    for index, series_row in enumerate(row for _, row in selected.iterrows()):
        series_id = int(series_row["series_id"])
        points = data[data["series_id"] == series_id]
        if points.empty:
            continue
        step_s = expected_step_s(granularity, series_row, points["bucket"])
        points = insert_gap_breaks(points, step_s)
        color = PALETTE[index % len(PALETTE)]
        axis_id = axes[series_row["unit"]][0]
        series_corrections = None
        if corrections is not None and granularity == "raw":
            series_corrections = corrections[corrections["series_id"] == series_id]
        add_series_traces(figure, points, series_row, labels[series_id], color, axis_id, granularity, tz, lang,
                          series_corrections)

    layout_axes = {}
    for number, (_unit, (axis_id, title)) in enumerate(axes.items(), start=1):
        layout_axes["yaxis" if number == 1 else f"yaxis{number}"] = _axis_layout(number, title)

    figure.update_layout(
        height=CHART_HEIGHT_PX,
        hovermode="x unified",
        showlegend=True,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        margin={"l": 60, "r": 60, "t": 40, "b": 50},
        xaxis={
            "type": "date",
            "title": {"text": time_axis_title(tz, zones_differ, lang)},
            "tickformatstops": TICK_FORMAT_STOPS,
            "hoverformat": HOVER_TIME_FORMAT,
        },
        **layout_axes,
    )
    return figure


# -- table ------------------------------------------------------------------

def build_table(data: pd.DataFrame, selected: pd.DataFrame, tz: str, lang: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """Return the values as one row per time and one column per series, rounded to each metric's decimals.

    The second item maps each value column to its decimals for display.
    """
    labels = series_labels(selected, lang)
    time_column = t("metrics.time_column", lang, timezone=tz)
    wide = data.pivot_table(index="bucket", columns="series_id", values="value", aggfunc="first", dropna=False)
    wide = wide.sort_index()

    table = pd.DataFrame({time_column: ui.to_local(wide.index.to_series(), tz).dt.strftime(ui.TIME_FORMAT).to_numpy()})
    decimals_by_column: dict[str, int] = {}
    for _, series_row in selected.iterrows():
        series_id = int(series_row["series_id"])
        unit = series_row["unit"]
        column = f"{labels[series_id]} ({unit})" if unit else labels[series_id]
        decimals = int(series_row["decimals"])
        values = wide[series_id] if series_id in wide.columns else pd.Series(float("nan"), index=wide.index)
        table[column] = values.round(decimals).to_numpy()
        decimals_by_column[column] = decimals
    return table, decimals_by_column

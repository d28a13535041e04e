"""Overview page: one card per station with the age of its last reading and today's readings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.i18n import t
from core.settings import get_settings
from dashboard import session, ui

CARDS_PER_ROW = 3


def stale_after_s() -> int:
    return get_settings().overview_stale_after_min * 60


def is_stale(age_s: float | None) -> bool:
    return age_s is None or pd.isna(age_s) or age_s > stale_after_s()


def render_banner(overview: pd.DataFrame, lang: str) -> None:
    stale_count = int(sum(is_stale(age) for age in overview["last_sample_age_s"]))
    if stale_count:
        st.warning(t("overview.stale_banner", lang, count=stale_count, minutes=stale_after_s() // 60))
    else:
        st.success(t("overview.all_reporting", lang, count=len(overview)))


def render_card(station: pd.Series, lang: str) -> None:
    tz = station["timezone"]
    age_s = station["last_sample_age_s"]
    name = ui.localized(station, "station_name", lang)

    with st.container(border=True):
        st.markdown(f"**{ui.escape_markdown(name)}** `{station['station_code']}`")
        if pd.isna(station["last_sample_at"]):
            st.badge(t("overview.status_no_data", lang), color="gray")
        elif is_stale(age_s):
            st.badge(t("overview.status_stale", lang), color="red")
        else:
            st.badge(t("overview.status_ok", lang), color="green")

        # Stacked, not side by side: an age such as "733 天前" does not fit half a card.
        st.metric(
            t("overview.last_sample", lang), ui.format_age(None if pd.isna(age_s) else age_s, lang),
            help=t("overview.last_sample_help", lang, time=ui.format_local(station["last_sample_at"], tz), timezone=tz),
        )
        st.metric(
            t("overview.samples_today", lang),
            t("overview.samples_today_value", lang, count=int(station["samples_today"]),
              expected=int(station["expected_today"])),
        )
        st.caption(t("overview.details", lang, timezone=tz, series=int(station["series_count"]),
                     bad=int(station["bad_today"])))
        st.page_link(ui.page_file("metrics"), label=t("overview.open_metrics", lang),
                     query_params={"station": station["station_code"], "lang": lang})


def render() -> None:
    lang = ui.language()
    session.require_page("overview", lang)
    st.title(t("overview.title", lang))
    try:
        overview = ui.query("get_station_overview")
    except (ui.DatabaseUnavailable, *ui.QUERY_ERRORS) as error:
        ui.show_database_problem(error, lang)

    if overview.empty:
        st.info(t("db.no_stations", lang))
        return

    render_banner(overview, lang)
    rows = [row for _, row in overview.iterrows()]
    for first in range(0, len(rows), CARDS_PER_ROW):
        columns = st.columns(CARDS_PER_ROW)
        for column, station in zip(columns, rows[first:first + CARDS_PER_ROW]):
            with column:
                render_card(station, lang)


render()

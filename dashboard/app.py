"""Streamlit entry point: page setup, the language switch and the list of every page.

Run with `python -m dashboard run`, or `streamlit run dashboard/app.py` with
DATABASE_URL set.
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run` puts only this file's folder on sys.path; the pages import
# `core` and `dashboard` from the project root.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

import streamlit as st  # noqa: E402

from core.i18n import t  # noqa: E402
from dashboard import ui  # noqa: E402


def build_pages(lang: str) -> list[st.Page]:
    """Return every page of the dashboard, titled in `lang`; the first is the default page."""
    return [
        st.Page(ui.page_file("overview"), title=t("nav.overview", lang), url_path="overview", default=True),
        st.Page(ui.page_file("metrics"), title=t("nav.metrics", lang), url_path="metrics"),
    ]


def main() -> None:
    ui.configure_logging()
    lang = ui.language()
    st.set_page_config(page_icon=ui.PAGE_ICON, layout="wide")

    page = st.navigation(build_pages(lang))
    lang = ui.render_language_switch()
    page.run()


main()

"""Streamlit entry point: page setup, the language switch, login and the pages each role may use.

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
from dashboard import session, ui  # noqa: E402

def build_pages(lang: str, role: str | None) -> list[st.Page]:
    """Return the pages `role` may use, titled in `lang`; the first is the default page.

    Before login (`role` None) every page is registered, so that the page a
    link names opens right after login; the menu is hidden and the login
    form runs instead of the page.
    """
    names = session.PAGES if role is None else session.pages_for(role)
    return [
        st.Page(ui.page_file(name), title=t(f"nav.{name}", lang), url_path=name, default=index == 0)
        for index, name in enumerate(names)
    ]


def main() -> None:
    ui.configure_logging()
    lang = ui.language()
    st.set_page_config(page_icon=ui.PAGE_ICON, layout="wide")

    user = session.current_user()
    role = user.role if user else None
    page = st.navigation(build_pages(lang, role), position="sidebar" if user else "hidden")
    lang = ui.render_language_switch()
    if user is None:
        session.render_login(lang)
        return

    session.render_account_box(user, lang)
    session.warn_about_linked_page(user, lang)
    page.run()


main()

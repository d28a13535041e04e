"""Helpers for page tests: a signed-in AppTest session without going through the login form."""

from __future__ import annotations

import time

from streamlit.testing.v1 import AppTest

from core import auth
from dashboard import session

APP_FILE = "../dashboard/app.py"
RUN_TIMEOUT_S = 60


def sign_in(at: AppTest, role: str = "viewer", username: str | None = None) -> AppTest:
    """Put a signed-in user of `role` into the session, as a successful login does."""
    name = username or f"test-{role}"
    at.session_state[session.USER_KEY] = auth.User(0, name, name, role)
    at.session_state[session.LAST_ACTIVITY_KEY] = time.monotonic()
    # Marks the account as just checked, so the made-up user is not looked up in the database.
    at.session_state[session.CHECKED_KEY] = time.monotonic()
    return at


def signed_in_app(role: str = "viewer", **query_params) -> AppTest:
    """An AppTest of the whole app with `query_params` in the URL and a user of `role` signed in, not yet run."""
    at = AppTest.from_file(APP_FILE, default_timeout=RUN_TIMEOUT_S)
    at.query_params.update(query_params)
    return sign_in(at, role)

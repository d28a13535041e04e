"""docs/API_FUNCTIONS_REFERENCE.md matches the catalogue of a freshly migrated database."""

from __future__ import annotations

from core.apidoc import render_reference
from core.settings import PROJECT_ROOT

REFERENCE = PROJECT_ROOT / "docs" / "API_FUNCTIONS_REFERENCE.md"


def test_reference_is_current(db_url):
    expected = render_reference(db_url)

    assert REFERENCE.read_text(encoding="utf-8") == expected, "run: python -m dashboard docs"


def test_reference_lists_reporting_functions(db_url):
    text = render_reference(db_url)

    assert "### `reporting.get_metrics_auto(p_series_ids integer[], p_from timestamp with time zone" in text
    assert "- Volatility: STABLE" in text
    assert "- EXECUTE granted to: pumpdash_read" in text

"""Message catalogues: same keys and parameters in every language, and every key the code uses exists."""

from __future__ import annotations

import re

import pytest

from core.i18n import DEFAULT_LANGUAGE, LANGUAGES, load_catalogue, normalize_language, t, template_fields
from core.reporting import AUTO, GRANULARITIES
from core.settings import PROJECT_ROOT

# A literal key passed to a function that looks messages up, such as
# t("metrics.title", lang), say(settings, "cli.migrated", ...) or
# LaunchError("cli.error.web_port_busy", ...). Log event names such as
# "db.exec.ok" are not catalogue keys and are not matched.
KEY_LITERAL = re.compile(
    r"""\b(?:t|say|LaunchError|DatabaseUnavailable|show_panel_error)\(\s*(?:[a-z_]+,\s*)?["']([a-z][a-zA-Z0-9_.-]*\.[a-zA-Z0-9_.-]+)["']"""
)
SOURCE_FOLDERS = ("core", "dashboard", "pages")


def _code_keys() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in SOURCE_FOLDERS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            for key in KEY_LITERAL.findall(path.read_text(encoding="utf-8")):
                found.setdefault(key, str(path.relative_to(PROJECT_ROOT)))
    return found


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_has_every_key_of_the_others(lang):
    """A key defined in any catalogue must be defined in this one too."""
    keys = set(load_catalogue(lang))
    for other in LANGUAGES:
        missing = sorted(set(load_catalogue(other)) - keys)
        assert missing == [], f"{lang}.yaml lacks keys that {other}.yaml defines: {missing}"


def test_templates_have_same_parameters():
    """Each key's {parameters} are the same in every language, so a call fills both alike."""
    reference = load_catalogue(DEFAULT_LANGUAGE)
    for lang in LANGUAGES:
        catalogue = load_catalogue(lang)
        differing = {
            key: (sorted(template_fields(reference[key])), sorted(template_fields(catalogue[key])))
            for key in reference.keys() & catalogue.keys()
            if template_fields(reference[key]) != template_fields(catalogue[key])
        }
        assert differing == {}, f"parameters differ between {DEFAULT_LANGUAGE} and {lang}: {differing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_catalogue_values_not_blank(lang):
    blank = [key for key, text in load_catalogue(lang).items() if not text.strip()]
    assert blank == []


def test_keys_used_in_code_exist():
    """Every literal key in core/, dashboard/ and pages/ is in the catalogues."""
    catalogue = load_catalogue(DEFAULT_LANGUAGE)
    missing = {key: path for key, path in _code_keys().items() if key not in catalogue}
    assert missing == {}


def test_granularity_names_exist():
    """The metrics page names every granularity through `granularity.<name>`."""
    catalogue = load_catalogue(DEFAULT_LANGUAGE)
    for name in (AUTO, *GRANULARITIES):
        assert f"granularity.{name}" in catalogue


def test_t_fills_parameters_in_each_language():
    assert t("db.panel_failed", "zh-CN", panel="曲线", detail="超时") == "曲线暂时无法显示：超时"
    assert t("db.panel_failed", "en", panel="The chart", detail="timeout") == "The chart cannot be shown right now: timeout"


def test_t_defaults_to_chinese():
    assert t("db.no_stations") == "数据库中还没有泵站：请运行 python -m dashboard demo 或导入数据"
    assert t("db.no_stations", "fr") == t("db.no_stations", "zh-CN")


def test_t_keeps_missing_parameter_visible():
    assert t("time.age_minutes", "en") == "{count} min ago"


def test_t_returns_unknown_key_itself():
    assert t("metrics.no_such_message", "en") == "metrics.no_such_message"


@pytest.mark.parametrize(("tag", "expected"), [
    ("zh", "zh-CN"), ("zh_CN", "zh-CN"), ("zh-Hans", "zh-CN"), ("en-US", "en"), ("EN", "en"), ("", "zh-CN"),
    (None, "zh-CN"), ("de", "zh-CN"),
])
def test_normalize_language(tag, expected):
    assert normalize_language(tag) == expected

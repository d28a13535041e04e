"""Message catalogues and `t(key, lang, **params)` lookups for every user-visible text.

Each language has one YAML catalogue under `core/locales/`, nested by area,
and a key is the dotted path such as `metrics.title` or `db.unreachable`.
Templates use `str.format` fields, and both catalogues must define the same
keys with the same fields (tests/test_i18n.py checks this).
"""

from __future__ import annotations

import logging
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.logs import fields

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


class _KeepMissingFields(dict):
    """Format mapping that leaves an unknown `{field}` in place instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def normalize_language(value: str | None) -> str:
    """Map a language tag such as `zh`, `zh_CN`, `en-US` to a supported language, else the default."""
    if not value:
        return DEFAULT_LANGUAGE

    tag = value.strip().replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for name, value in tree.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = str(value)
    return flat


@lru_cache(maxsize=len(LANGUAGES))
def load_catalogue(lang: str) -> dict[str, str]:
    """Read the catalogue of `lang` as a flat {dotted key: template} mapping."""
    if lang not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}: expected one of {', '.join(LANGUAGES)}")

    path = LOCALES_DIR / f"{lang}.yaml"
    with path.open(encoding="utf-8") as handle:
        tree = yaml.safe_load(handle) or {}
    return _flatten(tree)


def template_fields(template: str) -> set[str]:
    """Return the names of the `{field}` placeholders in a template, without format specs."""
    names = set()
    for _literal, field_name, _spec, _conversion in string.Formatter().parse(template):
        if field_name:
            names.add(field_name.split(".")[0].split("[")[0])
    return names


def t(key: str, lang: str = DEFAULT_LANGUAGE, **params: Any) -> str:
    """Return the message `key` in `lang` with `params` filled in.

    A key missing from `lang` falls back to the default language and then to
    the key itself, and a missing parameter stays as `{name}`, so a gap in a
    catalogue never breaks a page. Both cases are logged as warnings.
    """
    language = normalize_language(lang)
    template = load_catalogue(language).get(key)
    if template is None:
        log.warning("i18n.missing_key", extra=fields(key=key, lang=language))
        template = load_catalogue(DEFAULT_LANGUAGE).get(key, key)

    missing = template_fields(template) - params.keys()
    if missing:
        log.warning("i18n.missing_params", extra=fields(key=key, params=sorted(missing)))
    return template.format_map(_KeepMissingFields(params))

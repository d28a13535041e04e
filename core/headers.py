"""Header text of export files: normalised for matching, with a unit glued to the name split off.

Chinese SCADA and spreadsheet exports write the same header in many ways:
full-width brackets, ideographic spaces, tabs or line breaks inside a cell,
`m³` or `m3`. NFKC folds the compatibility characters (`（` to `(`, U+3000
to a space, `³` to `3`), and matching also ignores whitespace and case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

WHITESPACE = re.compile(r"\s+")
# A unit in brackets at the end of a header: 出口压力(MPa), Flow [m3/h], 有功功率【kW】.
GLUED_UNIT = re.compile(r"^(?P<name>.*?)\s*(?:\((?P<round>[^()]+)\)|\[(?P<square>[^\[\]]+)\]|【(?P<lenticular>[^【】]+)】)$")


def normalise_header(cell: Any) -> str:
    """Return the cell's text in NFKC with each run of whitespace as one space; a byte order mark is dropped."""
    if cell is None:
        return ""
    text = unicodedata.normalize("NFKC", str(cell)).replace("\ufeff", "")
    return WHITESPACE.sub(" ", text).strip()


def header_key(text: str) -> str:
    """Return the form in which a profile's column name and a file's header are compared."""
    return WHITESPACE.sub("", normalise_header(text)).casefold()


def split_unit(header: str) -> tuple[str, str | None]:
    """Split a normalised header into its name and the unit in brackets at its end (None when there is none)."""
    match = GLUED_UNIT.match(header)
    if match is None or not match.group("name"):
        return header, None
    unit = match.group("round") or match.group("square") or match.group("lenticular")
    return match.group("name"), unit.strip()


def join_header_rows(rows: Sequence[Sequence[Any]]) -> list[str]:
    """Join several header rows into one name per column, the upper levels first.

    A merged cell keeps its text in its first cell only, so an empty cell in
    any row but the last takes the text to its left in the same row. Empty
    levels, and a level that repeats the one above, are left out.
    """
    width = max((len(row) for row in rows), default=0)
    levels = [[normalise_header(row[index]) if index < len(row) else "" for index in range(width)] for row in rows]
    for level in levels[:-1]:
        for index in range(1, width):
            if not level[index]:
                level[index] = level[index - 1]

    joined = []
    for index in range(width):
        parts: list[str] = []
        for level in levels:
            text = level[index]
            if text and (not parts or parts[-1] != text):
                parts.append(text)
        joined.append(" ".join(parts))
    return joined

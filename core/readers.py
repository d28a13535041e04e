"""File readers: open CSV and XLSX exports as numbered rows and turn their cells into times and value texts.

Rows are streamed: a CSV is read line by line and an XLSX sheet through
openpyxl's read-only mode, so memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from core.profiles import CSV_DELIMITERS, IngestError, Profile

HASH_CHUNK_BYTES = 1 << 20

@dataclass
class Table:
    headers: list[str]
    units: list[str] | None
    rows: Iterator[tuple[int, Sequence[Any]]]
    rows_estimate: int | None


def cell_text(cell: Any) -> str:
    return "" if cell is None else str(cell).strip()


def is_blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def scan_file(path: Path) -> tuple[int, str, int, bool]:
    """Size in bytes, SHA-256, newline count and whether the bytes are valid UTF-8, in one pass."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    size_bytes, newlines, is_utf8 = 0, 0, True
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size_bytes += len(chunk)
            newlines += chunk.count(b"\n")
            if is_utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    is_utf8 = False
    return size_bytes, digest.hexdigest(), newlines, is_utf8


def read_header_rows(numbered: Iterator[tuple[int, Sequence[Any]]], profile: Profile,
                      path: Path) -> tuple[list[str], list[str] | None]:
    headers: list[str] | None = None
    units: list[str] | None = None
    for line_no, cells in numbered:
        if line_no == profile.header_row:
            headers = [cell_text(cell) for cell in cells]
        if line_no == profile.unit_row:
            units = [cell_text(cell) for cell in cells]
        if line_no >= profile.first_data_row - 1:
            break
    if headers is None or (profile.unit_row is not None and units is None):
        raise IngestError(f"{path.name} ends before row {profile.first_data_row - 1}, so header_row "
                          f"{profile.header_row} or unit_row {profile.unit_row} is missing; "
                          f"check the file or the rows set in profile {profile.name!r}")
    return headers, units


@contextmanager
def open_xlsx(path: Path, profile: Profile) -> Iterator[Table]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError) as error:
        raise IngestError(f"cannot read {path.name} as an XLSX workbook ({error}); save it from Excel as .xlsx, "
                          f"or import it with a csv profile instead of {profile.name!r}",
                          "ingest.error.not_xlsx", file=path.name, profile=profile.name) from error
    try:
        if profile.sheet is None:
            sheet = workbook.worksheets[0]
        elif profile.sheet in workbook.sheetnames:
            sheet = workbook[profile.sheet]
        else:
            raise IngestError(f"sheet {profile.sheet!r} not found in {path.name}; its sheets are "
                              f"{', '.join(repr(name) for name in workbook.sheetnames)}. "
                              f"Set sheet: in profile {profile.name!r}",
                              "ingest.error.sheet_not_found", sheet=profile.sheet, file=path.name,
                              sheets=", ".join(workbook.sheetnames), profile=profile.name)
        numbered = enumerate(sheet.iter_rows(values_only=True), start=1)
        headers, units = read_header_rows(numbered, profile, path)
        rows_estimate = sheet.max_row - profile.first_data_row + 1 if sheet.max_row else None
        yield Table(headers, units, numbered, rows_estimate)
    finally:
        workbook.close()


def detect_delimiter(path: Path, encoding: str, header_row: int) -> str:
    with path.open(newline="", encoding=encoding) as handle:
        line = ""
        for _ in range(header_row):
            line = handle.readline()
    return max(CSV_DELIMITERS, key=line.count)


@contextmanager
def open_csv(path: Path, profile: Profile, encoding: str, delimiter: str) -> Iterator[Table]:
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        numbered = ((reader.line_num, record) for record in reader)
        try:
            headers, units = read_header_rows(numbered, profile, path)
            yield Table(headers, units, numbered, None)
        except UnicodeDecodeError as error:
            raise IngestError(f"{path.name} near line {reader.line_num + 1} is not valid {encoding} ({error.reason}); "
                              f"set encoding: gb18030 or auto in profile {profile.name!r}",
                              "ingest.error.encoding", file=path.name, line=reader.line_num + 1, encoding=encoding,
                              profile=profile.name) from error
        except csv.Error as error:
            raise IngestError(f"{path.name} line {reader.line_num} is not valid CSV ({error}); "
                              "fix the quoting in the file or the delimiter in the profile") from error


def parse_time(cell: Any, profile: Profile, file_name: str, line_no: int) -> datetime | None:
    """Parse the time cell of a file row into a naive (station-local) or aware datetime, or None when empty."""
    if isinstance(cell, datetime):
        return cell
    if isinstance(cell, date):
        return datetime(cell.year, cell.month, cell.day)
    text = cell_text(cell)
    if not text:
        return None
    if isinstance(cell, (int, float)):
        raise IngestError(f"{file_name} line {line_no}: time cell {text!r} in column {profile.time_column!r} "
                          "is a number, not a date; format the column as date and time in the workbook",
                          "ingest.error.time_is_number", file=file_name, line=line_no, value=text,
                          column=profile.time_column)
    try:
        return datetime.strptime(text, profile.time_format) if profile.time_format else datetime.fromisoformat(text)
    except ValueError:
        expected = f"time_format {profile.time_format!r}" if profile.time_format else "ISO 8601 (no time_format set)"
        raise IngestError(f"{file_name} line {line_no}: time {text!r} in column {profile.time_column!r} "
                          f"does not match {expected} of profile {profile.name!r}; fix the cell, or set "
                          "time_format in configs/ingest.yaml with Python strptime codes such as '%d/%m/%y %H'",
                          "ingest.error.bad_time", file=file_name, line=line_no, value=text,
                          column=profile.time_column, expected=profile.time_format or "ISO 8601",
                          profile=profile.name) from None


def value_text(cell: Any, decimal_comma: bool) -> str | None:
    """Cell as text for staging; the database decides whether it is a valid number."""
    if cell is None:
        return None
    if isinstance(cell, bool):
        return "1" if cell else "0"
    if isinstance(cell, float):
        return repr(cell)
    if isinstance(cell, int):
        return str(cell)
    text = str(cell).strip()
    return text.replace(",", ".") if decimal_comma else text


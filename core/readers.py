"""File readers: open CSV and XLSX exports as numbered rows below their header and unit rows.

Rows are streamed: a CSV is read record by record and an XLSX sheet through
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
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils.datetime import WINDOWS_EPOCH
from openpyxl.utils.exceptions import InvalidFileException

from core.headers import join_header_rows, normalise_header
from core.profiles import CSV_DELIMITERS, IngestError, Profile

HASH_CHUNK_BYTES = 1 << 20
# Bytes looked at to tell UTF-16 without a byte order mark from other encodings.
SNIFF_BYTES = 4096
# Exceptions that openpyxl raises for a file that is not a readable XLSX workbook.
XLSX_OPEN_ERRORS = (zipfile.BadZipFile, InvalidFileException, KeyError, OSError)


@dataclass
class Table:
    """A file opened below its header: joined, normalised headers, the unit row and the data rows.

    `rows` yields (line number, cells); a CSV record that spans several lines
    is numbered by its first line. `epoch` is the origin of Excel serial
    dates (1899-12-30, or 1904-01-01 for workbooks in the 1904 date system).
    """

    headers: list[str]
    units: list[str] | None
    rows: Iterator[tuple[int, Sequence[Any]]]
    rows_estimate: int | None
    epoch: datetime = WINDOWS_EPOCH


def is_blank(cells: Sequence[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def scan_file(path: Path) -> tuple[int, str, int, bool]:
    """Return size in bytes, SHA-256, newline count and whether the bytes are valid UTF-8, in one pass."""
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


def detect_encoding(path: Path, is_utf8: bool) -> str:
    """Pick the encoding of a CSV from its byte order mark, else UTF-8 when the bytes are valid UTF-8, else GB18030.

    GB18030 is a superset of GBK and GB2312, so it also reads their files.
    Excel's "Unicode text" export is UTF-16 with a byte order mark. Without
    one, UTF-16 shows as NUL bytes in every other position of Latin text.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    even_nuls, odd_nuls = head[0::2].count(0), head[1::2].count(0)
    if len(head) >= 4 and max(even_nuls, odd_nuls) * 4 >= len(head):
        return "utf-16-le" if odd_nuls > even_nuls else "utf-16-be"
    return "utf-8-sig" if is_utf8 else "gb18030"


def read_header_rows(numbered: Iterator[tuple[int, Sequence[Any]]], profile: Profile,
                     path: Path) -> tuple[list[str], list[str] | None]:
    """Consume the rows up to the last header or unit row; return the joined headers and the units."""
    header_rows: list[Sequence[Any]] = []
    units: list[str] | None = None
    for row_no, cells in numbered:
        if profile.header_row <= row_no <= profile.last_header_row:
            header_rows.append(cells)
        if row_no == profile.unit_row:
            units = [normalise_header(cell) for cell in cells]
        if row_no >= profile.first_data_row - 1:
            break
    if len(header_rows) < profile.header_rows or (profile.unit_row is not None and units is None):
        raise IngestError(f"{path.name} ends before row {profile.first_data_row - 1}, so header_row "
                          f"{profile.header_row} or unit_row {profile.unit_row} is missing; "
                          f"check the file or the rows set in profile {profile.name!r}")
    return join_header_rows(header_rows), units


@contextmanager
def open_xlsx(path: Path, profile: Profile) -> Iterator[Table]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except XLSX_OPEN_ERRORS as error:
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
        yield Table(headers, units, numbered, rows_estimate, workbook.epoch)
    finally:
        workbook.close()


def detect_delimiter(path: Path, encoding: str, header_row: int) -> str:
    with path.open(newline="", encoding=encoding) as handle:
        line = ""
        for _ in range(header_row):
            line = handle.readline()
    return delimiter_of(line)


def delimiter_of(line: str) -> str:
    """Return the supported CSV delimiter that occurs most often in `line`; a comma when none occurs."""
    return max(CSV_DELIMITERS, key=line.count)


def _numbered_records(reader: Any) -> Iterator[tuple[int, int, list[str]]]:
    """Yield (record number, first line, cells) of each CSV record; a quoted line break makes a record span lines."""
    record_no = 0
    while True:
        first_line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        record_no += 1
        yield record_no, first_line, record


@contextmanager
def open_csv(path: Path, profile: Profile, encoding: str, delimiter: str) -> Iterator[Table]:
    with path.open(newline="", encoding=encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        records = _numbered_records(reader)
        try:
            # Header and unit rows are counted in records, so a header cell
            # with a line break does not shift them; data rows get file lines.
            headers, units = read_header_rows(((record_no, cells) for record_no, _, cells in records), profile, path)
            yield Table(headers, units, ((first_line, cells) for _, first_line, cells in records), None)
        except UnicodeDecodeError as error:
            raise IngestError(f"{path.name} near line {reader.line_num + 1} is not valid {encoding} ({error.reason}); "
                              f"set encoding: gb18030, utf-16 or auto in profile {profile.name!r}",
                              "ingest.error.encoding", file=path.name, line=reader.line_num + 1, encoding=encoding,
                              profile=profile.name) from error
        except csv.Error as error:
            raise IngestError(f"{path.name} line {reader.line_num} is not valid CSV ({error}); "
                              "fix the quoting in the file or the delimiter in the profile") from error

"""Sniffing: find how an export that no profile describes is laid out, from its first rows.

The rows are read the way the importer reads them (core/readers.py): the
same encoding detection, delimiter choice and read-only workbook, so a
profile built from the result reads the file alike. Only the first rows are
read, whatever the file size.

Known limits: when the date and the clock time are in two columns, one of
them is taken as the time column. A header spread over several rows and a
long layout (tag, time, value) are not recognised either. Sniffing is meant
for wide files with one header row.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Literal, Sequence

import openpyxl

from core.cells import cell_at
from core.headers import header_key, normalise_header, split_unit
from core.logs import fields
from core.profiles import CSV_DELIMITERS, IngestError
from core.readers import XLSX_OPEN_ERRORS, delimiter_of, detect_encoding, is_blank, scan_file
from core.staging import CSV_SUFFIXES, XLSX_SUFFIXES, check_is_file, check_not_workbook

log = logging.getLogger(__name__)

# Title lines above the header: a row with at most one filled cell, such as
# "1号泵站运行日报" or Excel's "sep=;" hint. Sniffing looks for at most this many.
MAX_TITLE_ROWS = 5
# Data rows whose cells decide the time column, time format and decimal mark.
SNIFF_DATA_ROWS = 50
# Data rows kept as text for the preview table.
SAMPLE_ROWS = 10

# Header words of a time column, compared with header_key (no spaces, case-folded),
# so "Time stamp", "DATETIME" and "采集时间" all contain one.
TIME_WORDS = ("时间", "日期", "时刻", "time", "date")
TIME_KEYS = frozenset({"ts"})

ISO_8601 = None
EXCEL_SERIAL = "excel"
# Text time formats, tried in this order; the first that reads every sample
# wins. ISO 8601 also reads "2024-05-01 08:00". "%Y/%m/%d %H:%M:%S" also
# reads figures without leading zeros, such as 2024/1/5 3:04:05.
TIME_FORMATS: tuple[str | None, ...] = (
    ISO_8601,
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%m/%y %H:%M",
    "%m/%d/%y %H:%M",
    "%d/%m/%y %H",
    "%m/%d/%y %H",
    EXCEL_SERIAL,
)
# A day-first format is preferred. When its month-first twin also reads every
# sample, because no day is above 12, the choice is flagged as ambiguous.
MONTH_FIRST_TWIN = {
    "%d/%m/%Y %H:%M:%S": "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M": "%m/%d/%Y %H:%M",
    "%d/%m/%y %H:%M": "%m/%d/%y %H:%M",
    "%d/%m/%y %H": "%m/%d/%y %H",
}
# Excel serial days read as times only from 1954-10-03 to 2119-01-10, so that
# most columns of readings are not taken for dates.
EXCEL_SERIAL_DAYS = (20_000.0, 80_000.0)

# Unit symbols and words, case-folded after NFKC (so m³ is m3 and ℃ is °c).
# A unit-row cell is split at "/", "·", "*", "^" and spaces, and every part
# must be one of these or a number: "m3/15 min", "EUR/kWh", "立方米/小时".
UNIT_WORDS = frozenset({
    "m", "m2", "m3", "mm", "cm", "km", "l", "ml", "s", "sec", "min", "h", "hr", "d",
    "pa", "kpa", "mpa", "bar", "mbar", "psi", "mh2o", "mwc",
    "w", "kw", "mw", "wh", "kwh", "mwh", "va", "kva", "var", "kvar", "v", "kv", "a", "ma",
    "hz", "rpm", "r", "%", "°c", "degc", "k", "eur", "c", "ct", "cny", "rmb", "usd",
    "g", "kg", "t", "mg", "ppm", "ntu", "ph",
    "米", "毫米", "厘米", "立方米", "方", "升", "秒", "分", "分钟", "时", "小时", "天",
    "帕", "千帕", "兆帕", "瓦", "千瓦", "千瓦时", "度", "赫兹", "转", "吨", "元",
})
UNIT_SEPARATORS = re.compile(r"[/·*^\s]+")
MAX_UNIT_CHARS = 16

DECIMAL_COMMA_NUMBER = re.compile(r"^[+-]?\d+,\d+$")
DECIMAL_POINT_NUMBER = re.compile(r"^[+-]?\d+\.\d+$")


@dataclass(frozen=True)
class FileLayout:
    """Layout of a file as sniffed: how to read it, its headers and units, and the first data rows as text.

    Row numbers count from 1, as in a profile. For an XLSX file, encoding,
    delimiter and decimal are the profile defaults, which workbooks do not use.
    `time_format` None means ISO 8601 text or date cells of a workbook, and
    "excel" means serial day numbers. `time_format_ambiguous` is set when the
    month-first twin of the chosen day-first format reads every sample too.
    """

    format: Literal["csv", "xlsx"]
    encoding: str
    delimiter: str
    decimal: str
    sheet: str | None
    header_row: int
    unit_row: int | None
    time_column: str
    time_format: str | None
    headers: tuple[str, ...]
    units: tuple[str | None, ...]
    sample_rows: tuple[tuple[str, ...], ...]
    file_name: str = ""
    time_format_ambiguous: bool = False

    @property
    def time_index(self) -> int:
        return self.headers.index(self.time_column)


@dataclass(frozen=True)
class _Rows:
    """The first rows of a file, as the reader gives them, and how the reader was set up."""

    format: Literal["csv", "xlsx"]
    rows: list[Sequence[Any]]
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    sheet: str | None = None


def sniff_layout(path: Path) -> FileLayout:
    """Find the layout of the CSV or XLSX export at `path` from its first rows.

    Raises IngestError, with a catalogue key, when the file is missing, has an
    unsupported suffix or cannot be decoded, or when no header row, no data
    rows or no column of times in a known format is found.
    """
    path = Path(path)
    _check_file(path)
    opened = _read_xlsx(path) if path.suffix.lower() in XLSX_SUFFIXES else _read_csv(path)

    header_index = _find_header_row(opened.rows, path.name)
    headers = _trim_headers(opened.rows[header_index])
    unit_index = header_index + 1 if _is_unit_row(_row_at(opened.rows, header_index + 1)) else None
    first_data = (unit_index if unit_index is not None else header_index) + 1
    data_rows = [cells for cells in opened.rows[first_data:] if not is_blank(cells)][:SNIFF_DATA_ROWS]

    time_index, time_format, ambiguous = _find_time_column(headers, data_rows, path.name)
    layout = FileLayout(
        format=opened.format,
        encoding=opened.encoding,
        delimiter=opened.delimiter,
        decimal=_decimal_mark(opened, data_rows, time_index),
        sheet=opened.sheet,
        header_row=header_index + 1,
        unit_row=unit_index + 1 if unit_index is not None else None,
        time_column=headers[time_index],
        time_format=time_format,
        headers=headers,
        units=_column_units(headers, opened.rows[unit_index] if unit_index is not None else None),
        sample_rows=tuple(_row_text(cells, len(headers)) for cells in data_rows[:SAMPLE_ROWS]),
        file_name=path.name,
        time_format_ambiguous=ambiguous,
    )
    log.info("mapping.sniffed", extra=fields(file=path.name, format=layout.format, header_row=layout.header_row,
                                             unit_row=layout.unit_row, time_column=layout.time_column,
                                             time_format=layout.time_format, columns=len(headers)))
    return layout


# ---------------------------------------------------------------- reading the first rows


def _check_file(path: Path) -> None:
    check_is_file(path)
    suffixes = ", ".join((*CSV_SUFFIXES, *XLSX_SUFFIXES))
    if path.suffix.lower() not in (*CSV_SUFFIXES, *XLSX_SUFFIXES):
        raise IngestError(f"{path.name} has the suffix {path.suffix!r}, which the import cannot read; "
                          f"save the export as one of {suffixes} (an old .xls workbook as .xlsx)",
                          "mapping.error.unsupported_suffix", file=path.name, suffix=path.suffix or "-",
                          suffixes=suffixes)
    check_not_workbook(path)


def _read_xlsx(path: Path) -> _Rows:
    """Read the first rows of the first sheet in read-only mode, as readers.open_xlsx does."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except XLSX_OPEN_ERRORS as error:
        raise IngestError(f"cannot read {path.name} as an XLSX workbook ({error}); save it from Excel as .xlsx "
                          "or export it as CSV", "mapping.error.not_xlsx", file=path.name) from error
    try:
        sheet = workbook.worksheets[0]
        rows = list(sheet.iter_rows(max_row=MAX_TITLE_ROWS + 2 + SNIFF_DATA_ROWS, values_only=True))
        return _Rows("xlsx", rows, sheet=sheet.title)
    finally:
        workbook.close()


def _read_csv(path: Path) -> _Rows:
    encoding = detect_encoding(path, scan_file(path)[3])
    try:
        delimiter = _csv_delimiter(path, encoding)
        with path.open(newline="", encoding=encoding) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            try:
                rows = list(islice(reader, MAX_TITLE_ROWS + 2 + SNIFF_DATA_ROWS))
            except csv.Error as error:
                raise IngestError(f"{path.name} line {reader.line_num} is not valid CSV ({error}); "
                                  "fix the quoting in the file or export it again",
                                  "mapping.error.bad_csv", file=path.name, line=reader.line_num) from error
    except UnicodeDecodeError as error:
        raise IngestError(f"{path.name} is not valid {encoding} ({error.reason}); save it as UTF-8 or GB18030 "
                          "and upload it again", "mapping.error.encoding", file=path.name,
                          encoding=encoding) from error
    return _Rows("csv", rows, encoding=encoding, delimiter=delimiter)


def _csv_delimiter(path: Path, encoding: str) -> str:
    """Pick the delimiter from the first line that contains one, so a title line above the header is passed over."""
    with path.open(newline="", encoding=encoding) as handle:
        for line in islice(handle, MAX_TITLE_ROWS + 1):
            if any(delimiter in line for delimiter in CSV_DELIMITERS):
                return delimiter_of(line)
    return ","


# ---------------------------------------------------------------- header and unit rows


def _row_at(rows: list[Sequence[Any]], index: int) -> Sequence[Any]:
    return rows[index] if index < len(rows) else ()


def _filled_cells(cells: Sequence[Any]) -> list[Any]:
    return [cell for cell in cells if cell is not None and str(cell).strip()]


def _find_header_row(rows: list[Sequence[Any]], file_name: str) -> int:
    """Return the index of the first row with two or more filled cells; rows above it are title lines."""
    if all(is_blank(cells) for cells in rows):
        raise IngestError(f"{file_name} is empty or has only blank rows at the top; upload the export with "
                          "its header row and data rows", "mapping.error.empty_file", file=file_name)
    for index, cells in enumerate(rows[:MAX_TITLE_ROWS + 1]):
        if len(_filled_cells(cells)) >= 2:
            return index
    raise IngestError(f"{file_name} has no row with two or more columns in its first {MAX_TITLE_ROWS + 1} rows; "
                      "a wide export needs a header with a time column and value columns. Check the delimiter "
                      "or remove the title lines above the header", "mapping.error.no_header_row",
                      file=file_name, rows=MAX_TITLE_ROWS + 1)


def _trim_headers(cells: Sequence[Any]) -> tuple[str, ...]:
    headers = [normalise_header(cell) for cell in cells]
    while headers and not headers[-1]:
        headers.pop()
    return tuple(headers)


def is_unit_text(cell: Any) -> bool:
    """Tell whether a cell reads as a unit, such as m³/h, MPa, kW, %, m3/15 min or 千瓦; numbers do not."""
    text = normalise_header(cell).strip("()[]【】 ")
    if not text or len(text) > MAX_UNIT_CHARS:
        return False
    parts = [part for part in UNIT_SEPARATORS.split(text.casefold()) if part]
    if all(part.isdigit() for part in parts):
        return False
    return all(part.isdigit() or part in UNIT_WORDS for part in parts)


def _is_unit_row(cells: Sequence[Any]) -> bool:
    """Tell whether more than half of the row's filled cells read as units rather than numbers or times."""
    filled = _filled_cells(cells)
    units = sum(1 for cell in filled if isinstance(cell, str) and is_unit_text(cell))
    return bool(filled) and units * 2 > len(filled)


def _column_units(headers: Sequence[str], unit_cells: Sequence[Any] | None) -> tuple[str | None, ...]:
    """Return each column's unit as the importer finds it: the unit-row cell, else the unit in brackets in the header."""
    units = []
    for index, header in enumerate(headers):
        unit_cell = normalise_header(cell_at(unit_cells, index)) if unit_cells is not None else ""
        units.append(unit_cell or split_unit(header)[1])
    return tuple(units)


def _row_text(cells: Sequence[Any], width: int) -> tuple[str, ...]:
    return tuple("" if cell_at(cells, index) is None else str(cell_at(cells, index)) for index in range(width))


def _decimal_mark(opened: _Rows, data_rows: list[Sequence[Any]], time_index: int) -> str:
    """Return "," when a semicolon or tab separated file writes more numbers as 1497,26 than as 1497.26."""
    if opened.format != "csv" or opened.delimiter not in (";", "\t"):
        return "."
    texts = [str(cell).strip() for cells in data_rows for index, cell in enumerate(cells)
             if index != time_index and isinstance(cell, str)]
    commas = sum(1 for text in texts if DECIMAL_COMMA_NUMBER.match(text))
    points = sum(1 for text in texts if DECIMAL_POINT_NUMBER.match(text))
    return "," if commas > points else "."


# ---------------------------------------------------------------- time column and format


def _is_time_header(header: str) -> bool:
    key = header_key(header)
    return key in TIME_KEYS or any(word in key for word in TIME_WORDS)


def _find_time_column(headers: Sequence[str], data_rows: list[Sequence[Any]],
                      file_name: str) -> tuple[int, str | None, bool]:
    """Return the time column's index, its format and whether the format is ambiguous.

    Columns whose header names a time are tried first, then the others from
    left to right. The first column whose sample cells all read as times in
    one format is the time column.
    """
    if not data_rows:
        raise IngestError(f"{file_name} has a header but no data rows below it; upload an export that contains "
                          "readings", "mapping.error.no_data_rows", file=file_name)
    named = [index for index, header in enumerate(headers) if _is_time_header(header)]
    # A column without a header cannot be named as the profile's time_column.
    others = [index for index, header in enumerate(headers) if header and index not in named]
    for index in named + others:
        samples = [cell for cells in data_rows if (cell := cell_at(cells, index)) is not None and str(cell).strip()]
        found = _pick_time_format(samples) if samples else None
        if found is not None:
            return index, *found

    if named:
        column = headers[named[0]]
        sample = next((str(cells[named[0]]) for cells in data_rows if cell_at(cells, named[0]) is not None), "")
        raise IngestError(f"times in column {column!r} of {file_name}, such as {sample!r}, match none of the "
                          f"supported formats; set time_format in the profile by hand (Python strptime codes such as "
                          f"'%Y年%m月%d日 %H:%M') or export ISO 8601 times", "mapping.error.unknown_time_format",
                          file=file_name, column=column, value=sample or "-")
    raise IngestError(f"{file_name} has no time column: no header names a time ({', '.join(TIME_WORDS)}) and no "
                      f"column holds times; headers are {', '.join(repr(header) for header in headers)}. "
                      "Export the file with its time column", "mapping.error.no_time_column",
                      file=file_name, headers=", ".join(headers))


def _pick_time_format(samples: list[Any]) -> tuple[str | None, bool] | None:
    for time_format in TIME_FORMATS:
        if all(_reads_as_time(cell, time_format) for cell in samples):
            twin = MONTH_FIRST_TWIN.get(time_format)
            ambiguous = twin is not None and all(_reads_as_time(cell, twin) for cell in samples)
            return time_format, ambiguous
    return None


def _reads_as_time(cell: Any, time_format: str | None) -> bool:
    """Tell whether `cell` reads as a time under `time_format`; a number counts only as an Excel serial day."""
    if isinstance(cell, (datetime, date)):
        return True
    if isinstance(cell, bool):
        return False
    if isinstance(cell, (int, float)):
        return time_format == EXCEL_SERIAL and _is_serial_day(cell)

    text = str(cell).strip()
    try:
        if time_format == EXCEL_SERIAL:
            return _is_serial_day(float(text.replace(",", ".")))
        if time_format is ISO_8601:
            datetime.fromisoformat(text)
        else:
            datetime.strptime(text, time_format)
    except ValueError:
        return False
    return True


def _is_serial_day(number: float) -> bool:
    return EXCEL_SERIAL_DAYS[0] <= number <= EXCEL_SERIAL_DAYS[1]

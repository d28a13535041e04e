"""Cells of a data row: time and date, value text, quality class, and which run of a repeated local hour a time is in.

Python reads what the file contains; the database decides whether a reading
is valid. So a value leaves here as trimmed text (or None when the cell has
no reading), and a naive time leaves with a fold flag when the station's
clock shows it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpyxl.utils.datetime import WINDOWS_EPOCH, from_excel

from core.headers import header_key
from core.logs import fields
from core.profiles import IngestError, Profile

log = logging.getLogger(__name__)

QUALITY_CLASSES = {"good": 0, "uncertain": 1, "bad": 2}
# No two clock changes of a zone fall within one day of each other.
CLOCK_CHANGE_SPACING = timedelta(days=1)


class TimeReader:
    """Read the time of a data row from its time cell, or from its date and time cells.

    Returns a naive datetime (station-local) or an aware one when the text
    carries an offset. Numbers in an XLSX time cell are Excel serial dates:
    cells in the East-Asian built-in date formats (numFmtId 27-36 and 50-58)
    reach Python as plain numbers because openpyxl does not know them as dates.
    """

    def __init__(self, profile: Profile, file_name: str, epoch: datetime = WINDOWS_EPOCH):
        self._profile = profile
        self._file_name = file_name
        self._epoch = epoch
        self._serial_text = profile.time_format == "excel"
        self._last_text: str | None = None
        self._last_moment: datetime | None = None

    def read(self, time_cell: Any, date_cell: Any, line_no: int) -> datetime | None:
        if self._profile.date_column is None:
            return self._read_moment(time_cell, line_no)
        return self._read_date_and_time(date_cell, time_cell, line_no)

    def _read_moment(self, cell: Any, line_no: int) -> datetime | None:
        if isinstance(cell, datetime):
            return cell
        if isinstance(cell, date):
            return datetime(cell.year, cell.month, cell.day)
        if isinstance(cell, (int, float)) and not isinstance(cell, bool):
            return self._from_serial(cell, line_no)
        text = "" if cell is None else str(cell).strip()
        return self._parse_text(text, line_no) if text else None

    def _read_date_and_time(self, date_cell: Any, time_cell: Any, line_no: int) -> datetime | None:
        day = self._read_moment(date_cell, line_no) if not isinstance(date_cell, str) else None
        clock = self._time_of_day(time_cell, line_no)
        time_text = "" if time_cell is None else str(time_cell).strip()
        if day is not None and clock is None and time_text:
            # A date cell of a workbook beside a clock time typed as text.
            try:
                clock = time.fromisoformat(time_text)
            except ValueError:
                raise self._bad_time(f"{day.date()} {time_text}", line_no) from None
        if day is not None and clock is not None:
            return datetime.combine(day.date(), clock)
        date_text = "" if date_cell is None else str(date_cell).strip()
        if not date_text and not time_text:
            return None
        return self._parse_text(f"{date_text} {time_text}".strip(), line_no)

    def _time_of_day(self, cell: Any, line_no: int) -> time | None:
        """Return the clock time of a cell that contains one as an object or a fraction of a day, else None."""
        if isinstance(cell, time):
            return cell
        if isinstance(cell, datetime):
            return cell.time()
        if isinstance(cell, timedelta):
            return (datetime.min + cell).time()
        if isinstance(cell, (int, float)) and not isinstance(cell, bool) and 0 <= cell < 1:
            return self._from_serial(cell, line_no).time()
        return None

    def _from_serial(self, serial: float, line_no: int) -> datetime:
        try:
            moment = from_excel(serial, self._epoch)
        except (OverflowError, ValueError):
            raise self._bad_time(str(serial), line_no) from None
        return moment if isinstance(moment, datetime) else datetime.combine(self._epoch.date(), moment)

    def _parse_text(self, text: str, line_no: int) -> datetime:
        # Long exports repeat the same time on consecutive rows, one per tag.
        if text == self._last_text:
            return self._last_moment
        time_format = self._profile.time_format
        try:
            if self._serial_text:
                moment = self._from_serial(float(text.replace(",", ".")), line_no)
            elif time_format:
                moment = datetime.strptime(text, time_format)
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            raise self._bad_time(text, line_no) from None
        self._last_text, self._last_moment = text, moment
        return moment

    def _bad_time(self, text: str, line_no: int) -> IngestError:
        profile = self._profile
        column = profile.time_column if profile.date_column is None else f"{profile.date_column} + {profile.time_column}"
        expected = f"time_format {profile.time_format!r}" if profile.time_format else "ISO 8601 (no time_format set)"
        return IngestError(f"{self._file_name} line {line_no}: time {text!r} in column {column!r} "
                           f"does not match {expected} of profile {profile.name!r}; fix the cell, or set "
                           "time_format in configs/ingest.yaml with Python strptime codes such as '%d/%m/%y %H' "
                           "(or excel for serial day numbers)",
                           "ingest.error.bad_time", file=self._file_name, line=line_no, value=text,
                           column=column, expected=profile.time_format or "ISO 8601", profile=profile.name)


class ValueReader:
    """Turn a value cell into the text the database parses, or None when the cell contains no reading.

    Empty cells, the profile's missing-value tokens (compared trimmed and
    case-folded) and its sentinel numbers are missing, not invalid: they are
    counted in rows_missing and not staged.
    """

    def __init__(self, profile: Profile):
        self._decimal_comma = profile.decimal == ","
        self._missing = frozenset(token.strip().casefold() for token in profile.missing_values)
        # Most cells are numbers: only a cell whose first character can start
        # a token is case-folded and looked up.
        self._token_starts = frozenset(form[:1] for token in profile.missing_values
                                       for form in (token.strip(), token.strip().casefold(),
                                                    token.strip().upper(), token.strip().lower()))
        self._sentinels = frozenset(profile.sentinel_values)

    def text(self, cell: Any) -> str | None:
        if cell.__class__ is str:
            text = cell.strip()
            if not text or (text[0] in self._token_starts and text.casefold() in self._missing):
                return None
            if self._decimal_comma:
                text = text.replace(",", ".")
            if self._sentinels and self._is_sentinel(text):
                return None
            return text
        if cell is None:
            return None
        if isinstance(cell, bool):
            return "1" if cell else "0"
        if isinstance(cell, (int, float)):
            if cell in self._sentinels:
                return None
            return repr(cell) if isinstance(cell, float) else str(cell)
        return self.text(str(cell))

    def _is_sentinel(self, text: str) -> bool:
        try:
            return float(text) in self._sentinels
        except ValueError:
            return False


class QualityReader:
    """Map the quality cell of a long export to a quality class: 0 good, 1 uncertain, 2 bad, None unknown.

    `opc_da` reads the OPC DA quality byte (0-255, decimal or 0x hex) by its
    two high bits: 11 good, 10 good (WinCC's "good, cascade"), 01 uncertain,
    00 bad. A mapping compares the trimmed, case-folded cell text with its keys.
    """

    def __init__(self, codes: str | dict[str, str]):
        self._opc_da = codes == "opc_da"
        self._codes = {} if self._opc_da else {key.strip().casefold(): QUALITY_CLASSES[name]
                                               for key, name in codes.items()}

    def read(self, cell: Any) -> tuple[int | None, str]:
        """Return the quality class, or None, and the cell text for the rejects report."""
        text = "" if cell is None else str(cell).strip()
        if not self._opc_da:
            return self._codes.get(text.casefold()), text
        try:
            code = int(text, 16) if text.lower().startswith("0x") else int(float(text))
        except (ValueError, OverflowError):
            return None, text
        if not 0 <= code <= 255:
            return None, text
        if code >= 0x80:
            return QUALITY_CLASSES["good"], text
        if code >= 0x40:
            return QUALITY_CLASSES["uncertain"], text
        return QUALITY_CLASSES["bad"], text


class RepeatedHourTracker:
    """Tell, in file order, which run of a repeated local hour a naive time belongs to.

    When clocks go back (03:00-03:59 twice in Helsinki on the last Sunday of
    October), a naive time in that hour names two instants. For each point
    the first run takes the earlier offset (fold 0). The run starts again
    when a point's time steps back inside the repeated hour, and from then
    on those times take the later offset (fold 1). A time that occurs once
    therefore reads as the earlier offset.
    """

    def __init__(self, zone_name: str):
        try:
            self._zone: ZoneInfo | None = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            # NOTE: PostgreSQL accepted this zone for the station but Python's
            # tzdata does not know it, so no time is marked as repeated and
            # the database reads a repeated hour with its later offset.
            log.warning("import.zone_unknown_to_python", extra=fields(timezone=zone_name))
            self._zone = None
        self._days_with_change: dict[date, bool] = {}
        self._last: dict[Hashable, tuple[datetime, bool]] = {}

    def fold(self, point: Hashable, naive: datetime) -> int | None:
        """Return 0 or 1 for a time the zone's clock shows twice, None for every other time."""
        if self._zone is None or not self._is_repeated(naive):
            return None
        last = self._last.get(point)
        in_second_run = (last is not None and abs(naive - last[0]) < CLOCK_CHANGE_SPACING
                         and (last[1] or naive <= last[0]))
        self._last[point] = (naive, in_second_run)
        return 1 if in_second_run else 0

    def _is_repeated(self, naive: datetime) -> bool:
        day = naive.date()
        has_change = self._days_with_change.get(day)
        if has_change is None:
            midnight = datetime.combine(day, time(), self._zone)
            has_change = midnight.utcoffset() != (midnight + timedelta(days=1)).utcoffset()
            self._days_with_change[day] = has_change
        if not has_change:
            return False
        earlier = naive.replace(tzinfo=self._zone, fold=0)
        later = naive.replace(tzinfo=self._zone, fold=1)
        if earlier.utcoffset() == later.utcoffset():
            return False
        # A time skipped when clocks go forward also has two offsets, but
        # converting it to UTC and back does not return the same clock time.
        return earlier.astimezone(timezone.utc).astimezone(self._zone).replace(tzinfo=None) == naive


def cell_at(cells: Sequence[Any], index: int | None) -> Any:
    """Return the cell at `index`, or None when the row is shorter or there is no such column."""
    return cells[index] if index is not None and 0 <= index < len(cells) else None


def tag_key(cell: Any) -> str:
    """Return the matching key of a tag name in a long export."""
    return header_key("" if cell is None else str(cell))


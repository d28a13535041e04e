"""From files to staging rows: check each file against its profile, then build batches of readings to COPY.

A reading is one value cell mapped to a point: a cell of a mapped column
(wide layout) or a row of a mapped tag (long layout). A cell with no
reading (empty, a missing-value token or a sentinel) is counted as missing
and not staged.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.cells import QualityReader, RepeatedHourTracker, TimeReader, ValueReader, cell_at, tag_key
from core.headers import header_key, normalise_header, split_unit
from core.profiles import ColumnSpec, IngestError, Profile
from core.readers import Table, detect_delimiter, detect_encoding, is_blank, open_csv, open_xlsx, scan_file

# Columns of public.measurement_staging that a batch's rows fill, in order. Wide
# files have no quality, and leaving those columns out of COPY spares two
# fields per reading.
WIDE_STAGING_COLUMNS = ("run_id", "batch_no", "line_no", "column_name", "station_code", "device_code",
                        "metric_code", "unit", "ts_local", "ts_utc", "ts_fold", "value_text")
LONG_STAGING_COLUMNS = (*WIDE_STAGING_COLUMNS, "quality", "quality_text")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# First bytes of a ZIP archive, which an XLSX workbook is.
ZIP_MAGIC = b"PK\x03\x04"
# Distinct ignored tags listed per file of a long export; further ones are not listed.
MAX_IGNORED_TAGS = 200
# Distinct tag cells whose lookup is cached per file, so a file of garbage
# tags cannot grow the cache without bound.
MAX_CACHED_TAGS = 10_000


@dataclass(frozen=True)
class PlannedColumn:
    """A point that a file feeds: a column of a wide file or a tag of a long one."""

    index: int
    header: str
    staged_name: str
    device: str
    metric: str
    unit: str


@dataclass
class Source:
    """One input file: what was found when it was checked, and the counts of reading it."""

    path: Path
    size_bytes: int
    sha256: str
    rows_estimate: int | None
    encoding: str
    delimiter: str
    time_index: int = -1
    date_index: int | None = None
    point_index: int | None = None
    value_index: int | None = None
    quality_index: int | None = None
    columns: list[PlannedColumn] = field(default_factory=list)
    tags: dict[str, PlannedColumn] = field(default_factory=dict)
    columns_ignored: list[str] = field(default_factory=list)
    timestamps: int = 0
    naive_timestamps: int = 0
    rows_read: int = 0
    rows_missing: int = 0

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "name": self.path.name, "size_bytes": self.size_bytes, "sha256": self.sha256,
                "timestamps": self.timestamps, "rows_read": self.rows_read, "rows_missing": self.rows_missing,
                "columns": len(self.columns), "columns_ignored": self.columns_ignored}


def staging_columns(profile: Profile) -> tuple[str, ...]:
    return LONG_STAGING_COLUMNS if profile.layout == "long" else WIDE_STAGING_COLUMNS


def open_table(source: Source, profile: Profile):
    if profile.format == "xlsx":
        return open_xlsx(source.path, profile)
    return open_csv(source.path, profile, source.encoding, source.delimiter)


# ---------------------------------------------------------------- planning


class _HeaderIndex:
    """Find a profile's column names among a file's headers, by their matching keys."""

    def __init__(self, headers: list[str], profile: Profile, file_name: str):
        self.headers = headers
        self._profile = profile
        self._file_name = file_name
        self._by_key: dict[str, list[int]] = {}
        self._by_name_key: dict[str, list[int]] = {}
        for index, header in enumerate(headers):
            if not header:
                continue
            self._by_key.setdefault(header_key(header), []).append(index)
            name, unit = split_unit(header)
            if unit is not None:
                self._by_name_key.setdefault(header_key(name), []).append(index)

    def locate(self, name: str) -> int:
        """Return the index of the header that `name` matches, exactly or without the unit glued to its end."""
        key = header_key(name)
        found = self._by_key.get(key) or self._by_name_key.get(key, [])
        if len(found) > 1:
            raise IngestError(f"column {name!r} matches {len(found)} headers of {self._file_name} "
                              f"({', '.join(repr(self.headers[index]) for index in found)}); "
                              "rename the copies in the file so each name is unique")
        if not found:
            raise self._not_found(name)
        return found[0]

    def _not_found(self, name: str) -> IngestError:
        named = [header for header in self.headers if header]
        close = difflib.get_close_matches(normalise_header(name), named, n=5, cutoff=0.5)
        hint = f"close headers: {', '.join(repr(header) for header in close)}" if close else (
            f"the header has {', '.join(repr(header) for header in named[:12])}")
        return IngestError(f"column {name!r} of profile {self._profile.name!r} not found in {self._file_name}; "
                           f"{hint}. Fix the column name under columns: in configs/ingest.yaml "
                           "or pick the profile made for this file",
                           "ingest.error.column_not_found", column=name, profile=self._profile.name,
                           file=self._file_name, close=", ".join(close) or "-")


def _column_unit(name: str, spec: ColumnSpec, header: str, unit_cell: str | None, profile: Profile,
                 file_name: str) -> str:
    """Return the unit of a column: the profile's, else the unit row's, else the one in brackets in the header."""
    if spec.unit is not None:
        return spec.unit
    if unit_cell:
        return unit_cell
    glued = split_unit(header)[1]
    if glued is not None:
        return glued
    where = f"its cell in unit row {profile.unit_row} is empty" if profile.unit_row else "the file has no unit row"
    raise IngestError(f"column {name!r} of {file_name} has no unit: {where} and the header {header!r} names none "
                      f"in brackets; set unit: for it in profile {profile.name!r} (\"\" for a dimensionless metric)",
                      "ingest.error.no_unit", column=name, file=file_name, profile=profile.name)


def _plan_wide(source: Source, table: Table, profile: Profile, prefix_file_name: bool) -> None:
    """Find the time columns and every mapped column in the header; raise when one is missing."""
    index = _HeaderIndex(table.headers, profile, source.path.name)
    source.time_index = index.locate(profile.time_column)
    if profile.date_column is not None:
        source.date_index = index.locate(profile.date_column)

    for name, spec in profile.columns.items():
        position = index.locate(name)
        header = table.headers[position]
        unit_cell = table.units[position] if table.units is not None and position < len(table.units) else None
        unit = _column_unit(name, spec, header, unit_cell, profile, source.path.name)
        staged_name = f"{source.path.name}:{name}" if prefix_file_name else name
        source.columns.append(PlannedColumn(position, name, staged_name, spec.device, spec.metric, unit))

    used = {column.index for column in source.columns} | {source.time_index, source.date_index}
    source.columns_ignored = [header for position, header in enumerate(table.headers)
                              if header and position not in used]


def _plan_long(source: Source, table: Table, profile: Profile, prefix_file_name: bool) -> None:
    """Find the tag, time, value and quality columns; the profile's columns are tags, looked up per row."""
    index = _HeaderIndex(table.headers, profile, source.path.name)
    source.point_index = index.locate(profile.point_column)
    source.time_index = index.locate(profile.time_column)
    source.value_index = index.locate(profile.value_column)
    if profile.date_column is not None:
        source.date_index = index.locate(profile.date_column)
    if profile.quality_column is not None:
        source.quality_index = index.locate(profile.quality_column)

    for tag, spec in profile.columns.items():
        unit = _column_unit(tag, spec, normalise_header(tag), None, profile, source.path.name)
        staged_name = f"{source.path.name}:{tag}" if prefix_file_name else tag
        source.tags[tag_key(tag)] = PlannedColumn(source.value_index, tag, staged_name, spec.device, spec.metric, unit)
    source.columns = list(source.tags.values())


def _check_suffix(path: Path, profile: Profile) -> None:
    expected = XLSX_SUFFIXES if profile.format == "xlsx" else CSV_SUFFIXES
    suffix = path.suffix.lower()
    if suffix in (*XLSX_SUFFIXES, ".xls", *CSV_SUFFIXES) and suffix not in expected:
        raise IngestError(f"{path.name} does not look like a {profile.format} file, which profile "
                          f"{profile.name!r} reads; pick a profile for {path.suffix} files",
                          "ingest.error.wrong_format", file=path.name, format=profile.format, profile=profile.name)


def check_is_file(path: Path) -> None:
    """Raise IngestError when `path` is a folder or does not exist."""
    if path.is_dir():
        raise IngestError(f"{str(path)!r} is a folder, not a file; pass the CSV or XLSX files in it",
                          "ingest.error.is_folder", path=str(path))
    if not path.is_file():
        raise IngestError(f"file {str(path)!r} not found; check the path (relative paths start at "
                          f"{Path.cwd()})", "ingest.error.file_not_found", path=str(path), cwd=str(Path.cwd()))


def check_not_workbook(path: Path) -> None:
    """Raise IngestError when a file named as CSV or text is an XLSX workbook (a ZIP archive) renamed."""
    if path.suffix.lower() not in CSV_SUFFIXES:
        return
    with path.open("rb") as handle:
        if handle.read(len(ZIP_MAGIC)) == ZIP_MAGIC:
            raise IngestError(f"{path.name} is an XLSX workbook with a {path.suffix} name; rename it to .xlsx "
                              "or save it as CSV", "ingest.error.workbook_named_csv", file=path.name,
                              suffix=path.suffix)


def prepare_sources(paths: list[Path], profile: Profile) -> list[Source]:
    """Check every file before anything is written: it exists, opens, and has the profile's columns."""
    sources = []
    for raw_path in paths:
        path = Path(raw_path)
        check_is_file(path)
        check_not_workbook(path)
        _check_suffix(path, profile)
        size_bytes, sha256, newlines, is_utf8 = scan_file(path)
        encoding = profile.encoding
        if encoding == "auto":
            encoding = detect_encoding(path, is_utf8)
        delimiter = profile.delimiter
        if profile.format == "csv" and delimiter == "auto":
            delimiter = detect_delimiter(path, encoding, profile.header_row)
        estimate = max(newlines - profile.first_data_row + 1, 0) if profile.format == "csv" else None
        sources.append(Source(path, size_bytes, sha256, estimate, encoding, delimiter))

    plan = _plan_long if profile.layout == "long" else _plan_wide
    for source in sources:
        with open_table(source, profile) as table:
            plan(source, table, profile, prefix_file_name=len(sources) > 1)
            source.rows_estimate = table.rows_estimate or source.rows_estimate
    return sources


# ---------------------------------------------------------------- batches


@dataclass
class Batch:
    """Staging rows of consecutive data rows of one file, and what reading them counted."""

    batch_no: int
    source: Source
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    file_rows: int = 0
    timestamps: int = 0
    naive_timestamps: int = 0
    missing: int = 0
    first_line: int = 0
    last_line: int = 0
    last_of_file: bool = False


class _RowStager:
    """Turn the data rows of one file into staging rows, appended to the current batch."""

    def __init__(self, source: Source, profile: Profile, table: Table, run_id: str, zone: str):
        self.source = source
        self.profile = profile
        self.run_id = run_id
        self.station = profile.station.code
        self.times = TimeReader(profile, source.path.name, table.epoch)
        self.values = ValueReader(profile)
        self.qualities = QualityReader(profile.quality_codes) if profile.quality_codes is not None else None
        self.repeated_hours = RepeatedHourTracker(zone)
        self.ignored_tags: set[str] = set()
        self._tag_cache: dict[Any, PlannedColumn | None] = {}

    def _moment(self, cells: Sequence[Any], line_no: int, batch: Batch, point: Hashable) -> tuple[Any, Any, Any]:
        """Return (ts_local, ts_utc, ts_fold) of a row and count its time."""
        moment = self.times.read(cell_at(cells, self.source.time_index), cell_at(cells, self.source.date_index),
                                 line_no)
        if moment is None:
            return None, None, None
        batch.timestamps += 1
        if moment.tzinfo is not None:
            return None, moment, None
        batch.naive_timestamps += 1
        return moment, None, self.repeated_hours.fold(point, moment)

    def stage_wide(self, line_no: int, cells: Sequence[Any], batch: Batch) -> None:
        ts_local, ts_utc, ts_fold = self._moment(cells, line_no, batch, None)
        # This loop runs once per reading, so it avoids calls it can spare.
        text_of = self.values.text
        append = batch.rows.append
        width = len(cells)
        for column in self.source.columns:
            text = text_of(cells[column.index] if column.index < width else None)
            if text is None:
                batch.missing += 1
                continue
            append((self.run_id, batch.batch_no, line_no, column.staged_name, self.station, column.device,
                    column.metric, column.unit, ts_local, ts_utc, ts_fold, text))

    def stage_long(self, line_no: int, cells: Sequence[Any], batch: Batch) -> None:
        raw_tag = cell_at(cells, self.source.point_index)
        column = self._column_of(raw_tag)
        if column is None:
            return
        text = self.values.text(cell_at(cells, self.source.value_index))
        if text is None:
            batch.missing += 1
            return
        ts_local, ts_utc, ts_fold = self._moment(cells, line_no, batch, column.staged_name)
        quality, quality_text = None, None
        if self.qualities is not None:
            quality, quality_text = self.qualities.read(cell_at(cells, self.source.quality_index))
        batch.rows.append((self.run_id, batch.batch_no, line_no, column.staged_name, self.station, column.device,
                           column.metric, column.unit, ts_local, ts_utc, ts_fold, text, quality, quality_text))

    def _column_of(self, raw_tag: Any) -> PlannedColumn | None:
        """Return the point a tag feeds; None for a tag the profile does not map, which is listed as ignored.

        A row without a tag is staged as an unknown point, so it is rejected
        with its line instead of vanishing.
        """
        if raw_tag in self._tag_cache:
            return self._tag_cache[raw_tag]
        tag = normalise_header(raw_tag)
        column = self.source.tags.get(tag_key(tag))
        if column is None and not tag:
            column = PlannedColumn(-1, "", "", "", "", "")
        if column is None and len(self.ignored_tags) < MAX_IGNORED_TAGS:
            self.ignored_tags.add(tag)
        if len(self._tag_cache) < MAX_CACHED_TAGS:
            self._tag_cache[raw_tag] = column
        return column


def generate_batches(sources: list[Source], profile: Profile, run_id: str, batch_rows: int,
                     zone: str) -> Iterator[Batch]:
    """Build staging rows of every file, closing a batch after the file row that brings it to `batch_rows` readings.

    A batch never spans two files, and a full batch is handed on only when
    the next data row arrives, so the last batch of each file is marked as
    the last: the database keeps duplicate keys only for batches that later
    ones must be checked against. `zone` is the station's zone, used to find
    local times that the clock shows twice.
    """
    batch_no = 1
    for source in sources:
        with open_table(source, profile) as table:
            stager = _RowStager(source, profile, table, run_id, zone)
            stage = stager.stage_long if profile.layout == "long" else stager.stage_wide
            batch = Batch(batch_no, source)
            for line_no, cells in table.rows:
                if is_blank(cells):
                    continue
                if len(batch.rows) >= batch_rows:
                    yield batch
                    batch_no += 1
                    batch = Batch(batch_no, source)
                stage(line_no, cells, batch)
                batch.file_rows += 1
                batch.first_line = batch.first_line or line_no
                batch.last_line = line_no
            if batch.file_rows:
                batch.last_of_file = True
                yield batch
                batch_no += 1
            source.columns_ignored.extend(sorted(stager.ignored_tags))

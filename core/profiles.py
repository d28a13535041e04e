"""Import profiles: how to read one kind of export file and which point each of its columns feeds.

Profiles live under `profiles:` in configs/ingest.yaml. They are validated
when loaded, so a typo stops an import before any file is opened.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.settings import CONFIG_DIR

PROFILES_PATH = CONFIG_DIR / "ingest.yaml"
CSV_DELIMITERS = (",", ";", "\t", "|")


class IngestError(Exception):
    """An import cannot start or go on; the message names the value at fault and the fix.

    `key` and `params` name the catalogue message shown to users (the English
    message is for logs). Not a subclass of the built-in ImportError, which
    means a failed Python module import and is caught as such by unrelated code.
    """

    def __init__(self, message: str, key: str | None = None, **params: Any):
        super().__init__(message)
        self.key = key
        self.params = params


class ProfileError(IngestError):
    """configs/ingest.yaml or one of its profiles is invalid."""


# ---------------------------------------------------------------- profiles


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StationSpec(_Spec):
    """The station a profile writes to; `timezone` is the IANA zone of naive times in the file."""

    code: str
    name_zh: str
    name_en: str
    timezone: str | None = None


class DeviceSpec(_Spec):
    """A device of the station; `kind` is checked by the database (station, pump, meter, sensor, tank, valve)."""

    code: str
    kind: str
    name_zh: str
    name_en: str


class ColumnSpec(_Spec):
    """Target point of one value column (wide layout) or tag (long layout).

    `unit` None means the file gives it: the unit row, or a unit in brackets
    at the end of the header, such as `出口压力(MPa)`.
    """

    device: str
    metric: str
    unit: str | None = None
    sample_interval_s: int | None = Field(None, gt=0)


QualityClass = Literal["good", "uncertain", "bad"]

# Texts that exports write into a cell that has no reading. Matched after
# trimming and case folding; the profile's missing_values replaces this list.
DEFAULT_MISSING_VALUES = ("-", "--", "无", "空", "N/A", "NA", "#N/A", "NULL",
                          "#VALUE!", "#DIV/0!", "#REF!", "#NUM!", "#NAME?", "#NULL!")


class Profile(_Spec):
    """How to read one kind of export file and which point each of its columns feeds."""

    name: str
    format: Literal["csv", "xlsx"]
    layout: Literal["wide", "long"] = "wide"
    sheet: str | None = None
    header_row: int = Field(1, ge=1)
    header_rows: int = Field(1, ge=1, le=10)
    unit_row: int | None = Field(None, ge=1)
    time_column: str
    date_column: str | None = None
    time_format: str | None = None
    point_column: str | None = None
    value_column: str | None = None
    quality_column: str | None = None
    quality_codes: Literal["opc_da"] | dict[str, QualityClass] | None = None
    encoding: str = "utf-8-sig"
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    missing_values: tuple[str, ...] = DEFAULT_MISSING_VALUES
    sentinel_values: tuple[float, ...] = ()
    ambiguous_time: Literal["file_order", "reject"] = "file_order"
    sample_interval_s: int | None = Field(None, gt=0)
    # Glob patterns (fnmatch, case-insensitive) of the file names that
    # `import --run-all` imports with this profile.
    files: tuple[str, ...] = ()
    station: StationSpec
    devices: tuple[DeviceSpec, ...]
    columns: dict[str, ColumnSpec] = Field(min_length=1)

    @property
    def last_header_row(self) -> int:
        return self.header_row + self.header_rows - 1

    @property
    def first_data_row(self) -> int:
        return max(self.last_header_row, self.unit_row or 0) + 1

    @model_validator(mode="after")
    def _check_layout(self) -> Profile:
        if self.unit_row is not None and self.header_row <= self.unit_row <= self.last_header_row:
            raise ValueError(f"unit_row {self.unit_row} is one of the header rows {self.header_row} to "
                             f"{self.last_header_row}; they must be different rows")
        if self.format == "csv" and self.sheet is not None:
            raise ValueError("sheet is only for xlsx files; remove it or set format: xlsx")
        if self.delimiter != "auto" and self.delimiter not in CSV_DELIMITERS:
            raise ValueError(f"delimiter {self.delimiter!r} is not supported; use one of {CSV_DELIMITERS!r} or auto")
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"unknown encoding {self.encoding!r}; use utf-8-sig, gb18030, utf-16 or auto") from None
        if self.layout == "wide":
            self._check_wide_layout()
        else:
            self._check_long_layout()
        return self

    def _check_wide_layout(self) -> None:
        long_only = [name for name in ("point_column", "value_column", "quality_column", "quality_codes")
                     if getattr(self, name) is not None]
        if long_only:
            raise ValueError(f"{', '.join(long_only)} only apply to layout: long; remove them or set layout: long")
        for name in (self.time_column, self.date_column):
            if name is not None and name in self.columns:
                raise ValueError(f"time column {name!r} must not also be mapped under columns")

    def _check_long_layout(self) -> None:
        if self.point_column is None or self.value_column is None:
            raise ValueError("layout: long needs point_column (the tag name) and value_column")
        if self.unit_row is not None:
            raise ValueError("layout: long has no unit row; give unit: for each tag under columns")
        if self.quality_column is not None and self.quality_codes is None:
            raise ValueError("quality_column needs quality_codes: opc_da, or a mapping such as {'1': good, '0': bad}")
        if self.quality_codes is not None and self.quality_column is None:
            raise ValueError("quality_codes is set but quality_column is missing; set quality_column to the column of the codes")

    @model_validator(mode="after")
    def _check_points(self) -> Profile:
        device_codes = [device.code for device in self.devices]
        repeated = sorted({code for code in device_codes if device_codes.count(code) > 1})
        if repeated:
            raise ValueError(f"devices {', '.join(repeated)} are declared more than once")

        seen_points: dict[tuple[str, str], str] = {}
        for header, column in self.columns.items():
            if column.device not in device_codes:
                raise ValueError(f"column {header!r} uses device {column.device!r}, which is not declared under devices")
            point = (column.device, column.metric)
            if point in seen_points:
                raise ValueError(f"columns {seen_points[point]!r} and {header!r} both map to device "
                                 f"{column.device!r} metric {column.metric!r}; one point takes one column")
            seen_points[point] = header
        return self


def load_profiles(path: Path | None = None) -> dict[str, Profile]:
    """Read and validate the `profiles:` section of configs/ingest.yaml (or `path`)."""
    path = Path(path) if path is not None else PROFILES_PATH
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ProfileError(f"profile file {path} not found; create it or pass the path of an ingest.yaml") from None
    except yaml.YAMLError as error:
        raise ProfileError(f"profile file {path} is not valid YAML: {error}") from error

    raw_profiles = document.get("profiles") if isinstance(document, dict) else None
    if not isinstance(raw_profiles, dict) or not raw_profiles:
        raise ProfileError(f"profile file {path} has no profiles: section; add one mapping profile names to profiles")

    profiles = {}
    for name, body in raw_profiles.items():
        if not isinstance(body, dict):
            raise ProfileError(f"profile {name!r} in {path} is not a mapping of settings")
        try:
            profiles[str(name)] = Profile(name=str(name), **body)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(str(part) for part in issue['loc']) or 'profile'}: {issue['msg']}"
                                 for issue in error.errors())
            raise ProfileError(f"profile {name!r} in {path} is invalid: {problems}") from None
    return profiles


def pick_profile(profiles: dict[str, Profile], name: str) -> Profile:
    if name not in profiles:
        known = ", ".join(sorted(profiles))
        raise IngestError(f"unknown import profile {name!r}; known profiles: {known}. "
                          "Pick one of them or add the profile under profiles: in configs/ingest.yaml",
                          "ingest.error.unknown_profile", profile=name, known=known)
    return profiles[name]


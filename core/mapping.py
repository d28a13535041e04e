"""Propose an import profile for an export that no profile describes, from its headers and the point catalogue.

The import page sniffs an uploaded file (core/sniffing.py), proposes a
metric, device and unit for each column, lets the operator correct them,
and builds a validated profile whose YAML an admin can paste into
configs/ingest.yaml. Nothing here renders or imports Streamlit.

A header is matched against each metric's Chinese name, English name and
code: exactly, with the metric's whole name inside the header (`1号泵出口压力`),
or by a part of it (`流量` in `瞬时流量`, `Inflow` ending in `flow`). The
file's unit then picks among the matches: a metric whose catalogue unit the
file unit converts into wins. Proposals are for wide files only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import psycopg
import yaml
from pydantic import ValidationError

from core.headers import header_key, normalise_header, split_unit
from core.inbox import profiles_matching
from core.logs import fields
from core.profiles import ColumnSpec, DeviceSpec, IngestError, Profile, StationSpec
from core.sniffing import FileLayout, sniff_layout
from core.staging import prepare_sources

__all__ = ["ColumnProposal", "DeviceInfo", "FileLayout", "MetricInfo", "PointCatalogue", "StationInfo",
           "build_profile", "load_point_catalogue", "profile_yaml", "propose_columns", "sniff_layout"]

log = logging.getLogger(__name__)

STATIONS_SQL = "SELECT code, name_zh, name_en, timezone FROM public.stations ORDER BY code"
DEVICES_SQL = """SELECT s.code, d.code, d.kind, d.name_zh, d.name_en
FROM public.devices AS d
JOIN public.stations AS s ON s.station_id = d.station_id
ORDER BY s.code, d.device_id"""
METRICS_SQL = "SELECT code, name_zh, name_en, unit FROM public.metrics ORDER BY metric_id"
CONVERSIONS_SQL = "SELECT to_unit, from_unit FROM public.unit_conversions ORDER BY to_unit, from_unit"

# Reason codes of a proposal (ColumnProposal.basis).
BASIS_METRIC_NAME = "metric_name"      # the header is the metric's Chinese or English name, or its code with spaces
BASIS_METRIC_CODE = "metric_code"      # the header is the metric's code, such as outlet_pressure
BASIS_NAME_CONTAINS = "name_contains"  # the metric's whole name is part of the header
BASIS_NAME_PART = "name_part"          # a part of the metric's name is in the header
BASIS_UNIT_ONLY = "unit_only"          # no name matched, and the file unit fits one metric only
BASIS_UNKNOWN_UNIT = "unknown_unit"    # the name matched, but the file unit converts into no catalogue unit
BASIS_NONE = "none"                    # nothing matched: the column is not imported

# Match strengths of a header against a metric's names; higher wins.
EXACT, CONTAINS, PART = 3, 2, 1
# Words that do not identify a metric, so name matching leaves them out.
GENERIC_WORDS = frozenset({"pump", "pumps", "station", "total", "sum", "of", "to", "in", "at", "on", "the",
                           "and", "no", "nr", "value", "actual", "current"})
# Words split at spaces and punctuation; a dot stays inside, so "1.1" in "Pump flow 1.1" is one word.
WORD_SEPARATORS = re.compile(r"[\s_:;,()\[\]【】/\\|+\-]+")
LOOSE_KEY_DROPPED = re.compile(r"[_.\-]")
CJK_CHARACTER = re.compile(r"[\u3400-\u9fff]")
# A part of an English word counts only when the word starts or ends with it
# and it has at least this many letters: "Inflow" ends with "flow".
MIN_WORD_PART_CHARS = 4
# A Chinese name part counts from two characters: "流量" of "瞬时流量".
MIN_CJK_PART_CHARS = 2
PROFILE_COMMENT = ("# 导入方案 {name}：按文件列名自动生成，请核对每列的指标、设备和单位，"
                   "再把 profiles: 下面的内容粘贴到 configs/ingest.yaml 的 profiles: 下。")


# ---------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class MetricInfo:
    """A row of public.metrics: code, names and catalogue unit."""

    code: str
    name_zh: str
    name_en: str
    unit: str


@dataclass(frozen=True)
class DeviceInfo:
    """A row of public.devices; `kind` is station, pump, meter, sensor, tank or valve."""

    code: str
    kind: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class StationInfo:
    """A station with its IANA time zone and its devices in the order they were created."""

    code: str
    name_zh: str
    name_en: str
    timezone: str
    devices: tuple[DeviceInfo, ...]


@dataclass(frozen=True)
class PointCatalogue:
    """Stations, metrics and, per catalogue unit, the file units that convert into it (itself included)."""

    stations: tuple[StationInfo, ...]
    metrics: tuple[MetricInfo, ...]
    units: dict[str, tuple[str, ...]]

    def converts(self, file_unit: str, metric: MetricInfo) -> bool:
        """Tell whether the import converts `file_unit` into the metric's unit; "" is the metric's own unit."""
        return file_unit == "" or file_unit in self.units.get(metric.unit, (metric.unit,))


def load_point_catalogue(url_or_conn: str | psycopg.Connection) -> PointCatalogue:
    """Read stations, devices, metrics and unit conversions with plain SELECTs on the public tables.

    Raises IngestError when the connection's role may not read one of them.
    """
    try:
        if isinstance(url_or_conn, psycopg.Connection):
            return _read_catalogue(url_or_conn)
        with psycopg.connect(url_or_conn, autocommit=True, application_name="pumpdash-mapping") as conn:
            return _read_catalogue(conn)
    except psycopg.errors.InsufficientPrivilege as error:
        tables = "public.stations, public.devices, public.metrics, public.unit_conversions"
        raise IngestError(f"cannot read the point catalogue: {error.diag.message_primary}; grant SELECT on "
                          f"{tables} to the role of this connection, or connect as the role that runs imports",
                          "mapping.error.catalogue_privilege", detail=error.diag.message_primary or str(error),
                          tables=tables) from error


def _read_catalogue(conn: psycopg.Connection) -> PointCatalogue:
    devices: dict[str, list[DeviceInfo]] = {}
    for station_code, *device in conn.execute(DEVICES_SQL).fetchall():
        devices.setdefault(station_code, []).append(DeviceInfo(*device))
    stations = tuple(StationInfo(code, name_zh, name_en, zone, tuple(devices.get(code, ())))
                     for code, name_zh, name_en, zone in conn.execute(STATIONS_SQL).fetchall())

    metrics = tuple(MetricInfo(*row) for row in conn.execute(METRICS_SQL).fetchall())
    units: dict[str, tuple[str, ...]] = {metric.unit: (metric.unit,) for metric in metrics}
    for to_unit, from_unit in conn.execute(CONVERSIONS_SQL).fetchall():
        units[to_unit] = (*units.get(to_unit, (to_unit,)), from_unit)
    return PointCatalogue(stations, metrics, units)


# ---------------------------------------------------------------- proposals


@dataclass(frozen=True)
class ColumnProposal:
    """Metric, device and unit proposed for one column; metric None means the column is not imported.

    `unit` is the file's unit when there is one, else the metric's catalogue
    unit, and then `unit_assumed` is set so the page can ask the operator.
    `basis` is one of the BASIS_* codes.
    """

    header: str
    metric: str | None
    device: str | None
    unit: str | None
    basis: str
    unit_assumed: bool = False


@dataclass(frozen=True)
class _NameMatch:
    level: int
    length: int
    basis: str
    metric: MetricInfo


def propose_columns(layout: FileLayout, station: StationInfo, catalogue: PointCatalogue) -> list[ColumnProposal]:
    """Propose metric, device and unit for every column of `layout` but the time column, in file order."""
    proposals = []
    for index, header in enumerate(layout.headers):
        if index == layout.time_index:
            continue
        unit = layout.units[index] if index < len(layout.units) else None
        proposals.append(_propose_column(header, unit, station, catalogue))
    return proposals


def _propose_column(header: str, file_unit: str | None, station: StationInfo,
                    catalogue: PointCatalogue) -> ColumnProposal:
    device = _pick_device(header, station)
    if not header:
        return ColumnProposal(header, None, device, file_unit, BASIS_NONE)

    name = split_unit(header)[0]
    matches = [match for metric in catalogue.metrics if (match := _match_name(name, metric)) is not None]
    if not matches:
        return _propose_by_unit(header, file_unit, device, catalogue)

    fitting = [match for match in matches if file_unit is None or catalogue.converts(file_unit, match.metric)]
    best = _best_match(fitting or matches)
    if file_unit is None:
        return ColumnProposal(header, best.metric.code, device, best.metric.unit, best.basis, unit_assumed=True)
    basis = best.basis if fitting else BASIS_UNKNOWN_UNIT
    return ColumnProposal(header, best.metric.code, device, file_unit, basis)


def _propose_by_unit(header: str, file_unit: str | None, device: str | None,
                     catalogue: PointCatalogue) -> ColumnProposal:
    """Propose the one metric that the file unit converts into; none when the unit fits several or none."""
    if file_unit:
        fitting = [metric for metric in catalogue.metrics if catalogue.converts(file_unit, metric)]
        if len(fitting) == 1:
            return ColumnProposal(header, fitting[0].code, device, file_unit, BASIS_UNIT_ONLY)
    return ColumnProposal(header, None, device, file_unit, BASIS_NONE)


def _best_match(matches: list[_NameMatch]) -> _NameMatch:
    """Return the strongest match, the longest on a tie, and the earliest metric of the catalogue after that."""
    return max(matches, key=lambda match: (match.level, match.length))


def _match_name(name: str, metric: MetricInfo) -> _NameMatch | None:
    """Return how strongly a header name matches a metric's names, or None when it does not.

    NOTE: short SCADA tags such as L_T1 or F_PU1 contain no metric name, so
    no metric is proposed for them and the operator picks one.
    """
    if header_key(name) == metric.code:
        return _NameMatch(EXACT, len(metric.code), BASIS_METRIC_CODE, metric)
    key = _loose_key(name)
    if key in (_loose_key(metric.name_zh), _loose_key(metric.name_en), _loose_key(metric.code)):
        return _NameMatch(EXACT, len(key), BASIS_METRIC_NAME, metric)

    header_words = _meaningful_words(name)
    header_cjk = _cjk_text(name)
    metric_cjk = _cjk_text(metric.name_zh)
    contained = [len(metric_cjk)] if metric_cjk and metric_cjk in header_cjk else []
    for metric_name in (metric.name_en, metric.code):
        metric_words = _meaningful_words(metric_name)
        if metric_words and metric_words <= header_words:
            contained.append(sum(len(word) for word in metric_words))
    if contained:
        return _NameMatch(CONTAINS, max(contained), BASIS_NAME_CONTAINS, metric)

    part = max(_common_cjk_length(header_cjk, metric_cjk),
               _shared_word_length(header_words, _meaningful_words(metric.name_en) | _meaningful_words(metric.code)))
    return _NameMatch(PART, part, BASIS_NAME_PART, metric) if part else None


def _loose_key(text: str) -> str:
    """Return the header key without underscores, dots and hyphens, so Outlet-Pressure equals outlet pressure."""
    return LOOSE_KEY_DROPPED.sub("", header_key(text))


def _words(text: str) -> list[str]:
    parts = WORD_SEPARATORS.split(normalise_header(text).casefold())
    return [word for part in parts if (word := part.strip("."))]


def _meaningful_words(text: str) -> set[str]:
    """Return the words of `text` that can name a metric: no generic words, no numbers, no CJK text."""
    return {word for word in _words(text)
            if word not in GENERIC_WORDS and not CJK_CHARACTER.search(word) and not _is_number(word)}


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _cjk_text(text: str) -> str:
    return "".join(CJK_CHARACTER.findall(normalise_header(text)))


def _common_cjk_length(header_cjk: str, metric_cjk: str) -> int:
    """Return the length of the longest run of Chinese characters both names share, 0 below two characters."""
    if not header_cjk or not metric_cjk:
        return 0
    match = SequenceMatcher(None, header_cjk, metric_cjk, autojunk=False).find_longest_match()
    return match.size if match.size >= MIN_CJK_PART_CHARS else 0


def _shared_word_length(header_words: set[str], metric_words: set[str]) -> int:
    """Return the letters of the metric words found in the header, whole or at the start or end of a header word."""
    shared = 0
    for metric_word in metric_words:
        if metric_word in header_words or (
                len(metric_word) >= MIN_WORD_PART_CHARS
                and any(word.startswith(metric_word) or word.endswith(metric_word) for word in header_words)):
            shared += len(metric_word)
    return shared


# ---------------------------------------------------------------- devices


def _pick_device(header: str, station: StationInfo) -> str | None:
    """Return the station device the header names, else its device of kind station, else its first device.

    A device is named when its code or one of its names is in the header,
    either in one piece (`1号泵` in `1号泵 流量`) or word by word (`pump 1.1` in
    `Pump flow 1.1`). When several are named, the device whose code and names
    cover the most header words wins, then the one with the longest match.
    For example, `Inflow to tunnel F1` names both the tunnel and meter F1. The
    meter wins because its name "tunnel inflow meter F1" covers three words.
    """
    text = normalise_header(header).casefold()
    header_words = set(_words(header))
    named = []
    for order, device in enumerate(station.devices):
        names = [name for name in (device.code, device.name_zh, device.name_en) if name]
        matched = [len(name) for name in names if _names_device(text, header_words, name)]
        if matched:
            device_words = set().union(*(_words(name) for name in names))
            named.append((len(header_words & device_words), max(matched), -order, device.code))
    if named:
        return max(named)[3]

    fallback = next((device for device in station.devices if device.kind == "station"), None)
    fallback = fallback or (station.devices[0] if station.devices else None)
    return fallback.code if fallback is not None else None


def _names_device(text: str, header_words: set[str], name: str) -> bool:
    name_text = normalise_header(name).casefold()
    name_words = set(_words(name))
    return _contains_bounded(text, name_text) or bool(name_words and name_words <= header_words)


def _contains_bounded(text: str, part: str) -> bool:
    """Tell whether `part` occurs in `text` with no letter or digit glued to it: P1 is not in "P10 flow"."""
    start = text.find(part)
    while start >= 0:
        before = text[start - 1] if start > 0 else " "
        after = text[start + len(part)] if start + len(part) < len(text) else " "
        if not (_glues(before, part[0]) or _glues(after, part[-1])):
            return True
        start = text.find(part, start + 1)
    return False


def _glues(neighbour: str, edge: str) -> bool:
    """Tell whether two adjacent characters run together into one ASCII word or number."""
    return neighbour.isascii() and neighbour.isalnum() and edge.isascii() and edge.isalnum()


# ---------------------------------------------------------------- profile


def build_profile(name: str, layout: FileLayout, station: StationInfo, proposals: Sequence[ColumnProposal],
                  sample_interval_s: int | None = None) -> Profile:
    """Build the validated profile that imports the proposals that have a metric, with the station's devices they use.

    Raises IngestError, with a catalogue key, when nothing is mapped, when two
    columns map to the same device and metric, or when a column's header or
    device is not in the file or station.
    """
    if not name.strip():
        raise IngestError("the profile name is empty; give the profile a name such as the station code",
                          "mapping.error.no_profile_name")
    mapped = [proposal for proposal in proposals if proposal.metric]
    if not mapped:
        raise IngestError(f"no column of {layout.file_name} is mapped to a metric, so profile {name!r} would import "
                          "nothing; pick a metric for at least one column", "mapping.error.nothing_mapped",
                          file=layout.file_name, profile=name)

    for proposal in mapped:
        _check_header(proposal, layout)
        _check_device(proposal, station)
    _check_points(mapped)

    used = {proposal.device for proposal in mapped}
    body: dict[str, Any] = {
        "name": name.strip(),
        "format": layout.format,
        "header_row": layout.header_row,
        "unit_row": layout.unit_row,
        "time_column": layout.time_column,
        "time_format": layout.time_format,
        "sample_interval_s": sample_interval_s,
        "station": StationSpec(code=station.code, name_zh=station.name_zh, name_en=station.name_en,
                               timezone=station.timezone),
        "devices": tuple(DeviceSpec(code=device.code, kind=device.kind, name_zh=device.name_zh,
                                    name_en=device.name_en) for device in station.devices if device.code in used),
        "columns": {proposal.header: _column_spec(proposal, layout) for proposal in mapped},
    }
    if layout.format == "csv":
        body.update(encoding=layout.encoding, delimiter=layout.delimiter, decimal=layout.decimal)
    else:
        body["sheet"] = layout.sheet
    try:
        profile = Profile(**body)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(part) for part in issue['loc']) or 'profile'}: {issue['msg']}"
                             for issue in error.errors())
        raise IngestError(f"profile {name!r} built from {layout.file_name} is invalid: {problems}; "
                          "change the column mapping", "mapping.error.invalid_profile",
                          profile=name, problems=problems) from None
    log.info("mapping.profile_built", extra=fields(profile=profile.name, file=layout.file_name,
                                                   station=station.code, columns=len(profile.columns)))
    return profile


def _check_header(proposal: ColumnProposal, layout: FileLayout) -> None:
    """Raise IngestError unless the header's key occurs once in the file, because the importer finds columns by key."""
    key = header_key(proposal.header)
    count = sum(1 for header in layout.headers if header and header_key(header) == key)
    if count == 0:
        raise IngestError(f"column {proposal.header!r} is not a header of {layout.file_name}; "
                          f"its headers are {', '.join(repr(header) for header in layout.headers)}",
                          "mapping.error.unknown_column", column=proposal.header, file=layout.file_name)
    if count > 1:
        raise IngestError(f"{count} headers of {layout.file_name} read as {proposal.header!r}, so the import "
                          "cannot tell them apart; rename the copies in the file so each header is unique",
                          "mapping.error.duplicate_header", column=proposal.header, file=layout.file_name,
                          count=count)


def _check_device(proposal: ColumnProposal, station: StationInfo) -> None:
    codes = [device.code for device in station.devices]
    if proposal.device is None:
        raise IngestError(f"column {proposal.header!r} has no device; pick one of the devices of station "
                          f"{station.code!r} ({', '.join(codes) or 'none yet: add a device first'})",
                          "mapping.error.no_device", column=proposal.header, station=station.code,
                          devices=", ".join(codes) or "-")
    if proposal.device not in codes:
        raise IngestError(f"column {proposal.header!r} uses device {proposal.device!r}, which station "
                          f"{station.code!r} does not have; pick one of {', '.join(codes) or 'none'}",
                          "mapping.error.unknown_device", column=proposal.header, device=proposal.device,
                          station=station.code, devices=", ".join(codes) or "-")


def _check_points(mapped: Sequence[ColumnProposal]) -> None:
    """Raise IngestError when two columns map to one point (device and metric), which a profile rejects."""
    seen: dict[tuple[str | None, str | None], str] = {}
    for proposal in mapped:
        point = (proposal.device, proposal.metric)
        if point in seen:
            raise IngestError(f"columns {seen[point]!r} and {proposal.header!r} both map to device "
                              f"{proposal.device!r} metric {proposal.metric!r}; change the device or metric "
                              "of one of them, or leave one out", "mapping.error.same_point",
                              first=seen[point], second=proposal.header, device=proposal.device,
                              metric=proposal.metric)
        seen[point] = proposal.header


def _column_spec(proposal: ColumnProposal, layout: FileLayout) -> ColumnSpec:
    """Return the column's spec, with a unit only when the file does not already give that unit for the column."""
    key = header_key(proposal.header)
    index = next(index for index, header in enumerate(layout.headers) if header_key(header) == key)
    file_unit = layout.units[index] if index < len(layout.units) else None
    unit = None if proposal.unit == file_unit else proposal.unit
    return ColumnSpec(device=proposal.device, metric=proposal.metric, unit=unit)


def profile_yaml(profile: Profile) -> str:
    """Return a configs/ingest.yaml document that contains `profile` under profiles:, with a Chinese comment on top.

    Settings at their defaults are left out, except format and header_row,
    which an admin looks for first. Mappings of plain values are written in
    flow style, one device or column a line, as in configs/ingest.yaml.
    """
    body = profile.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    body = {"format": profile.format, "header_row": profile.header_row, **body}
    text = yaml.safe_dump({"profiles": {profile.name: body}}, allow_unicode=True, sort_keys=False,
                          default_flow_style=None, width=1000)
    return PROFILE_COMMENT.format(name=profile.name) + "\n" + text


def profiles_for_file(path: Path, profiles: dict[str, Profile]) -> list[Profile]:
    """Return the profiles that fit `path`: those whose `files` patterns match its name, else those it opens with.

    A profile opens a file when the file has its time column and every
    column it maps, so an export saved under another name still finds its
    profile by its headers. Each candidate reads the file's header rows and
    hashes the file once.
    """
    by_name = profiles_matching(path.name, profiles)
    if by_name:
        return by_name

    fitting = []
    for profile in profiles.values():
        try:
            prepare_sources([path], profile)
        except IngestError:
            continue
        fitting.append(profile)
    log.info("mapping.profiles_by_headers", extra=fields(file=path.name, profiles=[profile.name for profile in fitting]))
    return fitting

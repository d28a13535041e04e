"""Profile proposals for unknown exports: sniffing small files and the two real ones, proposals, profiles, imports.

Proposals are checked against the metric catalogue of the migrated test
database and the demo station's devices (core/demo.py). End-to-end tests
write the proposed profile as YAML, import the file with it and compare the
stored readings with the values written into the file.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from core.demo import DEVICES as DEMO_DEVICES
from core.i18n import LANGUAGES, t
from core.ingest import IngestError, import_files, load_profiles
from core.mapping import (BASIS_METRIC_CODE, BASIS_METRIC_NAME, BASIS_NAME_CONTAINS, BASIS_NAME_PART, BASIS_NONE,
                          BASIS_UNIT_ONLY, BASIS_UNKNOWN_UNIT, ColumnProposal, DeviceInfo, FileLayout, MetricInfo,
                          PointCatalogue, StationInfo, build_profile, load_point_catalogue, profile_yaml,
                          propose_columns, sniff_layout)
from core.profiles import Profile
from core.settings import load_settings
from tests.importtools import series_id, stored_value

SHANGHAI = ZoneInfo("Asia/Shanghai")
HSY_FILE = "hsy-blominmaki-2024-11.xlsx"
CTOWN_FILE = "batadal-ctown-2014.csv"
GB18030_HEADER = "时间,瞬时流量(m³/h),出口压力(MPa),有功功率(kW)"


@pytest.fixture(scope="module")
def catalogue(db_url) -> PointCatalogue:
    return load_point_catalogue(db_url)


@pytest.fixture(scope="module")
def ingest_settings(tmp_path_factory):
    return load_settings(data_dir=tmp_path_factory.mktemp("mapping-data"))


def demo_station(code: str) -> StationInfo:
    """A station with the demo generator's devices: station, well, pump-1 and pump-2."""
    devices = tuple(DeviceInfo(device.code, device.kind, device.name_zh, device.name_en) for device in DEMO_DEVICES)
    return StationInfo(code, "映射测试站", "mapping test station", "Asia/Shanghai", devices)


def station_of_profile(name: str) -> StationInfo:
    """The station and devices of a profile in configs/ingest.yaml, as the catalogue would list them."""
    profile = load_profiles()[name]
    devices = tuple(DeviceInfo(device.code, device.kind, device.name_zh, device.name_en) for device in profile.devices)
    return StationInfo(profile.station.code, profile.station.name_zh, profile.station.name_en,
                       profile.station.timezone, devices)


def proposed(proposals: list[ColumnProposal]) -> list[tuple]:
    return [(proposal.header, proposal.metric, proposal.device, proposal.unit, proposal.basis, proposal.unit_assumed)
            for proposal in proposals]


def proposed_profile(data: Path, station_code: str, catalogue: PointCatalogue,
                     sample_interval_s: int | None = None) -> Profile:
    """The profile built from the proposals for `data`, as the operator would accept them unchanged."""
    layout = sniff_layout(data)
    station = demo_station(station_code)
    return build_profile(station_code, layout, station, propose_columns(layout, station, catalogue), sample_interval_s)


def import_with_profile(db_url, tmp_path: Path, settings, profile, data: Path):
    """Write the profile's YAML into a temporary ingest.yaml and import `data` with it."""
    profiles_path = tmp_path / "ingest.yaml"
    profiles_path.write_text(profile_yaml(profile), encoding="utf-8")
    return import_files(db_url, [data], profile.name, settings=settings, profiles_path=profiles_path)


def layout_of(headers: tuple[str, ...], units: tuple[str | None, ...]) -> FileLayout:
    """A CSV layout with these headers and units, the first header being the time column."""
    return FileLayout(format="csv", encoding="utf-8-sig", delimiter=",", decimal=".", sheet=None, header_row=1,
                      unit_row=None, time_column=headers[0], time_format=None, headers=headers, units=units,
                      sample_rows=(), file_name="made-up.csv")


# ---------------------------------------------------------------- catalogue


def test_catalogue_lists_metrics_and_units(catalogue):
    metrics = {metric.code: metric for metric in catalogue.metrics}

    assert metrics["flow_rate"] == MetricInfo("flow_rate", "瞬时流量", "flow rate", "m³/h")
    assert metrics["outlet_pressure"] == MetricInfo("outlet_pressure", "出口压力", "outlet pressure", "MPa")
    assert metrics["pump_status"] == MetricInfo("pump_status", "运行状态", "run status", "")
    assert set(catalogue.units["MPa"]) == {"MPa", "kPa", "KPa", "Mpa", "Pa", "bar", "mH2O", "mWC"}
    assert set(catalogue.units["m³/h"]) == {"m³/h", "m3/h", "m^3/h", "M3/H", "M3/h", "L/s", "l/s", "m3/s", "m³/s",
                                            "m3/min", "m3/15 min", "m³/15 min"}
    assert catalogue.units[""] == ("",)


def test_catalogue_lists_station_devices_in_order(conn):
    conn.execute("SELECT public.ensure_station('map-catalogue', '目录测试站', 'catalogue test station', 'Asia/Shanghai')")
    conn.execute("SELECT public.ensure_device('map-catalogue', 'pump-2', 'pump', '2号泵', 'Pump 2')")
    conn.execute("SELECT public.ensure_device('map-catalogue', 'station', 'station', '全站', 'Whole station')")

    catalogue = load_point_catalogue(conn)
    station = next(station for station in catalogue.stations if station.code == "map-catalogue")

    assert station == StationInfo("map-catalogue", "目录测试站", "catalogue test station", "Asia/Shanghai",
                                  (DeviceInfo("pump-2", "pump", "2号泵", "Pump 2"),
                                   DeviceInfo("station", "station", "全站", "Whole station")))


def test_catalogue_without_select_privilege(conn):
    conn.execute("CREATE ROLE map_no_select NOLOGIN")
    conn.execute("SET ROLE map_no_select")

    with pytest.raises(IngestError) as raised:
        load_point_catalogue(conn)

    assert raised.value.key == "mapping.error.catalogue_privilege"
    assert raised.value.params["detail"] == "permission denied for table devices"


# ---------------------------------------------------------------- sniffing small files


def test_sniff_gb18030_csv(tmp_path):
    data = tmp_path / "gb.csv"
    data.write_bytes(f"{GB18030_HEADER}\n2024-05-01 08:00,120.5,0.35,45.2\n".encode("gb18030"))

    assert sniff_layout(data) == FileLayout(
        format="csv", encoding="gb18030", delimiter=",", decimal=".", sheet=None, header_row=1, unit_row=None,
        time_column="时间", time_format=None, headers=("时间", "瞬时流量(m3/h)", "出口压力(MPa)", "有功功率(kW)"),
        units=(None, "m3/h", "MPa", "kW"), sample_rows=(("2024-05-01 08:00", "120.5", "0.35", "45.2"),),
        file_name="gb.csv")


def test_sniff_utf8_bom_and_slash_dates(tmp_path):
    data = tmp_path / "bom.csv"
    data.write_bytes("\ufeff采集时间,1号泵 流量(m3/h),集水井液位(m)\n2024/5/1 8:00:00,98.5,2.25\n"
                     "2024/5/1 9:00:00,99,2.5\n".encode("utf-8"))

    layout = sniff_layout(data)

    assert (layout.encoding, layout.delimiter, layout.decimal) == ("utf-8-sig", ",", ".")
    assert (layout.time_column, layout.time_format) == ("采集时间", "%Y/%m/%d %H:%M:%S")
    assert layout.headers == ("采集时间", "1号泵 流量(m3/h)", "集水井液位(m)")
    assert layout.units == (None, "m3/h", "m")


def test_sniff_semicolons_and_decimal_comma(tmp_path):
    data = tmp_path / "semicolon.csv"
    data.write_text("time;Outlet pressure [kPa];Flow rate\n2024-05-03 00:00;350,5;1497,26\n"
                    "2024-05-03 01:00;351;1501,5\n", encoding="utf-8")

    layout = sniff_layout(data)

    assert (layout.delimiter, layout.decimal) == (";", ",")
    assert layout.units == (None, "kPa", None)
    assert layout.sample_rows == (("2024-05-03 00:00", "350,5", "1497,26"), ("2024-05-03 01:00", "351", "1501,5"))


def test_sniff_point_decimals_with_semicolons(tmp_path):
    data = tmp_path / "semicolon-point.csv"
    data.write_text("time;flow\n2024-05-03 00:00;1497.26\n", encoding="utf-8")

    assert sniff_layout(data).decimal == "."


def write_pump_workbook(path: Path) -> None:
    """A report workbook: a title line, the header, a unit row and two data rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "运行数据"
    sheet.append(["1号泵站运行日报"])
    sheet.append(["时间", "1号泵 瞬时流量", "1号泵 频率", "出口压力", "电量"])
    sheet.append([None, "m³/h", "Hz", "kPa", "kWh"])
    sheet.append([datetime(2024, 5, 7, 0, 0), 101.5, 49.5, 350, 12.25])
    sheet.append([datetime(2024, 5, 7, 1, 0), 102.25, 48.75, 351, 12.5])
    workbook.save(path)


def test_sniff_xlsx_title_and_unit_row(tmp_path):
    data = tmp_path / "report.xlsx"
    write_pump_workbook(data)

    assert sniff_layout(data) == FileLayout(
        format="xlsx", encoding="utf-8-sig", delimiter=",", decimal=".", sheet="运行数据", header_row=2, unit_row=3,
        time_column="时间", time_format=None, headers=("时间", "1号泵 瞬时流量", "1号泵 频率", "出口压力", "电量"),
        units=(None, "m3/h", "Hz", "kPa", "kWh"),
        sample_rows=(("2024-05-07 00:00:00", "101.5", "49.5", "350", "12.25"),
                     ("2024-05-07 01:00:00", "102.25", "48.75", "351", "12.5")),
        file_name="report.xlsx")


def test_sniff_xlsx_serial_day_numbers(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["Zeitpunkt", "Level (m)"])
    workbook.active.append([45413.5, 3.25])
    data = tmp_path / "serial.xlsx"
    workbook.save(data)

    layout = sniff_layout(data)

    assert (layout.time_column, layout.time_format, layout.unit_row) == ("Zeitpunkt", "excel", None)


def test_sniff_day_first_two_digit_year(tmp_path):
    data = tmp_path / "ctown-like.csv"
    data.write_text("DATETIME,L_T1,F_PU1\n06/01/14 00,0.5,98.25\n06/01/14 01,0.25,99.5\n", encoding="utf-8")

    layout = sniff_layout(data)

    assert (layout.time_column, layout.time_format, layout.time_format_ambiguous) == ("DATETIME", "%d/%m/%y %H", True)


def test_sniff_month_first_when_day_above_twelve(tmp_path):
    data = tmp_path / "us.csv"
    data.write_text("Date,Flow\n01/13/2024 08:00,5.5\n", encoding="utf-8")

    layout = sniff_layout(data)

    assert (layout.time_format, layout.time_format_ambiguous) == ("%m/%d/%Y %H:%M", False)


def test_sniff_finds_unnamed_time_column(tmp_path):
    data = tmp_path / "unnamed.csv"
    data.write_text("点位,记录\n1.5,2024-05-01T08:00:00+08:00\n", encoding="utf-8")

    layout = sniff_layout(data)

    assert (layout.time_column, layout.time_format) == ("记录", None)


# ---------------------------------------------------------------- sniffing errors


@pytest.mark.parametrize(("name", "content", "key", "params"), [
    ("empty.csv", b"", "mapping.error.empty_file", {"file": "empty.csv"}),
    ("blank.csv", b"\n\n", "mapping.error.empty_file", {"file": "blank.csv"}),
    ("report.xls", b"\xd0\xcf\x11\xe0", "mapping.error.unsupported_suffix",
     {"file": "report.xls", "suffix": ".xls", "suffixes": ".csv, .txt, .tsv, .xlsx, .xlsm"}),
    ("no-time.csv", "流量,压力\n1.5,0.3\n".encode(), "mapping.error.no_time_column",
     {"file": "no-time.csv", "headers": "流量, 压力"}),
    ("chinese-dates.csv", "时间,流量\n2024年5月1日 08:00,1.5\n".encode(), "mapping.error.unknown_time_format",
     {"file": "chinese-dates.csv", "column": "时间", "value": "2024年5月1日 08:00"}),
    ("header-only.csv", "时间,流量\n".encode(), "mapping.error.no_data_rows", {"file": "header-only.csv"}),
    ("one-column.csv", "时间\n2024-05-01 08:00\n".encode(), "mapping.error.no_header_row",
     {"file": "one-column.csv", "rows": 6}),
    ("broken.xlsx", b"PK\x03\x04 not really a workbook", "mapping.error.not_xlsx", {"file": "broken.xlsx"}),
])
def test_sniff_error_names_file_and_fix(tmp_path, name, content, key, params):
    data = tmp_path / name
    data.write_bytes(content)

    with pytest.raises(IngestError) as raised:
        sniff_layout(data)

    assert raised.value.key == key
    assert raised.value.params == params
    for lang in LANGUAGES:
        assert "{" not in t(key, lang, **params), f"{key} in {lang} leaves a parameter unfilled"


def test_sniff_missing_file(tmp_path):
    with pytest.raises(IngestError) as raised:
        sniff_layout(tmp_path / "gone.csv")

    assert raised.value.key == "ingest.error.file_not_found"


# ---------------------------------------------------------------- proposals


def test_propose_gb18030_headers(tmp_path, catalogue):
    data = tmp_path / "gb.csv"
    data.write_bytes(f"{GB18030_HEADER}\n2024-05-01 08:00,120.5,0.35,45.2\n".encode("gb18030"))

    proposals = propose_columns(sniff_layout(data), demo_station("map-gb18030"), catalogue)

    assert proposed(proposals) == [
        ("瞬时流量(m3/h)", "flow_rate", "station", "m3/h", BASIS_METRIC_NAME, False),
        ("出口压力(MPa)", "outlet_pressure", "station", "MPa", BASIS_METRIC_NAME, False),
        ("有功功率(kW)", "power", "station", "kW", BASIS_METRIC_NAME, False),
    ]


def test_propose_devices_named_in_headers(catalogue):
    layout = layout_of(("时间", "1号泵 流量(m3/h)", "2号泵有功功率(kW)", "集水井液位(m)", "Pump 1 head (m)", "备注"),
                       (None, "m3/h", "kW", "m", "m", None))

    proposals = propose_columns(layout, demo_station("map-devices"), catalogue)

    assert proposed(proposals) == [
        ("1号泵 流量(m3/h)", "flow_rate", "pump-1", "m3/h", BASIS_NAME_PART, False),
        ("2号泵有功功率(kW)", "power", "pump-2", "kW", BASIS_NAME_CONTAINS, False),
        ("集水井液位(m)", "level", "well", "m", BASIS_NAME_CONTAINS, False),
        ("Pump 1 head (m)", "head", "pump-1", "m", BASIS_NAME_CONTAINS, False),
        ("备注", None, "station", None, BASIS_NONE, False),
    ]


def test_propose_codes_english_names_and_units(catalogue):
    layout = layout_of(("time", "Outlet pressure [kPa]", "inlet_pressure", "1号泵出口压力", "Flow rate", "Speed (Hz)",
                        "出口压力(psi)", "Temperature (°C)", "压力(m)"),
                       (None, "kPa", None, None, None, "Hz", "psi", "°C", "m"))

    proposals = propose_columns(layout, demo_station("map-codes"), catalogue)

    assert proposed(proposals) == [
        ("Outlet pressure [kPa]", "outlet_pressure", "station", "kPa", BASIS_METRIC_NAME, False),
        ("inlet_pressure", "inlet_pressure", "station", "MPa", BASIS_METRIC_CODE, True),
        # The whole name 出口压力 beats the shorter 压力 that the header also contains.
        ("1号泵出口压力", "outlet_pressure", "pump-1", "MPa", BASIS_NAME_CONTAINS, True),
        ("Flow rate", "flow_rate", "station", "m³/h", BASIS_METRIC_NAME, True),
        ("Speed (Hz)", "frequency", "station", "Hz", BASIS_UNIT_ONLY, False),
        ("出口压力(psi)", "outlet_pressure", "station", "psi", BASIS_UNKNOWN_UNIT, False),
        ("Temperature (°C)", None, "station", "°C", BASIS_NONE, False),
        ("压力(m)", "pressure", "station", "m", BASIS_UNKNOWN_UNIT, False),
    ]


def test_propose_unit_picks_between_names(catalogue):
    """有功电量 contains energy's name 电量 and shares 有功 with power's 有功功率: the unit decides."""
    layout = layout_of(("时间", "有功电量(kWh)", "有功电量(kW)"), (None, "kWh", "kW"))

    proposals = propose_columns(layout, demo_station("map-units"), catalogue)

    assert [(proposal.metric, proposal.basis) for proposal in proposals] == [
        ("energy", BASIS_NAME_CONTAINS), ("power", BASIS_NAME_PART)]


def test_propose_device_code_not_inside_longer_code(catalogue):
    devices = tuple(DeviceInfo(code, "pump", f"{number}号泵", f"pump {code}")
                    for code, number in (("P1", 1), ("P10", 10), ("P11", 11)))
    station = StationInfo("map-codes", "编码站", "code station", "Asia/Shanghai", devices)
    layout = layout_of(("time", "P10 flow", "P1 flow", "11号泵 频率", "1号泵 频率", "Flow P11"),
                       (None, None, None, None, None, None))

    devices_proposed = [proposal.device for proposal in propose_columns(layout, station, catalogue)]

    assert devices_proposed == ["P10", "P1", "P11", "P1", "P11"]


def test_propose_first_device_without_station_kind(catalogue):
    station = StationInfo("map-first", "首设备站", "first device station", "Asia/Shanghai",
                          (DeviceInfo("T1", "tank", "水箱", "tank"), DeviceInfo("P1", "pump", "1号泵", "pump 1")))
    layout = layout_of(("time", "液位(m)"), (None, "m"))

    assert propose_columns(layout, station, catalogue)[0].device == "T1"


# ---------------------------------------------------------------- real files


def test_sniff_real_hsy_workbook(shared_data):
    layout = sniff_layout(shared_data / HSY_FILE)

    assert (layout.format, layout.sheet, layout.header_row, layout.unit_row) == ("xlsx", "Taul1", 1, 2)
    assert (layout.time_column, layout.time_format, layout.time_format_ambiguous) == ("Time stamp", None, False)
    assert len(layout.headers) == 31
    assert layout.units[1:5] == ("m", "m3", "m3/h", "m3/15 min")
    assert layout.sample_rows[0][:2] == ("2024-11-15 00:00:00", "2.37150502204895")


def test_sniff_real_ctown_csv(shared_data):
    layout = sniff_layout(shared_data / CTOWN_FILE)

    assert (layout.format, layout.encoding, layout.delimiter, layout.decimal) == ("csv", "utf-8-sig", ",", ".")
    assert (layout.header_row, layout.unit_row) == (1, None)
    assert (layout.time_column, layout.time_format, layout.time_format_ambiguous) == ("DATETIME", "%d/%m/%y %H", True)
    assert len(layout.headers) == 45
    assert set(layout.units) == {None}
    assert len(layout.sample_rows) == 10


def test_propose_real_hsy_matches_hand_profile(shared_data, catalogue):
    """Every metric and device agrees with the hand-written profile; only the price unit differs."""
    hand = load_profiles()["hsy-blominmaki"]
    layout = sniff_layout(shared_data / HSY_FILE)

    proposals = propose_columns(layout, station_of_profile("hsy-blominmaki"), catalogue)

    assert [(proposal.header, proposal.metric, proposal.device) for proposal in proposals] == [
        (header, spec.metric, spec.device) for header, spec in hand.columns.items()]
    # The hand profile reads the prices as c/kWh, because the values do not fit EUR/kWh.
    assert {proposal.unit for proposal in proposals if proposal.metric == "electricity_price"} == {"EUR/kWh"}
    assert all(not proposal.unit_assumed for proposal in proposals)


def test_propose_real_ctown_devices_only(shared_data, catalogue):
    """Short SCADA tags such as L_T1 name a device but no metric, so only ATT_FLAG gets one."""
    hand = load_profiles()["batadal-ctown"]
    layout = sniff_layout(shared_data / CTOWN_FILE)

    proposals = propose_columns(layout, station_of_profile("batadal-ctown"), catalogue)

    assert {proposal.header: proposal.device for proposal in proposals} == {
        header: spec.device for header, spec in hand.columns.items()}
    assert [(proposal.header, proposal.metric, proposal.unit) for proposal in proposals if proposal.metric] == [
        ("ATT_FLAG", "attack_flag", "")]


def test_import_real_hsy_with_proposed_profile(db_url, shared_data, tmp_path, ingest_settings, catalogue):
    """The unchanged proposals import every reading of the HSY workbook, each unit converted, none rejected."""
    layout = sniff_layout(shared_data / HSY_FILE)
    station = dataclasses.replace(station_of_profile("hsy-blominmaki"), code="map-hsy")
    profile = build_profile("map-hsy", layout, station, propose_columns(layout, station, catalogue), 900)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, shared_data / HSY_FILE)

    assert len(profile.columns) == 30
    assert summary.timestamps == 1_536
    assert summary.rows_rejected == 0
    assert summary.rows_accepted + summary.rows_missing == 1_536 * 30


# ---------------------------------------------------------------- profiles and imports


def test_profile_yaml_round_trip(tmp_path, catalogue):
    data = tmp_path / "gb.csv"
    data.write_bytes(f"{GB18030_HEADER}\n2024-05-01 08:00,120.5,0.35,45.2\n".encode("gb18030"))
    profile = proposed_profile(data, "map-yaml", catalogue, 3600)
    path = tmp_path / "ingest.yaml"

    path.write_text(profile_yaml(profile), encoding="utf-8")

    assert load_profiles(path) == {"map-yaml": profile}
    assert profile_yaml(profile) == (
        "# 导入方案 map-yaml：按文件列名自动生成，请核对每列的指标、设备和单位，"
        "再把 profiles: 下面的内容粘贴到 configs/ingest.yaml 的 profiles: 下。\n"
        "profiles:\n"
        "  map-yaml:\n"
        "    format: csv\n"
        "    header_row: 1\n"
        "    time_column: 时间\n"
        "    encoding: gb18030\n"
        "    sample_interval_s: 3600\n"
        "    station: {code: map-yaml, name_zh: 映射测试站, name_en: mapping test station, timezone: Asia/Shanghai}\n"
        "    devices:\n"
        "    - {code: station, kind: station, name_zh: 全站, name_en: Whole station}\n"
        "    columns:\n"
        "      瞬时流量(m3/h): {device: station, metric: flow_rate}\n"
        "      出口压力(MPa): {device: station, metric: outlet_pressure}\n"
        "      有功功率(kW): {device: station, metric: power}\n")


def test_import_gb18030_with_proposed_profile(db_url, tmp_path, ingest_settings, catalogue, conn):
    data = tmp_path / "gb.csv"
    data.write_bytes(f"{GB18030_HEADER}\n2024-05-01 08:00,120.5,0.35,45.2\n"
                     "2024-05-01 09:00,121.25,0.375,46\n".encode("gb18030"))
    profile = proposed_profile(data, "map-gb18030", catalogue, 3600)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, data)
    second_row = datetime(2024, 5, 1, 9, 0, tzinfo=SHANGHAI)

    assert (summary.rows_accepted, summary.rows_rejected) == (6, 0)
    assert stored_value(conn, series_id(conn, "map-gb18030", "station", "flow_rate"), second_row) == 121.25
    assert stored_value(conn, series_id(conn, "map-gb18030", "station", "outlet_pressure"), second_row) == 0.375
    assert stored_value(conn, series_id(conn, "map-gb18030", "station", "power"), second_row) == 46


def test_import_bom_file_with_pump_devices(db_url, tmp_path, ingest_settings, catalogue, conn):
    data = tmp_path / "bom.csv"
    data.write_bytes("\ufeff采集时间,1号泵 流量(m3/h),2号泵有功功率(kW),集水井液位(m),备注\n"
                     "2024/5/2 8:00:00,98.5,31.25,2.25,巡检\n".encode("utf-8"))
    profile = proposed_profile(data, "map-bom", catalogue)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 2, 8, 0, tzinfo=SHANGHAI)

    assert [device.code for device in profile.devices] == ["well", "pump-1", "pump-2"]
    assert (summary.rows_accepted, summary.columns_ignored) == (3, ["bom.csv:备注"])
    assert stored_value(conn, series_id(conn, "map-bom", "pump-1", "flow_rate"), moment) == 98.5
    assert stored_value(conn, series_id(conn, "map-bom", "pump-2", "power"), moment) == 31.25
    assert stored_value(conn, series_id(conn, "map-bom", "well", "level"), moment) == 2.25


def test_import_decimal_comma_with_assumed_unit(db_url, tmp_path, ingest_settings, catalogue, conn):
    data = tmp_path / "semicolon.csv"
    data.write_text("time;Outlet pressure [kPa];Flow rate\n2024-05-03 00:00;350,5;1497,26\n", encoding="utf-8")
    profile = proposed_profile(data, "map-semicolon", catalogue)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 3, tzinfo=SHANGHAI)

    assert profile.columns["Flow rate"].unit == "m³/h"
    assert profile.columns["Outlet pressure [kPa]"].unit is None
    assert (summary.rows_accepted, summary.rows_rejected) == (2, 0)
    # The database multiplies by the factor in double precision.
    assert stored_value(conn, series_id(conn, "map-semicolon", "station", "outlet_pressure"), moment) == 350.5 * 0.001
    assert stored_value(conn, series_id(conn, "map-semicolon", "station", "flow_rate"), moment) == 1497.26


def test_import_xlsx_with_unit_row(db_url, tmp_path, ingest_settings, catalogue, conn):
    data = tmp_path / "report.xlsx"
    write_pump_workbook(data)
    layout = sniff_layout(data)
    station = demo_station("map-xlsx")
    proposals = propose_columns(layout, station, catalogue)
    profile = build_profile("map-xlsx", layout, station, proposals, 3600)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, data)
    second_row = datetime(2024, 5, 7, 1, 0, tzinfo=SHANGHAI)

    assert proposed(proposals) == [
        ("1号泵 瞬时流量", "flow_rate", "pump-1", "m3/h", BASIS_NAME_CONTAINS, False),
        ("1号泵 频率", "frequency", "pump-1", "Hz", BASIS_NAME_CONTAINS, False),
        ("出口压力", "outlet_pressure", "station", "kPa", BASIS_METRIC_NAME, False),
        ("电量", "energy", "station", "kWh", BASIS_METRIC_NAME, False),
    ]
    assert (profile.sheet, profile.header_row, profile.unit_row) == ("运行数据", 2, 3)
    assert (summary.rows_accepted, summary.rows_rejected) == (8, 0)
    assert stored_value(conn, series_id(conn, "map-xlsx", "pump-1", "flow_rate"), second_row) == 102.25
    assert stored_value(conn, series_id(conn, "map-xlsx", "pump-1", "frequency"), second_row) == 48.75
    assert stored_value(conn, series_id(conn, "map-xlsx", "station", "outlet_pressure"), second_row) == 351 * 0.001
    assert stored_value(conn, series_id(conn, "map-xlsx", "station", "energy"), second_row) == 12.5


def test_import_day_first_after_operator_edits(db_url, tmp_path, ingest_settings, catalogue, conn):
    """No metric is proposed for L_T1 or F_PU1; the operator picks them, and the day-first times import."""
    data = tmp_path / "ctown-like.csv"
    data.write_text("DATETIME,L_T1,F_PU1\n06/01/14 00,0.5,98.25\n06/01/14 01,0.25,99.5\n", encoding="utf-8")
    layout = sniff_layout(data)
    station = demo_station("map-dayfirst")
    level, flow = propose_columns(layout, station, catalogue)
    edited = [dataclasses.replace(level, metric="level", device="well", unit="m"),
              dataclasses.replace(flow, metric="flow_rate", device="pump-1", unit="L/s")]
    profile = build_profile("map-dayfirst", layout, station, edited, 3600)

    summary = import_with_profile(db_url, tmp_path, ingest_settings, profile, data)
    second_row = datetime(2014, 1, 6, 1, 0, tzinfo=SHANGHAI)

    assert (level.metric, level.basis) == (None, BASIS_NONE)
    assert (flow.metric, flow.basis) == (None, BASIS_NONE)
    assert (summary.rows_accepted, summary.rows_rejected) == (4, 0)
    assert stored_value(conn, series_id(conn, "map-dayfirst", "well", "level"), second_row) == 0.25
    assert stored_value(conn, series_id(conn, "map-dayfirst", "pump-1", "flow_rate"), second_row) == 99.5 * 3.6


# ---------------------------------------------------------------- profile errors


def gb18030_layout() -> FileLayout:
    return layout_of(("时间", "瞬时流量(m3/h)", "出口压力(MPa)", "流量"), (None, "m3/h", "MPa", None))


def build_error(proposals: list[ColumnProposal], layout: FileLayout | None = None) -> IngestError:
    with pytest.raises(IngestError) as raised:
        build_profile("map-errors", layout or gb18030_layout(), demo_station("map-errors"), proposals)
    for lang in LANGUAGES:
        assert "{" not in t(raised.value.key, lang, **raised.value.params)
    return raised.value


def test_build_rejects_nothing_mapped():
    error = build_error([ColumnProposal("瞬时流量(m3/h)", None, "station", "m3/h", BASIS_NONE)])

    assert (error.key, error.params) == ("mapping.error.nothing_mapped", {"file": "made-up.csv", "profile": "map-errors"})


def test_build_rejects_two_columns_one_point():
    error = build_error([ColumnProposal("瞬时流量(m3/h)", "flow_rate", "pump-1", "m3/h", BASIS_METRIC_NAME),
                         ColumnProposal("流量", "flow_rate", "pump-1", "m³/h", BASIS_NAME_PART)])

    assert (error.key, error.params) == ("mapping.error.same_point", {
        "first": "瞬时流量(m3/h)", "second": "流量", "device": "pump-1", "metric": "flow_rate"})


def test_build_rejects_unknown_device():
    error = build_error([ColumnProposal("流量", "flow_rate", "pump-9", "m³/h", BASIS_NAME_PART)])

    assert (error.key, error.params) == ("mapping.error.unknown_device", {
        "column": "流量", "device": "pump-9", "station": "map-errors", "devices": "station, well, pump-1, pump-2"})


def test_build_rejects_header_not_in_file():
    error = build_error([ColumnProposal("扬程", "head", "pump-1", "m", BASIS_METRIC_NAME)])

    assert (error.key, error.params["column"]) == ("mapping.error.unknown_column", "扬程")


def test_build_rejects_repeated_header():
    layout = layout_of(("时间", "流量", "流量 "), (None, None, None))

    error = build_error([ColumnProposal("流量", "flow_rate", "pump-1", "m³/h", BASIS_NAME_PART)], layout)

    assert (error.key, error.params["count"]) == ("mapping.error.duplicate_header", 2)


def test_build_rejects_mapped_time_column():
    error = build_error([ColumnProposal("时间", "flow_rate", "pump-1", "m³/h", BASIS_NAME_PART)])

    assert error.key == "mapping.error.invalid_profile"
    assert "time column '时间' must not also be mapped" in error.params["problems"]

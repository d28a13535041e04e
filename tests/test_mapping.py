"""Profile proposals for unknown exports: sniffing small files and the two real ones."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from core.i18n import LANGUAGES, t
from core.profiles import IngestError
from core.sniffing import FileLayout, sniff_layout

HSY_FILE = "hsy-blominmaki-2024-11.xlsx"
CTOWN_FILE = "batadal-ctown-2014.csv"
GB18030_HEADER = "时间,瞬时流量(m³/h),出口压力(MPa),有功功率(kW)"


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

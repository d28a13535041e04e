"""Import of the file shapes that SCADA and spreadsheet exports take, against the real database.

Every test writes its own small file, imports it through a profile and
compares the stored readings, their UTC times and the run's counts with
values written out here. Counting rule: a missing cell (empty, a missing
token or a sentinel) is not a reading, so rows_read = accepted + rejected +
duplicate, and missing cells are counted in rows_missing.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from core.ingest import IngestError, ImportSummary, import_files, load_profiles
from core.settings import load_settings
from tests.importtools import series_id, small_profile, stored_value, write_profiles

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


@pytest.fixture(scope="module")
def ingest_settings(tmp_path_factory):
    return load_settings(data_dir=tmp_path_factory.mktemp("formats-data"))


def run_import(url, tmp_path, settings, profile: dict, data: Path, **options) -> ImportSummary:
    profiles = write_profiles(tmp_path, {"under-test": profile})
    return import_files(url, [data], "under-test", settings=settings, profiles_path=profiles, **options)


def rejects_of(conn, summary: ImportSummary) -> list[tuple]:
    return conn.execute(
        "SELECT line_no, column_name, reason_code FROM public.import_rejects WHERE run_id = %s "
        "ORDER BY line_no, column_name", [summary.run_id]).fetchall()


def readings_of(conn, sid: int) -> list[tuple[datetime, float, int]]:
    return conn.execute("SELECT ts, value, quality FROM public.measurements WHERE series_id = %s ORDER BY ts",
                        [sid]).fetchall()


def assert_counts_add_up(summary: ImportSummary) -> None:
    assert summary.rows_read == summary.rows_accepted + summary.rows_rejected + summary.rows_duplicate


def pump_columns(**units) -> dict:
    """Columns of the Chinese test header, each with the unit given here (None: taken from the header)."""
    columns = {"瞬时流量(m³/h)": {"device": "P1", "metric": "flow_rate"},
               "出口压力(MPa)": {"device": "P1", "metric": "outlet_pressure"},
               "有功功率(kW)": {"device": "P1", "metric": "power"}}
    for header, unit in units.items():
        columns[header]["unit"] = unit
    return columns


# ---------------------------------------------------------------- encodings and delimiters


def test_gb18030_chinese_headers(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-gb18030", time_column="时间", encoding="auto", columns=pump_columns())
    data = tmp_path / "gb.csv"
    data.write_bytes("时间,瞬时流量(m³/h),出口压力(MPa),有功功率(kW)\n"
                     "2024-05-01 08:00,120.5,0.35,45.2\n".encode("gb18030"))

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 1, 8, 0, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 3
    assert stored_value(conn, series_id(conn, "fmt-gb18030", "P1", "flow_rate"), moment) == 120.5
    assert stored_value(conn, series_id(conn, "fmt-gb18030", "P1", "outlet_pressure"), moment) == 0.35
    assert stored_value(conn, series_id(conn, "fmt-gb18030", "P1", "power"), moment) == 45.2


def test_gbk_bytes_read_as_gb18030(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-gbk", time_column="时间", encoding="gb18030",
                            columns={"液位": {"device": "T1", "metric": "level", "unit": "m"}})
    data = tmp_path / "gbk.csv"
    data.write_bytes("时间,液位\n2024-05-01 08:00,3.25\n".encode("gbk"))

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)

    assert summary.rows_accepted == 1
    assert stored_value(conn, series_id(conn, "fmt-gbk", "T1", "level"),
                        datetime(2024, 5, 1, 8, 0, tzinfo=SHANGHAI)) == 3.25


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "auto"])
def test_bom_before_first_header(import_url, tmp_path, ingest_settings, conn, encoding):
    station = f"fmt-bom-{encoding}"
    data = tmp_path / "bom.csv"
    data.write_bytes(b"\xef\xbb\xbftime,flow,level\n2024-05-02 00:00,7.5,1.25\n")

    summary = run_import(import_url, tmp_path, ingest_settings, small_profile(station, encoding=encoding), data)

    assert summary.rows_accepted == 2
    assert stored_value(conn, series_id(conn, station, "P1", "flow_rate"),
                        datetime(2024, 5, 2, tzinfo=SHANGHAI)) == 7.5


def test_semicolons_and_decimal_comma(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-semicolon", delimiter="auto", decimal=",")
    data = tmp_path / "semicolon.csv"
    data.write_text('time;flow;level\n2024-05-03 00:00;1497,26;"2,5"\n', encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 3, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 2
    assert stored_value(conn, series_id(conn, "fmt-semicolon", "P1", "flow_rate"), moment) == 1497.26
    assert stored_value(conn, series_id(conn, "fmt-semicolon", "T1", "level"), moment) == 2.5


# Excel's "Unicode text" is UTF-16 little-endian with a byte order mark and tabs;
# some exporters leave the mark out.
@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_tab_separated_export(import_url, tmp_path, ingest_settings, conn, codec):
    station = f"fmt-{codec}"
    profile = small_profile(station, time_column="时间", encoding="auto", delimiter="auto",
                            columns={"液位(m)": {"device": "T1", "metric": "level"}})
    data = tmp_path / "unicode-text.txt"
    data.write_bytes("时间\t液位(m)\r\n2024-05-04 00:00\t4.5\r\n2024-05-04 01:00\t4.75\r\n".encode(codec))

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    sid = series_id(conn, station, "T1", "level")

    assert summary.rows_accepted == 2
    assert stored_value(conn, sid, datetime(2024, 5, 4, 0, 0, tzinfo=SHANGHAI)) == 4.5
    assert stored_value(conn, sid, datetime(2024, 5, 4, 1, 0, tzinfo=SHANGHAI)) == 4.75


# ---------------------------------------------------------------- headers


def test_header_matched_after_nfkc(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-nfkc", time_column="时间", columns=pump_columns())
    data = tmp_path / "nfkc.csv"
    # Full-width brackets, an ideographic space, a tab and a line break inside quoted header cells.
    data.write_text('时间\u3000,瞬时流量（m³/h）,"出口\t压力 （MPa）","有功功率\n(kW)"\n'
                    "2024-05-05 00:00,88.25,0.42,31.5\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 5, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 3
    assert summary.columns_ignored == []
    assert stored_value(conn, series_id(conn, "fmt-nfkc", "P1", "flow_rate"), moment) == 88.25
    assert stored_value(conn, series_id(conn, "fmt-nfkc", "P1", "outlet_pressure"), moment) == 0.42
    assert stored_value(conn, series_id(conn, "fmt-nfkc", "P1", "power"), moment) == 31.5


def test_unit_glued_to_header_converted(import_url, tmp_path, ingest_settings, conn):
    columns = {"出口压力": {"device": "P1", "metric": "outlet_pressure"},
               "有功功率": {"device": "P1", "metric": "power"}}
    profile = small_profile("fmt-glued-unit", time_column="时间", columns=columns)
    data = tmp_path / "glued.csv"
    data.write_text("时间,出口压力(kPa),有功功率【W】\n2024-05-06 00:00,350,45200\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 6, tzinfo=SHANGHAI)

    # The database multiplies by the factor in double precision: 350 * 0.001 is 0.35000000000000003.
    assert summary.rows_accepted == 2
    assert stored_value(conn, series_id(conn, "fmt-glued-unit", "P1", "outlet_pressure"), moment) == 350 * 0.001
    assert stored_value(conn, series_id(conn, "fmt-glued-unit", "P1", "power"), moment) == 45200 * 0.001


def test_xlsx_two_header_rows_merged(import_url, tmp_path, ingest_settings, conn):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "运行数据"
    sheet.append(["时间", "1号泵", None, "2号泵", None])
    sheet.append([None, "瞬时流量(m³/h)", "有功功率(kW)", "瞬时流量(m³/h)", "有功功率(kW)"])
    sheet.append([datetime(2024, 5, 7, 0, 0), 101.5, 30.25, 99.75, 29.5])
    sheet.merge_cells("A1:A2")
    sheet.merge_cells("B1:C1")
    sheet.merge_cells("D1:E1")
    data = tmp_path / "merged.xlsx"
    workbook.save(data)
    devices = [{"code": code, "kind": "pump", "name_zh": f"{code} 泵", "name_en": f"pump {code}"}
               for code in ("P1", "P2")]
    columns = {"1号泵 瞬时流量(m³/h)": {"device": "P1", "metric": "flow_rate"},
               "1号泵 有功功率(kW)": {"device": "P1", "metric": "power"},
               "2号泵 瞬时流量(m³/h)": {"device": "P2", "metric": "flow_rate"},
               "2号泵 有功功率(kW)": {"device": "P2", "metric": "power"}}
    profile = small_profile("fmt-merged", format="xlsx", sheet="运行数据", header_rows=2, time_column="时间",
                            time_format=None, devices=devices, columns=columns)

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 7, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 4
    assert stored_value(conn, series_id(conn, "fmt-merged", "P1", "flow_rate"), moment) == 101.5
    assert stored_value(conn, series_id(conn, "fmt-merged", "P1", "power"), moment) == 30.25
    assert stored_value(conn, series_id(conn, "fmt-merged", "P2", "flow_rate"), moment) == 99.75
    assert stored_value(conn, series_id(conn, "fmt-merged", "P2", "power"), moment) == 29.5


def test_csv_two_header_rows_forward_filled(import_url, tmp_path, ingest_settings, conn):
    columns = {"1号泵 流量": {"device": "P1", "metric": "flow_rate", "unit": "m3/h"},
               "1号泵 液位": {"device": "T1", "metric": "level", "unit": "m"}}
    profile = small_profile("fmt-csv-levels", header_rows=2, columns=columns)
    data = tmp_path / "levels.csv"
    data.write_text("time,1号泵,\n,流量,液位\n2024-05-07 01:00,12.5,2.75\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    moment = datetime(2024, 5, 7, 1, 0, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 2
    assert stored_value(conn, series_id(conn, "fmt-csv-levels", "P1", "flow_rate"), moment) == 12.5
    assert stored_value(conn, series_id(conn, "fmt-csv-levels", "T1", "level"), moment) == 2.75


# ---------------------------------------------------------------- times


def set_builtin_number_format(path: Path, custom_format: str, builtin_id: int) -> None:
    """Rewrite the workbook so cells styled with `custom_format` use built-in number format `builtin_id`.

    openpyxl writes every non-default format as a custom one (id 164 and up),
    so a workbook whose cells use an East-Asian built-in date format is made
    by editing styles.xml.
    """
    rewritten = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/styles.xml":
                text = content.decode("utf-8")
                definition = re.search(f'<numFmt numFmtId="(\\d+)" formatCode="{re.escape(custom_format)}" */>', text)
                text = text.replace(definition.group(0), "")
                text = text.replace(f'numFmtId="{definition.group(1)}"', f'numFmtId="{builtin_id}"')
                content = text.encode("utf-8")
            target.writestr(item, content)
    shutil.move(rewritten, path)


def test_excel_serial_dates(import_url, tmp_path, ingest_settings, conn):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["时间", "液位(m)"])
    # 45420 is 2024-05-08 in the 1900 date system; 0.5 is noon.
    sheet.append([45420.0, 1.5])
    sheet.append([45420.5, 1.75])
    sheet.append([45421.0, 2.0])
    for row in (2, 3):
        sheet.cell(row=row, column=1).number_format = "yyyy-mm-dd hh:mm"
    data = tmp_path / "serial.xlsx"
    workbook.save(data)
    # Built-in format 22 would be read as a date; 31 (yyyy"年"m"月"d"日") is one of the
    # East-Asian built-in formats that openpyxl does not know and returns as a number.
    set_builtin_number_format(data, "yyyy-mm-dd hh:mm", 31)
    check = openpyxl.load_workbook(data, read_only=True)
    first_time_cell = next(check.active.iter_rows(min_row=2, max_row=2, values_only=True))[0]
    check.close()
    profile = small_profile("fmt-serial", format="xlsx", time_column="时间", time_format=None,
                            columns={"液位(m)": {"device": "T1", "metric": "level"}})

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    sid = series_id(conn, "fmt-serial", "T1", "level")

    assert first_time_cell == 45420.0
    assert summary.rows_accepted == 3
    assert [(ts, value) for ts, value, _ in readings_of(conn, sid)] == [
        (datetime(2024, 5, 8, 0, 0, tzinfo=SHANGHAI), 1.5),
        (datetime(2024, 5, 8, 12, 0, tzinfo=SHANGHAI), 1.75),
        (datetime(2024, 5, 9, 0, 0, tzinfo=SHANGHAI), 2.0)]


def test_excel_serial_dates_in_csv(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-serial-csv", time_format="excel")
    data = tmp_path / "serial.csv"
    data.write_text("time,flow,level\n45420.25,10.5,1.5\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)

    assert summary.rows_accepted == 2
    assert stored_value(conn, series_id(conn, "fmt-serial-csv", "P1", "flow_rate"),
                        datetime(2024, 5, 8, 6, 0, tzinfo=SHANGHAI)) == 10.5


def test_date_and_time_in_separate_columns(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-date-time", date_column="日期", time_column="时间",
                            time_format="%Y/%m/%d %H:%M:%S")
    data = tmp_path / "date-time.csv"
    data.write_text("日期,时间,flow,level\n2024/5/9,3:04:05,10.25,1.5\n2024/5/9,13:00:00,11.75,1.5\n",
                    encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    sid = series_id(conn, "fmt-date-time", "P1", "flow_rate")

    assert summary.timestamps == 2
    assert [(ts, value) for ts, value, _ in readings_of(conn, sid)] == [
        (datetime(2024, 5, 9, 3, 4, 5, tzinfo=SHANGHAI), 10.25),
        (datetime(2024, 5, 9, 13, 0, 0, tzinfo=SHANGHAI), 11.75)]


def test_xlsx_date_and_time_cells(import_url, tmp_path, ingest_settings, conn):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["日期", "时间", "液位(m)"])
    sheet.append([date(2024, 5, 10), time(6, 30), 1.25])
    sheet.append([datetime(2024, 5, 10), 0.75, 1.5])
    sheet.append([datetime(2024, 5, 10), "21:15:00", 1.75])
    data = tmp_path / "date-time.xlsx"
    workbook.save(data)
    profile = small_profile("fmt-date-time-xlsx", format="xlsx", date_column="日期", time_column="时间",
                            time_format=None, columns={"液位(m)": {"device": "T1", "metric": "level"}})

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    sid = series_id(conn, "fmt-date-time-xlsx", "T1", "level")

    assert summary.rows_accepted == 3
    assert [(ts, value) for ts, value, _ in readings_of(conn, sid)] == [
        (datetime(2024, 5, 10, 6, 30, tzinfo=SHANGHAI), 1.25),
        (datetime(2024, 5, 10, 18, 0, tzinfo=SHANGHAI), 1.5),
        (datetime(2024, 5, 10, 21, 15, tzinfo=SHANGHAI), 1.75)]


def helsinki_fall_back_file(tmp_path: Path) -> Path:
    """Quarter-hours across the end of summer time in Helsinki: 03:00-03:45 occur twice."""
    local_times = ["02:45", "03:00", "03:15", "03:30", "03:45", "03:00", "03:15", "03:30", "03:45", "04:00"]
    lines = ["time,level"] + [f"2024-10-27 {clock},{index}" for index, clock in enumerate(local_times, start=1)]
    data = tmp_path / "fall-back.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


def helsinki_profile(station: str, **overrides) -> dict:
    profile = small_profile(station, columns={"level": {"device": "T1", "metric": "level", "unit": "m"}},
                            **overrides)
    profile["station"] = {**profile["station"], "timezone": "Europe/Helsinki"}
    return profile


def test_fall_back_hour_kept_in_file_order(import_url, tmp_path, ingest_settings, conn):
    data = helsinki_fall_back_file(tmp_path)

    summary = run_import(import_url, tmp_path, ingest_settings, helsinki_profile("fmt-helsinki"), data)
    stored = readings_of(conn, series_id(conn, "fmt-helsinki", "T1", "level"))
    first_run = [datetime(2024, 10, 27, 0, minute, tzinfo=UTC) for minute in (0, 15, 30, 45)]
    second_run = [datetime(2024, 10, 27, 1, minute, tzinfo=UTC) for minute in (0, 15, 30, 45)]

    assert summary.rows_read == 10
    assert summary.rows_accepted == 10
    assert summary.rows_duplicate == 0
    assert [(ts, value) for ts, value, _ in stored] == (
        [(datetime(2024, 10, 26, 23, 45, tzinfo=UTC), 1.0)]
        + list(zip(first_run, [2.0, 3.0, 4.0, 5.0]))
        + list(zip(second_run, [6.0, 7.0, 8.0, 9.0]))
        + [(datetime(2024, 10, 27, 2, 0, tzinfo=UTC), 10.0)])
    assert [ts.utcoffset() for ts in (first_run[0].astimezone(ZoneInfo("Europe/Helsinki")),
                                      second_run[0].astimezone(ZoneInfo("Europe/Helsinki")))] == [
        timedelta(hours=3), timedelta(hours=2)]


def test_fall_back_hour_rejected_when_asked(import_url, tmp_path, ingest_settings, conn):
    data = helsinki_fall_back_file(tmp_path)
    profile = helsinki_profile("fmt-helsinki-reject", ambiguous_time="reject")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    stored = readings_of(conn, series_id(conn, "fmt-helsinki-reject", "T1", "level"))

    assert summary.rows_accepted == 2
    assert summary.rows_rejected == 8
    assert rejects_of(conn, summary) == [(line, "level", "ambiguous_local_time") for line in range(3, 11)]
    assert [value for _, value, _ in stored] == [1.0, 10.0]


def test_berlin_fall_back_hour(import_url, tmp_path, ingest_settings, conn):
    profile = helsinki_profile("fmt-berlin")
    profile["station"]["timezone"] = "Europe/Berlin"
    data = tmp_path / "berlin.csv"
    data.write_text("time,level\n2024-10-27 02:30,1\n2024-10-27 02:30,2\n2024-10-27 03:00,3\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    stored = readings_of(conn, series_id(conn, "fmt-berlin", "T1", "level"))

    assert summary.rows_accepted == 3
    assert [(ts, value) for ts, value, _ in stored] == [
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), 1.0),
        (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), 2.0),
        (datetime(2024, 10, 27, 2, 0, tzinfo=UTC), 3.0)]


def test_nonexistent_local_time_rejected(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "spring-forward.csv"
    data.write_text("time,level\n2024-03-31 02:45,1\n2024-03-31 03:30,2\n2024-03-31 04:00,3\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, helsinki_profile("fmt-spring"), data)
    stored = readings_of(conn, series_id(conn, "fmt-spring", "T1", "level"))

    assert rejects_of(conn, summary) == [(3, "level", "nonexistent_local_time")]
    assert [(ts, value) for ts, value, _ in stored] == [
        (datetime(2024, 3, 31, 0, 45, tzinfo=UTC), 1.0),
        (datetime(2024, 3, 31, 1, 0, tzinfo=UTC), 3.0)]


def test_explicit_offsets_honoured(import_url, tmp_path, ingest_settings, conn):
    profile = helsinki_profile("fmt-offsets", time_format=None)
    data = tmp_path / "offsets.csv"
    data.write_text("time,level\n2024-10-27T03:00:00+03:00,1\n2024-10-27T03:00:00+02:00,2\n"
                    "2024-10-27T01:30:00Z,3\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    stored = readings_of(conn, series_id(conn, "fmt-offsets", "T1", "level"))

    assert summary.tz_fallback == 0
    assert [(ts, value) for ts, value, _ in stored] == [
        (datetime(2024, 10, 27, 0, 0, tzinfo=UTC), 1.0),
        (datetime(2024, 10, 27, 1, 0, tzinfo=UTC), 2.0),
        (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), 3.0)]


# ---------------------------------------------------------------- rows


def test_duplicates_first_line_kept(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "duplicates.csv"
    data.write_text("time,flow,level\n"
                    "2024-05-11 00:00,10.0,1.0\n"
                    "2024-05-11 01:00,11.0,1.1\n"
                    "2024-05-11 00:00,12.0,abc\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, small_profile("fmt-duplicates"), data)
    details = conn.execute("SELECT line_no, column_name, reason_code, detail FROM public.import_rejects "
                           "WHERE run_id = %s ORDER BY line_no, column_name", [summary.run_id]).fetchall()
    moment = datetime(2024, 5, 11, tzinfo=SHANGHAI)

    assert (summary.rows_read, summary.rows_accepted, summary.rows_rejected, summary.rows_duplicate) == (6, 4, 1, 1)
    assert [row[:3] for row in details] == [(4, "flow", "duplicate_time"), (4, "level", "not_a_number")]
    assert details[0][3] == "same point and time as line 2, which is kept"
    assert stored_value(conn, series_id(conn, "fmt-duplicates", "P1", "flow_rate"), moment) == 10.0
    assert stored_value(conn, series_id(conn, "fmt-duplicates", "T1", "level"), moment) == 1.0


def test_duplicates_across_batches(import_url, tmp_path, ingest_settings, conn):
    settings = ingest_settings.model_copy(update={"ingest_batch_rows": 1000})
    start = datetime(2024, 5, 12)
    lines = ["time,flow,level"] + [f"{(start + timedelta(minutes=minute)):%Y-%m-%d %H:%M},{minute},1.0"
                                   for minute in range(600)]
    lines.append(f"{start:%Y-%m-%d %H:%M},999,2.0")
    data = tmp_path / "duplicates-far.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, settings, small_profile("fmt-duplicates-far"), data)
    moment = start.replace(tzinfo=SHANGHAI)

    assert summary.batches == 2
    assert (summary.rows_read, summary.rows_accepted, summary.rows_duplicate) == (1202, 1200, 2)
    assert rejects_of(conn, summary) == [(602, "flow", "duplicate_time"), (602, "level", "duplicate_time")]
    assert stored_value(conn, series_id(conn, "fmt-duplicates-far", "P1", "flow_rate"), moment) == 0.0
    assert stored_value(conn, series_id(conn, "fmt-duplicates-far", "T1", "level"), moment) == 1.0


@pytest.mark.parametrize("horizon_months, stored", [(240, True), (12, False)])
def test_row_in_2031_against_horizon(import_url, tmp_path, ingest_settings, conn, horizon_months, stored):
    station = f"fmt-horizon-{horizon_months}"
    settings = ingest_settings.model_copy(update={"ingest_partition_horizon_months": horizon_months})
    # A recent time, which every horizon of at least a month covers, and one in 2031.
    recent = datetime.now(SHANGHAI).replace(minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(days=1)
    data = tmp_path / "future.csv"
    data.write_text(f"time,flow,level\n{recent:%Y-%m-%d %H:%M},5.0,1.0\n2031-03-01 12:00,6.0,1.5\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, settings, small_profile(station), data)
    future = datetime(2031, 3, 1, 12, 0, tzinfo=SHANGHAI)
    partition = conn.execute(
        "SELECT m.tableoid::regclass::text FROM public.measurements AS m WHERE m.series_id = %s AND m.ts = %s",
        [series_id(conn, station, "P1", "flow_rate"), future]).fetchone()
    in_default = conn.execute("SELECT count(*) FROM public.measurements_default").fetchone()[0]

    assert_counts_add_up(summary)
    assert in_default == 0
    if stored:
        assert summary.rows_accepted == 4
        assert partition == ("measurements_p2031_03",)
    else:
        assert summary.rows_accepted == 2
        assert rejects_of(conn, summary) == [(3, "flow", "outside_horizon"), (3, "level", "outside_horizon")]
        assert partition is None


def test_missing_tokens_counted_as_missing(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "missing.csv"
    data.write_text("time,flow,level\n"
                    "2024-05-14 00:00,-,无\n"
                    "2024-05-14 01:00,#VALUE!,N/A\n"
                    "2024-05-14 02:00,,n/a\n"
                    "2024-05-14 03:00,12.5   ,1.5 \n"
                    "2024-05-14 04:00,NaN,1e999\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, small_profile("fmt-missing"), data)
    run_row = conn.execute("SELECT rows_read, rows_rejected, rows_duplicate, rows_missing FROM public.import_runs "
                           "WHERE run_id = %s", [summary.run_id]).fetchone()

    assert (summary.rows_read, summary.rows_accepted, summary.rows_rejected, summary.rows_missing) == (4, 2, 2, 6)
    assert rejects_of(conn, summary) == [(6, "flow", "not_finite"), (6, "level", "not_a_number")]
    assert stored_value(conn, series_id(conn, "fmt-missing", "P1", "flow_rate"),
                        datetime(2024, 5, 14, 3, 0, tzinfo=SHANGHAI)) == 12.5
    assert run_row == (4, 2, 0, 6)


def test_sentinel_counted_as_missing(import_url, tmp_path, ingest_settings, conn):
    profile = small_profile("fmt-sentinel", sentinel_values=[-9999])
    data = tmp_path / "sentinel.csv"
    data.write_text("time,flow,level\n"
                    "2024-05-15 00:00,-9999,-9999.0\n"
                    "2024-05-15 01:00,8.5,-9998\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)

    assert (summary.rows_read, summary.rows_accepted, summary.rows_rejected, summary.rows_missing) == (2, 1, 1, 2)
    assert rejects_of(conn, summary) == [(3, "level", "out_of_range")]
    assert readings_of(conn, series_id(conn, "fmt-sentinel", "T1", "level")) == []


# ---------------------------------------------------------------- long layout


def long_profile(station: str, **overrides) -> dict:
    profile = small_profile(
        station, layout="long", point_column="VarName", time_column="TimeString", value_column="VarValue",
        quality_column="Quality", quality_codes="opc_da", time_format="%d.%m.%Y %H:%M:%S",
        columns={"Pump1_Flow": {"device": "P1", "metric": "flow_rate", "unit": "m3/h"},
                 "Tank1_Level": {"device": "T1", "metric": "level", "unit": "m"}})
    profile.update(overrides)
    return profile


def test_long_layout_with_quality(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "wincc.csv"
    data.write_text('"VarName";"TimeString";"VarValue";"Quality"\n'
                    '"Pump1_Flow";"16.05.2024 00:00:00";12,5;192\n'
                    '"Tank1_Level";"16.05.2024 00:00:00";1,25;192\n'
                    '"Pump1_Flow";"16.05.2024 00:01:00";13,0;64\n'
                    '"Tank1_Level";"16.05.2024 00:01:00";1,5;0\n'
                    '"Valve9_Pos";"16.05.2024 00:01:00";55;192\n'
                    '"Pump1_Flow";"16.05.2024 00:02:00";14,0;77777\n', encoding="utf-8")
    profile = long_profile("fmt-long", delimiter=";", decimal=",")

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    start = datetime(2024, 5, 16, tzinfo=SHANGHAI)

    assert (summary.rows_read, summary.rows_accepted, summary.rows_rejected) == (5, 4, 1)
    assert summary.timestamps == 5
    assert summary.columns_ignored == ["wincc.csv:Valve9_Pos"]
    assert rejects_of(conn, summary) == [(7, "Pump1_Flow", "unknown_quality")]
    assert readings_of(conn, series_id(conn, "fmt-long", "P1", "flow_rate")) == [
        (start, 12.5, 0), (start + timedelta(minutes=1), 13.0, 1)]
    assert readings_of(conn, series_id(conn, "fmt-long", "T1", "level")) == [
        (start, 1.25, 0), (start + timedelta(minutes=1), 1.5, 2)]


def test_long_layout_quality_words(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "historian.csv"
    data.write_text("tag,time,value,status\n"
                    "Pump1_Flow,2024-05-17 00:00,1.5,Good\n"
                    "Pump1_Flow,2024-05-17 01:00,2.5,Questionable\n", encoding="utf-8")
    profile = long_profile("fmt-long-words", point_column="tag", time_column="time", value_column="value",
                           quality_column="status", time_format="%Y-%m-%d %H:%M",
                           quality_codes={"Good": "good", "Questionable": "uncertain", "Bad": "bad"})

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    start = datetime(2024, 5, 17, tzinfo=SHANGHAI)

    assert summary.rows_accepted == 2
    assert readings_of(conn, series_id(conn, "fmt-long-words", "P1", "flow_rate")) == [
        (start, 1.5, 0), (start + timedelta(hours=1), 2.5, 1)]


def test_long_layout_fall_back_per_tag(import_url, tmp_path, ingest_settings, conn):
    rows = []
    for tag in ("Pump1_Flow", "Tank1_Level"):
        for index, clock in enumerate(["03:30", "03:45", "03:30", "03:45"], start=1):
            rows.append(f"{tag};27.10.2024 {clock}:00;{index};192")
    data = tmp_path / "wincc-fall-back.csv"
    data.write_text("VarName;TimeString;VarValue;Quality\n" + "\n".join(rows) + "\n", encoding="utf-8")
    profile = long_profile("fmt-long-dst", delimiter=";")
    profile["station"] = {**profile["station"], "timezone": "Europe/Helsinki"}

    summary = run_import(import_url, tmp_path, ingest_settings, profile, data)
    expected = [(datetime(2024, 10, 27, 0, 30, tzinfo=UTC), 1.0), (datetime(2024, 10, 27, 0, 45, tzinfo=UTC), 2.0),
                (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), 3.0), (datetime(2024, 10, 27, 1, 45, tzinfo=UTC), 4.0)]

    assert summary.rows_accepted == 8
    for device, metric in (("P1", "flow_rate"), ("T1", "level")):
        stored = readings_of(conn, series_id(conn, "fmt-long-dst", device, metric))
        assert [(ts, value) for ts, value, _ in stored] == expected, metric


def test_long_layout_duplicate_and_no_tag(import_url, tmp_path, ingest_settings, conn):
    data = tmp_path / "wincc-duplicate.csv"
    data.write_text("VarName;TimeString;VarValue;Quality\n"
                    "Pump1_Flow;18.05.2024 00:00:00;3;192\n"
                    "Pump1_Flow;18.05.2024 00:00:00;4;192\n"
                    ";18.05.2024 00:00:00;5;192\n", encoding="utf-8")

    summary = run_import(import_url, tmp_path, ingest_settings, long_profile("fmt-long-dup", delimiter=";"), data)

    assert (summary.rows_read, summary.rows_accepted, summary.rows_rejected, summary.rows_duplicate) == (3, 1, 1, 1)
    assert rejects_of(conn, summary) == [(3, "Pump1_Flow", "duplicate_time"), (4, "", "unknown_point")]
    assert stored_value(conn, series_id(conn, "fmt-long-dup", "P1", "flow_rate"),
                        datetime(2024, 5, 18, tzinfo=SHANGHAI)) == 3.0


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("change, named", [
    ({"layout": "long", "value_column": "VarValue"}, "point_column"),
    ({"layout": "long", "point_column": "VarName", "value_column": "VarValue", "quality_column": "Q"},
     "quality_codes"),
    ({"quality_codes": "opc_da"}, "layout: long"),
    ({"header_rows": 2, "unit_row": 2}, "unit_row 2"),
    ({"ambiguous_time": "guess"}, "ambiguous_time"),
])
def test_invalid_profile_fields_named(tmp_path, change, named):
    profiles = write_profiles(tmp_path, {"broken": small_profile("fmt-broken", **change)})

    with pytest.raises(IngestError) as raised:
        load_profiles(profiles)

    assert named in str(raised.value)


def test_column_without_any_unit_named(import_url, tmp_path, ingest_settings):
    profile = small_profile("fmt-no-unit", columns={"flow": {"device": "P1", "metric": "flow_rate"}})
    data = tmp_path / "no-unit.csv"
    data.write_text("time,flow\n2024-05-19 00:00,1\n", encoding="utf-8")

    with pytest.raises(IngestError) as raised:
        run_import(import_url, tmp_path, ingest_settings, profile, data)

    assert "'flow'" in str(raised.value)
    assert "unit" in str(raised.value)

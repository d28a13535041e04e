"""Import page: upload, profile or proposed mapping, a check that writes nothing, the import, rejects.

The page runs in AppTest against a database of its own, as the import login
role. The profile tests upload the first lines of the real C-Town export
from ../shared/data, so the profile in configs/ingest.yaml reads them.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import yaml
from psycopg.conninfo import make_conninfo
from streamlit.testing.v1 import AppTest

from core import importjobs, mapping
from core.i18n import t
from core.ingest import import_files
from core.profiles import load_profiles
from core.settings import load_settings
from dashboard import ui
from tests.conftest import app_role_env
from tests.dbtools import module_database
from tests.importtools import series_id, station_readings, stored_value
from tests.pagetools import RUN_TIMEOUT_S, sign_in

IMPORTS_PAGE = "../pages/imports.py"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CTOWN_FILE = "batadal-ctown-2014.csv"
CTOWN_LINES = 24  # data lines of the slice: 2014-01-06 00:00 to 23:00
JOB_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def page_db_url(pg_server, db_url) -> str:
    """A database of its own, so that counts of stored readings are this module's only."""
    return module_database(pg_server, db_url, "pumpdash_page_imports")


@pytest.fixture
def page_env(monkeypatch, page_db_url, app_role_urls, tmp_path) -> Path:
    """The page's database URLs and a fresh data folder for uploads, runs and the archive; returns the data folder."""
    monkeypatch.setenv("DATABASE_URL", page_db_url)
    for name, value in app_role_env(app_role_urls, page_db_url).items():
        monkeypatch.setenv(name, value)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("PUMPDASH_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PUMPDASH_LANGUAGE", raising=False)
    ui.clear_query_cache()
    return data_dir


@pytest.fixture(scope="module")
def ctown_slice(shared_data, tmp_path_factory) -> Path:
    """The header and first CTOWN_LINES lines of the real C-Town export."""
    lines = (shared_data / CTOWN_FILE).read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path_factory.mktemp("ctown") / "batadal-ctown-slice.csv"
    path.write_text("".join(lines[:CTOWN_LINES + 1]), encoding="utf-8")
    return path


def ctown_readings() -> int:
    """Readings in the slice: the file has no empty cell, so one per line and mapped column."""
    return CTOWN_LINES * len(load_profiles()["batadal-ctown"].columns)


def open_page(lang: str = "zh-CN", role: str = "operator") -> AppTest:
    at = sign_in(AppTest.from_file(IMPORTS_PAGE, default_timeout=RUN_TIMEOUT_S), role, f"imp-{role}")
    at.query_params["lang"] = lang
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def upload(at: AppTest, path: Path, name: str | None = None) -> AppTest:
    at.file_uploader[0].set_value((name or path.name, path.read_bytes(), "text/csv")).run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def click(at: AppTest, key: str, lang: str, **params) -> AppTest:
    label = t(key, lang, **params)
    matches = [button for button in at.button if button.label == label]
    assert matches, f"no button {label!r} among {[button.label for button in at.button]}"
    matches[0].click().run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def finish_job(at: AppTest, state_key: str) -> AppTest:
    """Wait for the session's check or import job to end, then run the page again to show its outcome."""
    job_id = at.session_state[state_key]
    thread = next((thread for thread in threading.enumerate() if thread.name == f"import-{job_id}"), None)
    if thread is not None:
        thread.join(JOB_TIMEOUT_S)
        assert not thread.is_alive(), f"job {job_id} still running after {JOB_TIMEOUT_S} s"
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def metric_values(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


def stored_readings(db_url: str, station: str) -> int:
    with psycopg.connect(db_url) as conn:
        return station_readings(conn, station)


# -- with a profile -------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_check_writes_nothing_then_import_stores(page_env, page_db_url, ctown_slice, lang):
    readings = ctown_readings()
    at = upload(open_page(lang), ctown_slice)

    assert at.selectbox[0].value == "batadal-ctown"
    assert at.dataframe[0].value.iloc[0].tolist() == (
        ["L_T1", "水箱 T1 (T1)", "液位 (m)", "m"] if lang == "zh-CN" else ["L_T1", "tank T1 (T1)", "level (m)", "m"])
    assert at.info[0].value == t("imports.check_first", lang)
    before = stored_readings(page_db_url, "batadal-ctown")

    finish_job(click(at, "imports.check", lang), "imp_check_job")
    checked = metric_values(at)
    after_check = stored_readings(page_db_url, "batadal-ctown")

    assert after_check == before
    assert checked[t("imports.count.read", lang)] == f"{readings:,}"
    assert checked[t("imports.count.accepted", lang)] == f"{readings:,}"
    assert checked[t("imports.count.rejected", lang)] == "0"
    assert checked[t("imports.count.would_inserted", lang)] == f"{readings - before:,}"

    finish_job(click(at, "imports.run", lang, inserted=f"{readings - before:,}", updated="0"), "imp_import_job")
    [run_id] = [folder.name for folder in (page_env / "archive").iterdir()]

    assert stored_readings(page_db_url, "batadal-ctown") == readings
    assert at.success[0].value == t("imports.done", lang, file=ctown_slice.name, run_id=run_id,
                                    inserted=f"{readings - before:,}", updated="0")
    assert (page_env / "archive" / run_id / ctown_slice.name).exists()
    assert list((page_env / "uploads").iterdir()) == []


def test_viewer_refused(page_env):
    at = open_page("zh-CN", role="viewer")

    assert at.error[0].value == t("auth.page_refused", "zh-CN", role=t("auth.role.viewer", "zh-CN"),
                                  page=t("nav.imports", "zh-CN"))
    assert len(at.file_uploader) == 0


@pytest.fixture(scope="module")
def ctown_with_rejects(ctown_slice, tmp_path_factory) -> Path:
    """The slice with "abc" in line 3's first value cell and line 2 repeated as line 26."""
    lines = ctown_slice.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = lines[2].split(",")
    cells[1] = "abc"
    lines[2] = ",".join(cells)
    path = tmp_path_factory.mktemp("ctown-rejects") / "batadal-ctown-rejects.csv"
    path.write_text("".join(lines + [lines[1]]), encoding="utf-8")
    return path


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_check_lists_rejects_by_reason(page_env, ctown_with_rejects, lang):
    columns = len(load_profiles()["batadal-ctown"].columns)
    at = upload(open_page(lang), ctown_with_rejects)

    finish_job(click(at, "imports.check", lang), "imp_check_job")
    checked = metric_values(at)
    by_reason, rejects = at.dataframe[-2].value, at.dataframe[-1].value

    assert checked[t("imports.count.read", lang)] == f"{(CTOWN_LINES + 1) * columns:,}"
    assert checked[t("imports.count.rejected", lang)] == "1"
    assert checked[t("imports.count.duplicate", lang)] == f"{columns:,}"
    assert by_reason.values.tolist() == [[t("ingest.reason.duplicate_time", lang), columns],
                                         [t("ingest.reason.not_a_number", lang), 1]]
    assert rejects.iloc[0].tolist()[:4] == ["3", "L_T1", "abc", t("ingest.reason.not_a_number", lang)]
    assert rejects.iloc[1].tolist()[:2] == ["26", "ATT_FLAG"]  # sorted by line, then column
    assert [button.label for button in at.get("download_button")] == [t("imports.rejects_download", lang)]


def test_wrong_profile_named(page_env, ctown_slice):
    at = upload(open_page("zh-CN"), ctown_slice)

    at.selectbox[0].set_value("hsy-blominmaki").run()

    assert at.error[0].value == t("ingest.error.wrong_format", "zh-CN", file=ctown_slice.name, format="xlsx",
                                  profile="hsy-blominmaki")
    assert [button.label for button in at.button] == [t("imports.remove_file", "zh-CN")]


def correct_first_level(db_url: str) -> tuple[int, str, float]:
    """Correct tank T1's first level reading of the slice as an operator would; return its key and file value."""
    with psycopg.connect(db_url) as conn:
        series_id, ts, value, version = conn.execute(
            "SELECT m.series_id, m.ts, m.value, m.version FROM public.measurements AS m"
            " JOIN reporting.v_series AS v USING (series_id)"
            " WHERE v.station_code = 'batadal-ctown' AND v.device_code = 'T1' AND v.metric_code = 'level'"
            " ORDER BY m.ts LIMIT 1").fetchone()
        conn.execute("SELECT * FROM api.update_measurement_value(%s, %s, %s, 0::smallint, 'calibration',"
                     " '现场校准', %s, 'op-test')", [series_id, ts, value + 1.0, version])
    return series_id, ts.isoformat(), value


def stored_reading(db_url: str, series_id: int, ts: str) -> tuple[float, bool]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT value, substituted FROM public.measurements WHERE series_id = %s AND ts = %s",
                            [series_id, ts]).fetchone()


def test_overwrite_option_checked_then_applied(page_env, page_db_url, import_url, ctown_slice):
    """Ticking "overwrite corrections" drops the check; the new check and the import both overwrite."""
    import_files(make_conninfo(import_url, dbname="pumpdash_page_imports"), [ctown_slice], "batadal-ctown",
                 settings=load_settings(data_dir=page_env))
    series_id, ts, file_value = correct_first_level(page_db_url)
    at = upload(open_page("zh-CN"), ctown_slice)
    finish_job(click(at, "imports.check", "zh-CN"), "imp_check_job")
    kept_without_overwrite = metric_values(at)[t("imports.count.would_kept", "zh-CN")]

    at.checkbox(key="imp_overwrite").check().run()
    dropped = "imp_check_job" not in at.session_state
    finish_job(click(at, "imports.check", "zh-CN"), "imp_check_job")
    overwriting = metric_values(at)
    finish_job(click(at, "imports.run", "zh-CN", inserted="0", updated="1"), "imp_import_job")

    assert kept_without_overwrite == "1"
    assert dropped
    assert overwriting[t("imports.count.would_kept", "zh-CN")] == "0"
    assert overwriting[t("imports.count.would_updated", "zh-CN")] == "1"
    assert stored_reading(page_db_url, series_id, ts) == (file_value, False)


# -- without a profile: proposed mapping ----------------------------------------------------

MAPPED_STATION = "uitest-mapping"
GB18030_LINES = ("时间,瞬时流量(m³/h),出口压力(MPa),有功功率(kW),备注\n"
                 "2024-05-01 08:00,120.5,0.35,45.2,巡检\n"
                 "2024-05-01 09:00,121.25,0.375,46,\n")


@pytest.fixture
def mapped_station(page_db_url) -> str:
    with psycopg.connect(page_db_url) as conn:
        conn.execute("SELECT public.ensure_station(%s, '映射测试站', 'Mapping station', 'Asia/Shanghai')",
                     [MAPPED_STATION])
        conn.execute("SELECT public.ensure_device(%s, 'main', 'station', '全站', 'whole station')", [MAPPED_STATION])
        conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1号泵', 'pump 1')", [MAPPED_STATION])
    return MAPPED_STATION


def mapped_value(db_url: str, device: str, metric: str, ts: datetime) -> float:
    with psycopg.connect(db_url) as conn:
        return stored_value(conn, series_id(conn, MAPPED_STATION, device, metric), ts)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_proposed_mapping_imports_exact_values(page_env, page_db_url, mapped_station, tmp_path, lang):
    data = tmp_path / "泵站日报.csv"
    data.write_bytes(GB18030_LINES.encode("gb18030"))
    already = stored_readings(page_db_url, mapped_station)  # 6 once the other language's run imported them
    at = upload(open_page(lang), data)
    station_unset = at.selectbox(key="imp_station").value
    proposals_before_station = len(at.code)
    at.selectbox(key="imp_station").set_value(mapped_station).run()
    proposed = yaml.safe_load(at.code[0].value)["profiles"][f"upload-{mapped_station}"]

    assert station_unset is None
    assert proposals_before_station == 0
    assert at.selectbox(key="imp_profile").value == ""
    assert t("imports.layout_csv", lang, encoding="gb18030", delimiter="','", decimal=".",
             header_row=1, unit_row="-", time_column="时间", time_format=t("imports.time_iso", lang)) in [
        caption.value for caption in at.caption]
    # Headers are NFKC-normalised, so m³ reads m3.
    assert {header: (column["device"], column["metric"]) for header, column in proposed["columns"].items()} == {
        "瞬时流量(m3/h)": ("main", "flow_rate"), "出口压力(MPa)": ("main", "outlet_pressure"),
        "有功功率(kW)": ("main", "power")}

    finish_job(click(at, "imports.check", lang), "imp_check_job")
    checked = metric_values(at)
    finish_job(click(at, "imports.run", lang, inserted=f"{6 - already:,}", updated="0"), "imp_import_job")

    assert checked[t("imports.count.read", lang)] == "6"
    assert checked[t("imports.count.accepted", lang)] == "6"
    assert mapped_value(page_db_url, "main", "flow_rate", datetime(2024, 5, 1, 9, tzinfo=SHANGHAI)) == 121.25
    assert mapped_value(page_db_url, "main", "outlet_pressure", datetime(2024, 5, 1, 9, tzinfo=SHANGHAI)) == 0.375
    assert mapped_value(page_db_url, "main", "power", datetime(2024, 5, 1, 8, tzinfo=SHANGHAI)) == 45.2


def test_uploads_of_a_day_ago_deleted(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    old = importjobs.save_upload(settings, "old.csv", b"time,flow\n")
    day_ago = time.time() - importjobs.UPLOAD_KEEP_S - 60
    os.utime(old.parent, (day_ago, day_ago))

    new = importjobs.save_upload(settings, "../泵站 日报?.csv", b"time,flow\n")

    assert not old.parent.exists()
    assert new.name == "泵站 日报_.csv"
    assert new.parent.parent == tmp_path / "uploads"
    assert new.read_bytes() == b"time,flow\n"


def test_assumed_units_flagged(page_env, mapped_station, tmp_path):
    data = tmp_path / "no-units.csv"
    data.write_text("时间,瞬时流量,有功功率(kW)\n2024-05-02 08:00,120.5,45.2\n", encoding="utf-8")
    at = upload(open_page("zh-CN"), data)
    at.selectbox(key="imp_station").set_value(mapped_station).run()

    assert at.warning[0].value == t("imports.unit_assumed", "zh-CN", columns="瞬时流量")


def test_profile_found_by_headers_and_kept(page_env, ctown_slice, tmp_path):
    """A renamed C-Town export still gets its profile; leaving the page and coming back keeps the work."""
    renamed = tmp_path / "scada_export.csv"
    renamed.write_bytes(ctown_slice.read_bytes())
    at = upload(open_page("zh-CN"), renamed)
    suggested = at.selectbox(key="imp_profile").value
    finish_job(click(at, "imports.check", "zh-CN"), "imp_check_job")

    # A run of another page drops this page's widget values and keeps the rest of the session state.
    carried_over = {key: at.session_state[key] for key in ("imp_upload", "imp_profile_choice", "imp_check_job")}
    at = sign_in(AppTest.from_file(IMPORTS_PAGE, default_timeout=RUN_TIMEOUT_S), "operator", "imp-operator")
    for key, value in carried_over.items():
        at.session_state[key] = value
    at.run()

    assert suggested == "batadal-ctown"
    assert at.selectbox(key="imp_profile").value == "batadal-ctown"
    assert at.markdown[0].value == t("imports.current_file", "zh-CN", name="scada_export.csv",
                                     size=f"{renamed.stat().st_size / 1024:,.1f} KB")
    assert at.subheader[0].value == t("imports.check_title", "zh-CN")


def test_workbook_named_csv_explained(page_env, shared_data, tmp_path):
    disguised = tmp_path / "really-xlsx.csv"
    disguised.write_bytes((shared_data / "hsy-blominmaki-2024-11.xlsx").read_bytes())

    at = upload(open_page("en"), disguised)

    assert at.selectbox(key="imp_profile").value == ""
    assert at.error[0].value == t("ingest.error.workbook_named_csv", "en", file="really-xlsx.csv", suffix=".csv")


def test_unit_not_converting_blocks_check(page_env, mapped_station, tmp_path):
    """A metric changed after the unit was filled in leaves a unit that cannot convert: no check is offered."""
    data = tmp_path / "level.csv"
    data.write_text("时间,液位\n2024-05-03 08:00,2.5\n", encoding="utf-8")
    at = upload(open_page("zh-CN"), data)
    at.selectbox(key="imp_station").set_value(mapped_station).run()
    at.session_state["imp_mapping_rows"] = (mapped_station, [
        {"header": "液位", "include": True, "device": "main", "metric": "volume", "unit": "m"}])
    at.run()

    catalogue = mapping.load_point_catalogue(os.environ["PUMPDASH_IMPORT_DATABASE_URL"])
    volume_units = "、".join(catalogue.units["m³"])

    assert at.error[0].value == t("imports.unit_mismatch", "zh-CN", column="液位", unit="m", metric="蓄水量 (m³)",
                                  units=volume_units)
    assert t("imports.check", "zh-CN") not in [button.label for button in at.button]

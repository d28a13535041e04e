"""The operators' measurements page through AppTest: table, correction form, conflict, delete by filter."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from core import corrections
from core.i18n import t
from dashboard import ui
from tests.dbtools import insert_good_readings, pump_series
from tests.pagetools import RUN_TIMEOUT_S, sign_in

MEASUREMENTS_PAGE = "../pages/measurements.py"
SHANGHAI = timezone(timedelta(hours=8))
# Four quarter-hour readings from 10:00 Shanghai time on 2024-11-20; each
# test gets its own station so the tests do not see each other's changes.
DAY_START = datetime(2024, 11, 20, 10, 0, tzinfo=SHANGHAI)
VALUES = (12.5, 13.0, 13.5, 14.0)


@pytest.fixture
def station(request, db_url) -> tuple[str, int]:
    """A station with pump P1's flow (series id returned) and four good readings."""
    code = f"uitest-corr-{request.node.name.split('[')[0][-20:].replace('_', '-')}-{len(request.node.name)}"
    with psycopg.connect(db_url) as conn:
        conn.execute("DELETE FROM public.measurements WHERE series_id IN "
                     "(SELECT series_id FROM public.series se JOIN public.stations st USING (station_id) "
                     " WHERE st.code = %s)", [code])
        series_id = pump_series(conn, code, "修正测试站", "Correction station", "Asia/Shanghai")
        insert_good_readings(conn, series_id, [(DAY_START + timedelta(minutes=15 * step), value)
                                               for step, value in enumerate(VALUES)])
    return code, series_id


@pytest.fixture
def app_env(app_database):
    return app_database


def open_page(station_code: str, lang: str = "zh-CN", username: str = "op-anna") -> AppTest:
    at = sign_in(AppTest.from_file(MEASUREMENTS_PAGE, default_timeout=RUN_TIMEOUT_S), "operator", username)
    at.query_params["lang"] = lang
    at.session_state["corr_station"] = station_code
    at.session_state["corr_dates"] = (DAY_START.date(), DAY_START.date())
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def reading(db_url: str, series_id: int, ts: datetime) -> tuple:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT value, original_value, quality, version, substituted, updated_by"
                            " FROM public.measurements WHERE series_id = %s AND ts = %s", [series_id, ts]).fetchone()


def audit_rows(db_url: str, series_id: int) -> list[tuple]:
    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT action, old_value, new_value, reason_code, comment, changed_by"
                            " FROM public.measurement_audit WHERE series_id = %s ORDER BY audit_id",
                            [series_id]).fetchall()


def at_first_reading(lang: str) -> str:
    name = "1 号泵 · 瞬时流量" if lang == "zh-CN" else "Pump 1 · flow rate"
    return t("measurements.error.at_reading", lang, time="2024-11-20 10:00", name=name)


def fill_correction(at: AppTest, value: float | None, comment: str, reason: str = "sensor_fault") -> AppTest:
    at.number_input[0].set_value(value)
    reason_labels = (t("measurements.reason", "zh-CN"), t("measurements.reason", "en"))
    next(box for box in at.selectbox if box.label in reason_labels).set_value(reason)
    next(area for area in at.text_area if area.key.startswith("single_")).input(comment)
    submit = next(button for button in at.button if button.label in (t("measurements.submit_correction", "zh-CN"),
                                                                       t("measurements.submit_correction", "en")))
    submit.click().run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def test_table_lists_readings_in_local_time(app_env, station):
    at = open_page(station[0])
    table = at.dataframe[0].value

    assert list(table["时间"]) == ["2024-11-20 10:00:00", "2024-11-20 10:15:00", "2024-11-20 10:30:00",
                                  "2024-11-20 10:45:00"]
    assert list(table["数值"]) == list(VALUES)
    assert set(table["质量"]) == {"正常"}
    assert at.caption[0].value == t("measurements.page_caption", "zh-CN", first=1, last=4, total="4",
                                    timezone="Asia/Shanghai")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_correction_saved_audited_and_reported(app_env, db_url, station, lang):
    """A correction keeps the original value, is audited with the user, and shows in the hourly and daily calls."""
    code, series_id = station
    at = open_page(code, lang)
    at = fill_correction(at, 20.0, "流量计读数跳变，按现场表读数修正")

    assert [s.value for s in at.success] == [t("measurements.corrected", lang, count=1)]
    assert [toast.value for toast in at.toast] == [t("measurements.corrected", lang, count=1)]
    assert reading(db_url, series_id, DAY_START) == (20.0, 12.5, 0, 2, True, "op-anna")
    assert audit_rows(db_url, series_id) == [("update", 12.5, 20.0, "sensor_fault", "流量计读数跳变，按现场表读数修正",
                                              "op-anna")]
    assert list(at.dataframe[0].value.iloc[:, 3]) == [20.0, 13.0, 13.5, 14.0]

    with psycopg.connect(db_url) as conn:
        hourly = conn.execute("SELECT value_avg, substituted_count FROM reporting.get_metrics_hourly(%s, %s, %s)",
                              [[series_id], DAY_START, DAY_START + timedelta(hours=1)]).fetchall()
        daily = conn.execute("SELECT value_avg FROM reporting.get_metrics_daily(%s, %s, %s)",
                             [[series_id], DAY_START - timedelta(hours=10), DAY_START + timedelta(hours=14)]).fetchall()
    assert hourly == [((20.0 + 13.0 + 13.5 + 14.0) / 4, 1)]
    assert daily == [((20.0 + 13.0 + 13.5 + 14.0) / 4,)]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("value, comment, field", [
    (150000.0, "超量程", "value"),
    (-101.0, "负值", "value"),
    (20.0, "   ", "comment"),
    (20.0, "x" * 10_000, "comment"),
    (20.0, "'; DROP TABLE public.measurements; --", None),
])
def test_invalid_correction_names_field(app_env, db_url, station, lang, value, comment, field):
    """Out-of-range and empty values and a blank or 10,000-character comment are refused, naming the field."""
    code, series_id = station
    at = open_page(code, lang)
    at = fill_correction(at, value, comment)

    if field is None:
        # SQL metacharacters are only text: the correction is stored as typed.
        assert reading(db_url, series_id, DAY_START)[0] == 20.0
        assert audit_rows(db_url, series_id)[0][4] == comment
        return
    expected = at_first_reading(lang) + t(f"measurements.error.invalid_{field}", lang, value=f"{value:g}",
                                          min="-100", max="100000", unit="m³/h", detail="")
    assert [error.value for error in at.error] == [expected]
    assert reading(db_url, series_id, DAY_START) == (12.5, None, 0, 1, False, None)
    assert audit_rows(db_url, series_id) == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_concurrent_correction_conflicts(app_env, db_url, station, lang):
    """Two operators open the same reading; the second to save gets the conflict message and changes nothing."""
    code, series_id = station
    first = open_page(code, lang, "op-anna")
    second = open_page(code, lang, "op-bo")

    fill_correction(first, 18.0, "第一位操作员")
    second = fill_correction(second, 19.0, "第二位操作员")

    assert [error.value for error in second.error] == [
        at_first_reading(lang) + t("measurements.error.conflict", lang, detail="")]
    assert reading(db_url, series_id, DAY_START)[:4] == (18.0, 12.5, 0, 2)
    assert [row[5] for row in audit_rows(db_url, series_id)] == ["op-anna"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_unchanged_correction_not_saved(app_env, db_url, station, lang):
    code, series_id = station
    at = fill_correction(open_page(code, lang), VALUES[0], "只是核对")

    assert [error.value for error in at.error] == [
        at_first_reading(lang) + t("measurements.error.unchanged", lang, detail="")]
    assert reading(db_url, series_id, DAY_START) == (12.5, None, 0, 1, False, None)


def test_history_lists_changes(app_env, db_url, station):
    code, series_id = station
    at = fill_correction(open_page(code), 16.0, "校准后修正", reason="calibration")
    history = at.dataframe[1].value

    assert list(history["操作"]) == ["修正"]
    assert list(history["原数值"]) == ["12.5"]
    assert list(history["新数值"]) == ["16"]
    assert list(history["原因"]) == ["校准修正"]
    assert list(history["修改人"]) == ["op-anna"]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_delete_by_filter_needs_typed_count(app_env, db_url, station, lang):
    """The preview counts 4 readings; a wrong typed count deletes nothing, the right one deletes and audits 4."""
    code, series_id = station
    at = open_page(code, lang)
    next(b for b in at.button if b.label == t("measurements.delete_preview", lang)).click().run()
    assert [w.value for w in at.warning] == [t("measurements.delete_count", lang, count=4)]

    confirm_label = t("measurements.delete_confirm", lang, count=4)
    at.text_input(key="delete_0_typed").input("40")
    at.text_area(key="delete_0_comment").input("整段数据为调试数据")
    next(b for b in at.button if b.label == confirm_label).click().run()
    assert [e.value for e in at.error] == [t("measurements.delete_mismatch", lang, typed="40", count=4)]
    assert reading(db_url, series_id, DAY_START) is not None

    at.text_input(key="delete_0_typed").input("4")
    next(b for b in at.button if b.label == confirm_label).click().run()
    assert [s.value for s in at.success] == [t("measurements.deleted", lang, count=4)]
    assert reading(db_url, series_id, DAY_START) is None
    assert [row[0] for row in audit_rows(db_url, series_id)] == ["delete"] * 4


def test_changed_rows_match_by_key_not_position():
    """An edited frame in another row order still pairs each reading with its own old values."""
    import pandas as pd

    keys = [corrections.reading_key(7, DAY_START + timedelta(minutes=15 * step)) for step in range(3)]
    before = pd.DataFrame({"value": [1.0, 2.0, float("nan")], "quality": [0, 0, 2]}, index=keys)
    after = pd.DataFrame({"value": [float("nan"), 2.0, 5.0], "quality": [2, 0, 0]}, index=keys[::-1])

    changed = corrections.changed_rows(before, after)

    assert list(changed.index) == [keys[0]]
    assert changed.loc[keys[0]].tolist() == [5.0, 0]
    assert corrections.parse_reading_key(keys[1]) == (7, DAY_START + timedelta(minutes=15))


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_deleted_readings_restored(app_env, db_url, station, lang):
    """After a delete the readings are listed as deleted; two picked ones come back with their old values."""
    code, series_id = station
    with psycopg.connect(db_url) as conn:
        conn.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s, NULL, false, 4, 'other', '调试数据', 'op-bo')",
                     [[series_id], DAY_START, DAY_START + timedelta(hours=1)])
    at = open_page(code, lang)
    picker = at.multiselect(key="restore_0_picked")
    assert len(picker.options) == 4

    next(b for b in at.button if b.label == t("measurements.restore_confirm", lang)).click().run()
    assert [e.value for e in at.error] == [t("measurements.restore_pick_first", lang)]

    audit_ids = restore_candidates(db_url, series_id)[:2]
    at.multiselect(key="restore_0_picked").set_value(audit_ids)
    at.text_area(key="restore_0_comment").input("误删，恢复")
    next(b for b in at.button if b.label == t("measurements.restore_confirm", lang)).click().run()

    assert [s.value for s in at.success] == [t("measurements.restored", lang, count=2)]
    with psycopg.connect(db_url) as conn:
        stored = conn.execute("SELECT value, version, substituted FROM public.measurements WHERE series_id = %s"
                              " ORDER BY ts", [series_id]).fetchall()
    # One delete removed all four, so the list is in time order and the first two are 10:00 and 10:15.
    # They come back as they were: imported, never corrected.
    assert stored == [(VALUES[0], 2, False), (VALUES[1], 2, False)]
    assert [row[0] for row in audit_rows(db_url, series_id)] == ["delete"] * 4 + ["restore"] * 2


def restore_candidates(db_url: str, series_id: int) -> list[int]:
    with psycopg.connect(db_url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT audit_id FROM api.get_deleted_measurements(%s, %s, %s)",
            [[series_id], DAY_START, DAY_START + timedelta(days=1)]).fetchall()]


def test_station_switch_moves_dates(app_env, db_url, station):
    """Another station starts at its own latest day, not at the day picked for the previous one."""
    other = "uitest-corr-other-day"
    with psycopg.connect(db_url) as conn:
        series_id = pump_series(conn, other, "另一测试站", "Other day station", "Asia/Shanghai")
        insert_good_readings(conn, series_id, [(DAY_START + timedelta(days=5), 7.0)])
    at = open_page(station[0])

    at.selectbox(key="corr_station").set_value(other).run()

    assert at.date_input(key="corr_dates").value == (date(2024, 11, 25), date(2024, 11, 25))
    assert list(at.dataframe[0].value.iloc[:, 3]) == [7.0]


def test_batch_is_all_or_nothing(app_env, db_url, station):
    """Of three corrections the third is out of range: none is saved, and the error names that reading."""
    from core.db import Database

    _, series_id = station
    changes = [corrections.Change(series_id, DAY_START + timedelta(minutes=15 * step), 1, value, 0)
               for step, value in enumerate((20.0, 21.0, 250_000.0))]
    database = Database(db_url).open()
    try:
        with pytest.raises(corrections.CorrectionError) as error:
            corrections.correct(database, changes, reason_code="calibration", comment="批量校准", user="op-anna")
        applied = corrections.correct(database, changes[:2], reason_code="calibration", comment="批量校准",
                                      user="op-anna")
    finally:
        database.close()

    assert (error.value.kind, error.value.field) == ("invalid", "value")
    assert error.value.reading_key == corrections.reading_key(series_id, DAY_START + timedelta(minutes=30))
    assert [row["value"] for row in applied] == [20.0, 21.0]
    assert reading(db_url, series_id, DAY_START + timedelta(minutes=30)) == (13.5, None, 0, 1, False, None)
    assert [row[2] for row in audit_rows(db_url, series_id)] == [20.0, 21.0]

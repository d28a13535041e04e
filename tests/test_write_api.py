"""api.* write functions: corrections with versions, deletes with previews, undo, audit, roles."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

UTC = timezone.utc
START = datetime(2024, 5, 1, tzinfo=UTC)
CORRECT = dict(p_quality=0, p_reason_code="sensor_fault", p_comment="传感器漂移，按人工读数修正", p_changed_by="operator1")


@pytest.fixture(scope="module")
def admin(db_url):
    with psycopg.connect(db_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="module")
def series_id(admin) -> int:
    admin.execute("SELECT public.ensure_station('api-test', '接口测试站', 'API test', 'Asia/Shanghai')")
    admin.execute("SELECT public.ensure_device('api-test', 'P1', 'pump', '1号泵', 'Pump 1')")
    sid = admin.execute("SELECT public.ensure_series('api-test', 'P1', 'flow_rate', 900)").fetchone()[0]
    admin.execute("SELECT public.ensure_measurement_partitions(%s, %s)", [START, START + timedelta(days=1)])
    with admin.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, source_id) VALUES (%s, %s, %s, 2)",
            [(sid, START + timedelta(minutes=15 * i), 100.0 + i) for i in range(96)])
    return sid


def _correct(conn, series_id, ts, value, version, **overrides):
    params = {**CORRECT, **overrides}
    return conn.execute(
        "SELECT * FROM api.update_measurement_value(%(sid)s, %(ts)s, %(value)s, %(p_quality)s::smallint, "
        "%(p_reason_code)s, %(p_comment)s, %(version)s, %(p_changed_by)s)",
        {"sid": series_id, "ts": ts, "value": value, "version": version, **params}).fetchone()


def _reading(conn, series_id, ts):
    return conn.execute(
        "SELECT value, original_value, quality, substituted, version, updated_by FROM public.measurements "
        "WHERE series_id = %s AND ts = %s", [series_id, ts]).fetchone()


def test_correction_keeps_original_and_audits(admin, series_id):
    ts = START + timedelta(minutes=15)

    result = _correct(admin, series_id, ts, 150.5, 1)
    history = admin.execute(
        "SELECT action, old_value, new_value, old_quality, new_quality, reason_code, comment, changed_by "
        "FROM api.get_measurement_history(%s, %s)", [series_id, ts]).fetchall()

    assert result == (series_id, ts, 150.5, 0, 2)
    assert _reading(admin, series_id, ts) == (150.5, 101.0, 0, True, 2, "operator1")
    assert history == [("update", 101.0, 150.5, 0, 0, "sensor_fault", "传感器漂移，按人工读数修正", "operator1")]


def test_second_concurrent_correction_conflicts(admin, db_url, series_id):
    ts = START + timedelta(minutes=30)
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        _correct(first, series_id, ts, 111.0, 1, p_changed_by="alice")
        first.commit()
        with pytest.raises(psycopg.errors.SerializationFailure) as error:
            _correct(second, series_id, ts, 222.0, 1, p_changed_by="bob")

    history = admin.execute("SELECT changed_by, new_value FROM api.get_measurement_history(%s, %s)",
                            [series_id, ts]).fetchall()
    assert "version 1 expected, 2 found" in str(error.value)
    assert _reading(admin, series_id, ts)[0] == 111.0
    assert history == [("alice", 111.0)]


def test_correction_shows_in_next_reporting_call(admin, series_id):
    ts = START + timedelta(hours=5)
    hour_before = admin.execute("SELECT value FROM reporting.get_metrics_hourly(%s, %s, %s)",
                                [[series_id], ts, ts + timedelta(hours=1)]).fetchone()[0]

    _correct(admin, series_id, ts, 1000.0, 1)
    hour_after = admin.execute("SELECT value FROM reporting.get_metrics_hourly(%s, %s, %s)",
                               [[series_id], ts, ts + timedelta(hours=1)]).fetchone()[0]
    day_after = admin.execute("SELECT value_max FROM reporting.get_metrics_daily(%s, %s, %s)",
                              [[series_id], START - timedelta(hours=8), START + timedelta(hours=16)]).fetchone()[0]

    assert hour_before == pytest.approx((120 + 121 + 122 + 123) / 4)
    assert hour_after == pytest.approx((1000 + 121 + 122 + 123) / 4)
    assert day_after == 1000.0


@pytest.mark.parametrize("value, overrides, field", [
    (float("nan"), {}, "value"),
    (float("inf"), {}, "value"),
    (float("-inf"), {}, "value"),
    (200_000.0, {}, "value"),
    (None, {}, "value"),
    (10.0, {"p_quality": 7}, "quality"),
    (10.0, {"p_reason_code": "x'); DROP TABLE public.measurements; --"}, "reason_code"),
    (10.0, {"p_reason_code": None}, "reason_code"),
    (10.0, {"p_comment": "   "}, "comment"),
    (10.0, {"p_comment": "长" * 10_000}, "comment"),
    (10.0, {"p_changed_by": ""}, "changed_by"),
])
def test_invalid_correction_names_field(admin, series_id, value, overrides, field):
    ts = START + timedelta(hours=10)
    before = _reading(admin, series_id, ts)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        _correct(admin, series_id, ts, value, 1, **overrides)

    assert error.value.diag.column_name == field
    assert str(error.value).startswith(f"invalid {field}:")
    assert _reading(admin, series_id, ts) == before


def test_delete_and_restore(admin, series_id):
    ts = START + timedelta(hours=12)

    audit_id = admin.execute("SELECT api.delete_measurement(%s, %s, 1, 'comm_loss', '通信中断期间的假值', 'operator1')",
                             [series_id, ts]).fetchone()[0]
    gone = _reading(admin, series_id, ts)
    restored = admin.execute("SELECT * FROM api.restore_measurement(%s, '误删，恢复', 'operator2')", [audit_id]).fetchone()
    actions = [row[0] for row in admin.execute("SELECT action FROM api.get_measurement_history(%s, %s)", [series_id, ts])]

    source = admin.execute("SELECT s.code FROM public.measurements AS m JOIN public.measurement_sources AS s"
                           " USING (source_id) WHERE m.series_id = %s AND m.ts = %s", [series_id, ts]).fetchone()

    assert gone is None
    assert restored == (series_id, ts, 148.0, 0, 2)
    # The reading comes back as it was: an uncorrected import, not a manual entry.
    assert _reading(admin, series_id, ts)[:4] == (148.0, None, 0, False)
    assert source == ("import",)
    assert actions == ["delete", "restore"]


def test_restore_keeps_correction_state(admin, series_id):
    """A corrected reading that is deleted and restored is still corrected, with its first value."""
    ts = START + timedelta(hours=22, minutes=15)
    _correct(admin, series_id, ts, 77.0, 1)
    audit_id = admin.execute("SELECT api.delete_measurement(%s, %s, 2, 'other', '测试', 'operator1')",
                             [series_id, ts]).fetchone()[0]

    admin.execute("SELECT * FROM api.restore_measurement(%s, '恢复', 'operator2')", [audit_id])

    assert _reading(admin, series_id, ts)[:5] == (77.0, 189.0, 0, True, 3)


def test_unchanged_correction_rejected(admin, series_id):
    """Saving the value and quality a reading already has is rejected and creates no version."""
    ts = START + timedelta(hours=23, minutes=15)
    before = _reading(admin, series_id, ts)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        _correct(admin, series_id, ts, before[0], 1)

    assert (error.value.diag.column_name, error.value.diag.message_detail) == ("value", "unchanged")
    assert _reading(admin, series_id, ts) == before


@pytest.mark.parametrize("reason, comment, field", [(None, "原因", "reason_code"), ("other", "", "comment")])
def test_delete_without_reason_rejected(admin, series_id, reason, comment, field):
    ts = START + timedelta(hours=13)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        admin.execute("SELECT api.delete_measurement(%s, %s, 1, %s, %s, 'operator1')", [series_id, ts, reason, comment])

    assert error.value.diag.column_name == field
    assert _reading(admin, series_id, ts) is not None


def test_delete_by_filter_needs_previewed_count(admin, series_id):
    window = (START + timedelta(hours=20), START + timedelta(hours=21))

    preview = admin.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s)", [[series_id], *window]).fetchone()[0]
    with pytest.raises(psycopg.errors.SerializationFailure):
        admin.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s, NULL, false, 3, 'other', '试验', 'op')",
                      [[series_id], *window])
    deleted = admin.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s, NULL, false, %s, 'other', '试验', 'op')",
                            [[series_id], *window, preview]).fetchone()[0]
    audited = admin.execute("SELECT count(*) FROM public.measurement_audit WHERE series_id = %s AND action = 'delete' "
                            "AND ts >= %s AND ts < %s", [series_id, *window]).fetchone()[0]

    assert preview == 4
    assert deleted == 4
    assert audited == 4
    assert admin.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s)", [[series_id], *window]).fetchone()[0] == 0


def test_get_measurements_keyset_pages(admin, series_id):
    window = (START, START + timedelta(hours=2))

    first = admin.execute("SELECT series_id, ts, value, version FROM api.get_measurements(%s, %s, %s, p_limit => 5)",
                          [[series_id], *window]).fetchall()
    second = admin.execute(
        "SELECT series_id, ts FROM api.get_measurements(%s, %s, %s, p_after_series_id => %s, p_after_ts => %s, p_limit => 5)",
        [[series_id], *window, first[-1][0], first[-1][1]]).fetchall()

    assert [row[1] for row in first] == [START + timedelta(minutes=15 * i) for i in range(5)]
    assert [row[1] for row in second] == [START + timedelta(minutes=15 * i) for i in range(5, 8)]


@pytest.fixture(scope="module")
def role_urls(admin, db_url):
    password = secrets.token_urlsafe(16)
    urls = {}
    for login, group in (("api_test_reader", "pumpdash_read"), ("api_test_writer", "pumpdash_write")):
        admin.execute(f"DROP ROLE IF EXISTS {login}")
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
            sql.Identifier(login), sql.Literal(password), sql.Identifier(group)))
        urls[group] = make_conninfo(db_url, user=login, password=password)
    return urls


def test_read_role_cannot_write(role_urls, series_id):
    statements = [
        "INSERT INTO public.measurements (series_id, ts, value, source_id) VALUES (%s, now(), 1, 4)" % series_id,
        "UPDATE public.measurements SET value = 1",
        "DELETE FROM public.measurements",
        "UPDATE public.stations SET name_en = 'x'",
        "SELECT * FROM api.update_measurement_value(%s, now(), 1, 0::smallint, 'other', 'x', 1, 'x')" % series_id,
        "SELECT api.delete_measurements_by_filter(ARRAY[%s], now() - interval '1 day', now())" % series_id,
    ]
    with psycopg.connect(role_urls["pumpdash_read"], autocommit=True) as reader:
        for statement in statements:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)


def test_write_role_only_through_api(role_urls, series_id):
    ts = START + timedelta(hours=15)
    with psycopg.connect(role_urls["pumpdash_write"], autocommit=True) as writer:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("SELECT count(*) FROM public.measurements")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            writer.execute("UPDATE public.measurements SET value = 1")
        result = _correct(writer, series_id, ts, 99.5, 1, p_changed_by="writer")

    assert result[2:] == (99.5, 0, 2)


def _upsert(conn, series_id, ts, value, source="api", **extra):
    params = {"sid": series_id, "ts": ts, "value": value, "source": source,
              "reason": extra.get("reason"), "comment": extra.get("comment"),
              "overwrite": extra.get("overwrite", False), "quality": extra.get("quality", 0)}
    return conn.execute(
        "SELECT api.upsert_measurement(%(sid)s, %(ts)s, %(value)s, %(quality)s::smallint, %(source)s, 'client1', "
        "%(reason)s, %(comment)s, %(overwrite)s)", params).fetchone()[0]


def test_upsert_actions(admin, series_id):
    new_ts = START + timedelta(days=1, hours=2)
    corrected_ts = START + timedelta(hours=16)
    _correct(admin, series_id, corrected_ts, 150.5, 1)

    assert _upsert(admin, series_id, new_ts, 42.0) == "inserted"
    assert _upsert(admin, series_id, new_ts, 42.0) == "unchanged"
    assert _upsert(admin, series_id, new_ts, 43.0) == "updated"
    assert _reading(admin, series_id, new_ts)[:2] == (43.0, 42.0)
    assert _upsert(admin, series_id, corrected_ts, 1.0) == "kept_substituted"
    assert _reading(admin, series_id, corrected_ts)[0] == 150.5
    assert _upsert(admin, series_id, corrected_ts, 1.0, overwrite=True) == "updated"


def test_manual_upsert_needs_reason_and_is_audited(admin, series_id):
    ts = START + timedelta(days=1, hours=3)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        _upsert(admin, series_id, ts, 5.0, source="manual")
    action = _upsert(admin, series_id, ts, 5.0, source="manual", reason="manual_reading", comment="现场抄表")
    history = admin.execute("SELECT action, new_value, reason_code FROM api.get_measurement_history(%s, %s)",
                            [series_id, ts]).fetchall()

    assert error.value.diag.column_name == "reason_code"
    assert action == "inserted"
    assert history == [("insert", 5.0, "manual_reading")]


@pytest.mark.parametrize("function", ["get_measurements", "count_measurements"])
@pytest.mark.parametrize("quality, source, field", [
    (None, "import' OR '1'='1", "source"),
    (None, "x" * 10_000, "source"),
    (None, "", "source"),
    ([7], None, "quality"),
    ([0, None], None, "quality"),
])
def test_invalid_filter_names_field(admin, series_id, function, quality, source, field):
    """A filter naming an unknown source or quality is refused, naming it, instead of matching nothing."""
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        admin.execute(f"SELECT * FROM api.{function}(%s, %s, %s, p_quality => %s::smallint[], p_source => %s)",
                      [[series_id], START, START + timedelta(days=1), quality, source])

    assert error.value.diag.column_name == field


def test_delete_filter_with_bad_quality_deletes_nothing(admin, series_id):
    before = admin.execute("SELECT count(*) FROM public.measurements WHERE series_id = %s", [series_id]).fetchone()

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        admin.execute("SELECT api.delete_measurements_by_filter(%s, %s, %s, ARRAY[9]::smallint[], false, 0,"
                      " 'other', 'x', 'tester')", [[series_id], START, START + timedelta(days=1)])

    assert error.value.diag.column_name == "quality"
    admin.rollback()
    assert admin.execute("SELECT count(*) FROM public.measurements WHERE series_id = %s",
                         [series_id]).fetchone() == before


def test_future_timestamp_rejected(admin, series_id):
    future = datetime.now(UTC) + timedelta(days=2)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        _upsert(admin, series_id, future, 5.0)

    assert error.value.diag.column_name == "ts"
    assert _reading(admin, series_id, future) is None


def test_json_batch_reports_each_row(admin, series_id):
    base = START + timedelta(days=1, hours=5)
    rows = [
        {"series_id": series_id, "ts": base.isoformat(), "value": 10.5},
        {"series_id": series_id, "ts": "not a time", "value": 11},
        {"series_id": series_id, "ts": (base + timedelta(minutes=15)).isoformat(), "value": "NaN"},
        {"series_id": series_id, "ts": (base + timedelta(minutes=30)).isoformat(), "value": "12,5"},
        {"series_id": series_id, "ts": (base + timedelta(minutes=45)).isoformat(), "value": 1e9},
        {"series_id": 999999, "ts": base.isoformat(), "value": 1},
        {"series_id": series_id, "ts": (base + timedelta(hours=1)).isoformat(), "value": 13.0, "quality": 1},
    ]

    results = admin.execute("SELECT row_index, ok, action, field FROM api.upsert_measurements_json(%s, 'api', 'client1')",
                            [Jsonb(rows)]).fetchall()
    stored = admin.execute("SELECT ts, value, quality FROM public.measurements WHERE series_id = %s AND ts >= %s "
                           "AND ts < %s ORDER BY ts", [series_id, base, base + timedelta(hours=2)]).fetchall()

    assert results == [
        (0, True, "inserted", None),
        (1, False, "rejected", "ts"),
        (2, False, "rejected", "value"),
        (3, False, "rejected", "value"),
        (4, False, "rejected", "value"),
        (5, False, "rejected", "series_id"),
        (6, True, "inserted", None),
    ]
    assert stored == [(base, 10.5, 0), (base + timedelta(hours=1), 13.0, 1)]


def test_json_batch_not_an_array_rejected(admin):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as error:
        admin.execute("SELECT * FROM api.upsert_measurements_json('{}'::jsonb, 'api', 'client1')")

    assert error.value.diag.column_name == "rows"

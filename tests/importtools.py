"""Helpers for import tests: profiles written to a temporary ingest.yaml, and stored readings looked up by point."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import yaml


def series_id(conn, station: str, device: str, metric: str) -> int:
    row = conn.execute(
        """SELECT se.series_id
           FROM public.series AS se
           JOIN public.stations AS s ON s.station_id = se.station_id
           JOIN public.devices AS d ON d.device_id = se.device_id
           JOIN public.metrics AS m ON m.metric_id = se.metric_id
           WHERE s.code = %s AND d.code = %s AND m.code = %s""",
        [station, device, metric]).fetchone()
    assert row is not None, f"no series for {station}/{device}/{metric}"
    return row[0]


def stored_value(conn, sid: int, ts: datetime) -> float:
    row = conn.execute("SELECT value FROM public.measurements WHERE series_id = %s AND ts = %s", [sid, ts]).fetchone()
    assert row is not None, f"no reading of series {sid} at {ts}"
    return row[0]


def write_profiles(folder: Path, profiles: dict) -> Path:
    path = folder / "ingest.yaml"
    path.write_text(yaml.safe_dump({"profiles": profiles}, allow_unicode=True), encoding="utf-8")
    return path


def small_profile(station_code: str, **overrides) -> dict:
    profile = {
        "format": "csv",
        "header_row": 1,
        "time_column": "time",
        "time_format": "%Y-%m-%d %H:%M",
        "sample_interval_s": 3600,
        "station": {"code": station_code, "name_zh": "测试站", "name_en": "test station",
                    "timezone": "Asia/Shanghai"},
        "devices": [{"code": "P1", "kind": "pump", "name_zh": "1 号泵", "name_en": "pump 1"},
                    {"code": "T1", "kind": "tank", "name_zh": "水箱", "name_en": "tank"}],
        "columns": {"flow": {"device": "P1", "metric": "flow_rate", "unit": "m3/h"},
                    "level": {"device": "T1", "metric": "level", "unit": "m"}},
    }
    profile.update(overrides)
    return profile

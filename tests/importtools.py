"""Helpers for import tests: profiles written to a temporary ingest.yaml, and stored readings looked up by point."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import yaml

from core.settings import PROJECT_ROOT


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


def station_readings(conn, station: str) -> int:
    """Count the readings stored for every series of `station`."""
    return conn.execute(
        "SELECT count(*) FROM public.measurements AS m JOIN public.series AS se USING (series_id) "
        "JOIN public.stations AS s USING (station_id) WHERE s.code = %s", [station]).fetchone()[0]


def run_cli(database_env: dict[str, str], data_dir: Path, *args: str, language: str = "zh-CN"):
    """Run `python -m dashboard ARGS` with only the given database variables and a data folder of its own.

    Logs go to one JSON file per run, as `import --run-all` tests read them.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PUMPDASH_")}
    env.update(database_env)
    env.update({"PUMPDASH_DATA_DIR": str(data_dir), "PUMPDASH_LANGUAGE": language,
                "PUMPDASH_LOG_ROUTING": "by_run", "PUMPDASH_LOG_FORMAT": "json"})
    return subprocess.run([sys.executable, "-m", "dashboard", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


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

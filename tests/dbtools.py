"""Test data written straight into the database: a station with one pump series, and its readings."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

import psycopg

from core.migrate import migrate


def pump_series(conn: psycopg.Connection, station: str, name_zh: str, name_en: str, zone: str,
                metric: str = "flow_rate", interval_s: int = 900) -> int:
    """Create (or find) `station` in `zone` with pump P1 measuring `metric`; return the series id."""
    conn.execute("SELECT public.ensure_station(%s, %s, %s, %s)", [station, name_zh, name_en, zone])
    conn.execute("SELECT public.ensure_device(%s, 'P1', 'pump', '1 号泵', 'Pump 1')", [station])
    return conn.execute("SELECT public.ensure_series(%s, 'P1', %s, %s)", [station, metric, interval_s]).fetchone()[0]


def insert_good_readings(conn: psycopg.Connection, series_id: int, readings: Iterable[tuple[datetime, float]]) -> None:
    """Insert good imported readings of one series, creating their partitions; existing ones are kept."""
    readings = list(readings)
    times = [ts for ts, _ in readings]
    conn.execute("SELECT public.ensure_measurement_partitions(%s, %s)", [min(times), max(times)])
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO public.measurements (series_id, ts, value, quality, source_id) VALUES (%s, %s, %s, 0, 2)"
            " ON CONFLICT DO NOTHING",
            [(series_id, ts, value) for ts, value in readings],
        )


def module_database(pg_server, admin_url: str, name: str) -> str:
    """Create (once) and migrate database `name` on the test server; return its admin URL."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_server.url(name)
    migrate(url)
    return url

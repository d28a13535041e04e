"""Import benchmark harness on a tiny file: generated files agree, the run measures both sides and reports them."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import pytest

from core.bench_import import COLUMNS, generate_files, run_import_benchmark
from core.settings import load_settings


@pytest.fixture
def server_data_dir():
    """A data folder outside pytest's temporary root, like the suite's own server.

    Every pytest run that starts resets that root to mode 0700, so the
    system user that the server runs as under root could lose access to a
    folder there while initdb runs.
    """
    folder = Path(tempfile.mkdtemp(prefix="pumpdash-bench-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_generated_files_agree(tmp_path):
    files = generate_files(tmp_path, 1_000, say=lambda text: None)
    with files.wide_csv.open(newline="", encoding="utf-8") as handle:
        wide = list(csv.reader(handle))
    long_lines = files.long_text.read_text(encoding="utf-8").splitlines()

    assert files.readings == 1_000
    assert files.lines == 1_000 // len(COLUMNS)
    assert len(wide) == files.lines + 1
    assert all(len(line) == len(COLUMNS) + 1 for line in wide)
    assert len(long_lines) == files.readings
    assert long_lines[0].split("\t")[2] == wide[1][1]
    assert long_lines[-1].split("\t")[2] == wide[-1][-1]


def test_small_run_reports_both(tmp_path, server_data_dir):
    settings = load_settings(data_dir=server_data_dir)
    report = tmp_path / "import.md"

    results = run_import_benchmark(settings, 2_000, rerun=True, say=lambda text: None, report_path=report)
    text = report.read_text(encoding="utf-8")

    assert results["rows"] == 2_000
    assert results["copy"]["rows"] == 2_000
    assert results["copy_measurements"]["rows"] == 2_000
    assert results["import"]["rows_inserted"] == 2_000
    assert results["import"]["rows_rejected"] == 0
    assert results["reimport"]["rows_unchanged"] == 2_000
    assert results["stored_rows"] == 2_000
    assert results["import"]["peak_rss_mb"] > 0
    assert results["ratio"] > 0
    assert "`python -m dashboard bench --only import --rows 2000 --rerun`" in text
    assert "| import_files, same file again | 2,000 |" in text

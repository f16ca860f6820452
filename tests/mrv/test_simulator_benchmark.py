"""Smoke run of the MRV throughput benchmark on tiny sizes: it runs and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_quick_run_reports_every_figure(tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "mrv_throughput.py"),
            "--quick",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    daily, gps = figures["daily"], figures["gps"]
    for key in (
        "pipeline_s",
        "pandas_s",
        "pipeline_cpu_s",
        "pandas_cpu_s",
        "ingest_s",
        "speedup_vs_pandas",
    ):
        assert daily[key] > 0, key
    for key in (
        "pipeline_s",
        "pandas_s",
        "duckdb_lag_sql_s",
        "duckdb_scan_s",
        "speedup_vs_pandas",
        "speedup_vs_duckdb_lag_sql",
        "ratio_to_scan",
    ):
        assert gps[key] > 0, key
    assert set(gps["cpu_s"]) == set(gps["runs_s"]) and min(gps["cpu_s"].values()) > 0
    assert gps["pings"] > 50_000 and daily["odometer_readings"] > 1_000
    assert daily["pipeline_vehicles_out"] > 0
    scale = figures["scale"]
    assert scale["vehicles"] == 60 and scale["odometer_readings"] > 1_000
    assert 0 < scale["pipeline_peak_rss_mib"] < scale["ceiling_rss_mib"]
    assert scale["pipeline_cpu_s"] > 0
    assert scale["pipeline_rss_to_ceiling"] == scale["pipeline_peak_rss_mib"] / 8192
    assert figures["peak_rss_mib"] > 0
    assert "peak memory" in completed.stdout

"""Smoke run of the API load benchmark: it runs on loopback and reports every figure.

No timing is asserted; only that each figure, baseline and ratio is there and
that the ratios and verdicts follow from the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_api_load_reports_every_figure() -> None:
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "api_load.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert any("ops/s" in line for line in lines[:-1]), "no readable table"
    figures = json.loads(lines[-1])
    assert figures["benchmark"] == "api_load" and figures["clients"] == 5
    assert figures["workers"] >= 1
    for run in ("direct", "api", "api_paced", "api_one_worker"):
        assert figures[run]["operations"] == 40
        assert figures[run]["errors"] == 0
        assert figures[run]["throughput_ops_s"] > 0
        for kind in ("read", "transfer"):
            assert figures[run][kind]["count"] == 20
            assert figures[run][kind]["p50_ms"] <= figures[run][kind]["p99_ms"]
    direct = figures["direct"]["throughput_ops_s"]
    ratio = figures["api"]["throughput_ops_s"] / direct
    assert abs(figures["throughput_ratio"] - ratio) < 0.01
    one = figures["api_one_worker"]["throughput_ops_s"] / direct
    assert abs(figures["one_worker_throughput_ratio"] - one) < 0.01
    paced = figures["api_paced"]
    assert abs(paced["offered_ops_s"] - direct / 2) < 0.2, "paced at half the direct rate"
    assert abs(figures["paced_throughput_ratio"] - paced["throughput_ops_s"] / direct) < 0.01
    assert (
        abs(figures["paced_sustained"] - paced["throughput_ops_s"] / paced["offered_ops_s"]) < 0.01
    )
    assert figures["target_ratio"] == 0.5 and figures["target_p99_ms"] == 100
    for verdict in ("meets_ratio", "meets_p99", "saturated_meets_p99"):
        assert isinstance(figures[verdict], bool)
    assert figures["meets_ratio"] == (ratio >= 0.5)
    assert not figures["meets_p99"] or paced["p99_ms"] < 100

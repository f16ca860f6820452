"""Smoke run of the registry throughput benchmark on tiny sizes: it runs and reports every figure.

No timing is asserted; only that each figure, baseline and ratio is there and positive.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_benchmark_reports_every_figure() -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "registry_throughput.py"),
            "--quick",
            "--backend",
            "sqlite",
            "--transfers",
            "20",
            "--fragments",
            "40",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.strip().splitlines()
    assert any("transfers/s" in line for line in lines[:-1]), "no readable table"
    figures = json.loads(lines[-1])
    assert figures["fragments"] == 40
    assert list(figures["backends"]) == ["sqlite"]
    sqlite = figures["backends"]["sqlite"]
    transfers, verified, holdings = sqlite["transfers"], sqlite["verify"], sqlite["holdings"]
    for key in ("transfers_per_s", "baseline_updates_per_s", "ratio", "late_transfers_per_s"):
        assert transfers[key] > 0, key
    assert transfers["transfers"] == 20
    for key in (
        "events",
        "bytes",
        "events_per_s",
        "bytes_per_s",
        "baseline_events_per_s",
        "baseline_bytes_per_s",
        "ratio",
    ):
        assert verified[key] > 0, key
    for key in (
        "balances_s_before",
        "balances_s_after",
        "balances_ratio",
        "held_blocks_s_before",
        "held_blocks_s_after",
        "held_blocks_ratio",
        "transfer_from_target_s",
    ):
        assert holdings[key] > 0, key
    # 40 partial transfers split the one issued block 40 times, and it was really done.
    assert holdings["source_held_blocks_after"] == 1
    assert holdings["target_held_blocks_after"] == 40
    assert holdings["block_rows_after"] == 1 + 2 * 40
    assert verified["events"] > 40
    for part in (transfers, verified, holdings):
        assert part["target_met"] in (True, False, None)
    assert isinstance(figures["all_targets_met"], bool)

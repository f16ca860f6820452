"""The daily kernel's walk in blocks of vehicles gives what one walk gives."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from article6.mrv import daily_kernel
from article6.mrv.daily_kernel import DailyResult, run_daily_kernel
from article6.mrv.params import load_parameter_set

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
FIRST = 20_089  # 2025-01-01
VEHICLES = [f"V{i}" for i in range(7)]

rows = st.lists(
    st.tuples(st.integers(0, 6), st.integers(FIRST - 40, FIRST + 60), st.floats(0.0, 90.0)),
    max_size=60,
)


def _inputs(
    steps: list[tuple[int, int, float]],
    gps: list[tuple[int, int, float]],
    evidence: list[tuple[int, int, float]],
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    vehicles = pa.table(
        {
            "vehicle_id": VEHICLES,
            "max_daily_km": [120.0] * 7,
            "sec_max_kwh_per_km": [0.05] * 7,
            "er_day": pa.array([FIRST - 10 + 5 * i for i in range(7)], pa.int64()),
            "start_day": pa.array([FIRST - 30] * 7, pa.int64()),
            "stop_day": pa.array([None, FIRST + 40, *[None] * 5], pa.int64()),
        }
    )
    # One day step per vehicle and day: the odometer kernel's rows.
    seen: dict[tuple[int, int], float] = {}
    for vehicle, day, km in steps:
        seen.setdefault((vehicle, day), km)
    ordered = sorted(seen.items())
    gaps: list[int | None] = []
    for index, ((vehicle, day), _) in enumerate(ordered):
        before = ordered[index - 1][0] if index else None
        gaps.append(day - before[1] if before is not None and before[0] == vehicle else None)
    step_table = pa.table(
        {
            "vehicle_id": pa.array([VEHICLES[v] for (v, _), _ in ordered]).dictionary_encode(),
            "day": pa.array([d for (_, d), _ in ordered], pa.int64()),
            "gap": pa.array(gaps, pa.int64()),
            "delta_km": pa.array(
                [None if g is None else km for g, (_, km) in zip(gaps, ordered, strict=True)],
                pa.float64(),
            ),
        }
    )
    gps_days = {(v, d): km for v, d, km in gps}
    gps_table = pa.table(
        {
            "vehicle_id": [VEHICLES[v] for v, _ in gps_days],
            "day": pa.array([d for _, d in gps_days], pa.int64()),
            "gps_km": list(gps_days.values()),
        }
    )
    evidence_table = pa.table(
        {
            "vehicle_id": [VEHICLES[v] for v, _, _ in evidence],
            "day": pa.array([d for _, d, _ in evidence], pa.int64()),
            "energy_kwh": [kwh / 10 for _, _, kwh in evidence],
        }
    )
    return vehicles, step_table, gps_table, evidence_table


def _walk(
    walkers: int,
    tables: tuple[pa.Table, ...],
    monkeypatch: pytest.MonkeyPatch,
    blocks: int = 1,
    spill_dir: Path | None = None,
) -> DailyResult:
    monkeypatch.setattr(daily_kernel, "WALKERS", walkers)
    vehicles, steps, gps, evidence = tables
    return run_daily_kernel(
        vehicles, steps, gps, evidence, PARAMS, FIRST, FIRST + 31, True, blocks, spill_dir
    )


@settings(max_examples=60, deadline=None)
@given(rows, rows, rows, st.integers(2, 9), st.integers(1, 9))
def test_blocks_of_vehicles_change_nothing(
    steps: list[tuple[int, int, float]],
    gps: list[tuple[int, int, float]],
    evidence: list[tuple[int, int, float]],
    walkers: int,
    blocks: int,
) -> None:
    """Walked in parts at once, or block after block with each block's rows kept in
    files until its turn (as for a fleet too large for memory), the days are the same."""
    tables = _inputs(steps, gps, evidence)
    with pytest.MonkeyPatch.context() as patch, tempfile.TemporaryDirectory() as spill:
        whole = _walk(1, tables, patch)
        split = _walk(walkers, tables, patch, blocks, Path(spill))
        assert list(Path(spill).iterdir()) == []  # every block's file read and let go
    assert split.totals.equals(whole.totals)
    assert split.rejected_days.equals(whole.rejected_days)
    assert split.days is not None and whole.days is not None
    assert split.days.equals(whole.days)
    # Every vehicle has its row of totals, in the kernel's order.
    assert whole.totals.column("vehicle_id").to_pylist() == VEHICLES

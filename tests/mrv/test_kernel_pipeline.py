"""A DuckDB run through the compiled kernels gives the results of the Ibis rules.

The fleet is simulated across the turn of the vintage with GPS, untracked
vehicles read by survey and faults of every kind (and repeated meter readings,
failed and missing calibrations), so the comparison covers
gap and evidence filling (with observed days of the year before), GPS and
odometer disagreements, the daily maximum, the service window, duplicate and
unknown records, station activity and every vehicle-year figure.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from staged_data import rewrite_staged, shuffled_copy, with_copied_keys

from article6.mrv import kernel_steps
from article6.mrv.ingest import ingest_dataset, staging_writer
from article6.mrv.kernel_steps import days_spanned, memory_needed
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.runs import compare_tables, summarise, values_match
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
TABLES = ("vehicles", "stations", "segments", "rejected", "rejected_days")


@pytest.fixture(scope="module", params=[True, False], ids=["gps", "odometer"])
def staged(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """With GPS (the pings judge every odometer day), and without (gaps are filled)."""
    root = tmp_path_factory.mktemp("kernel-pipeline")
    config = SimulationConfig(
        120,
        date(2024, 11, 1),
        120,
        root / "data",
        seed=21,
        gps=request.param,
        fault_rate=0.5,
        ping_interval_s=120,
        untracked_share=0.1,
    )
    simulate_fleet(config)
    ingest_dataset(root / "data", root / "stage")
    stage = root / "stage"
    rewrite_staged(stage / "meter_readings.parquet", lambda t: with_copied_keys(t, 7, 97))
    rewrite_staged(stage / "meter_calibrations.parquet", _failed_and_missing)
    return stage


def _failed_and_missing(table: pa.Table) -> pa.Table:
    """Every other calibration failed; one meter never calibrated."""
    passed = table.column("passed").to_numpy(zero_copy_only=False).copy()
    passed[::2] = False
    table = table.set_column(table.schema.get_field_index("passed"), "passed", [passed])
    first = table.column("meter_id")[0]
    return table.filter(pc.not_equal(table.column("meter_id"), first))


def _run(stage: Path, out: Path, kernels: bool) -> PipelineResult:
    return run_pipeline(stage, PARAMS, 2025, detail_dir=out, kernels=kernels)


def test_kernels_give_the_results_of_the_ibis_rules(staged: Path, tmp_path: Path) -> None:
    ibis_run = _run(staged, tmp_path / "ibis", kernels=False)
    kernel_run = _run(staged, tmp_path / "kernels", kernels=True)
    days = {row["reason"] for row in ibis_run.rejected_days.to_pylist()}
    assert {"daily_km_exceeded", "before_er_rights"} <= days
    meters = {
        r["reason"] for r in ibis_run.rejected.to_pylist() if r["record_type"] == "meter_readings"
    }
    assert {"duplicate_key", "meter_decrease", "meter_excluded"} <= meters
    stations = ibis_run.stations.to_pylist()
    assert any(row["calibration_adjusted"] for row in stations)
    assert any(row["uncalibrated_days"] > 0 for row in stations)
    assert any(row["interval_mismatch_days"] > 0 for row in stations)
    for name in TABLES:
        left, right = getattr(kernel_run, name), getattr(ibis_run, name)
        assert left.schema.names == right.schema.names, name
        assert compare_tables(name, left, right) == [], name
    order = [("vehicle_id", "ascending"), ("day", "ascending")]
    kernel_daily = pq.read_table(tmp_path / "kernels" / "daily.parquet").sort_by(order)
    ibis_daily = pq.read_table(tmp_path / "ibis" / "daily.parquet").sort_by(order)
    sources = set(ibis_daily.column("source").to_pylist())
    gps = pq.read_metadata(staged / "gps_pings.parquet").num_rows > 0
    assert {"odometer", "evidence_fill", "gps" if gps else "odometer_gap"} <= sources
    assert compare_tables("daily", kernel_daily, ibis_daily) == []
    quarantine = [("source_file", "ascending"), ("source_row", "ascending")]
    kernel_bad = pq.read_table(tmp_path / "kernels" / "quarantine.parquet").sort_by(quarantine)
    ibis_bad = pq.read_table(tmp_path / "ibis" / "quarantine.parquet").sort_by(quarantine)
    assert compare_tables("quarantine", kernel_bad, ibis_bad) == []
    kernel_figures, kernel_flags = summarise(kernel_run, PARAMS)
    ibis_figures, ibis_flags = summarise(ibis_run, PARAMS)
    assert values_match(asdict(kernel_figures), asdict(ibis_figures))
    assert kernel_flags == ibis_flags
    assert kernel_figures.be_t > 0


def test_files_in_any_order_give_the_same_results(staged: Path, tmp_path: Path) -> None:
    """Readings out of time order make the odometer (and GPS) kernel start over on its
    input sorted: the day steps it had handed to the daily kernel are replaced, not
    added to; swaps and charges in any order are ranked by source file and row."""
    names = ["odometer_readings", "gps_pings", "swap_events", "charge_sessions"]
    shuffled = shuffled_copy(staged, tmp_path / "shuffled", names, seed=5)
    stored = _run(staged, tmp_path / "stored", kernels=True)
    reordered = _run(shuffled, tmp_path / "reordered", kernels=True)
    for name in TABLES:
        assert compare_tables(name, getattr(reordered, name), getattr(stored, name)) == [], name
    order = [("vehicle_id", "ascending"), ("day", "ascending")]
    stored_days = pq.read_table(tmp_path / "stored" / "daily.parquet").sort_by(order)
    reordered_days = pq.read_table(tmp_path / "reordered" / "daily.parquet").sort_by(order)
    assert stored_days.num_rows > 0
    assert compare_tables("daily", reordered_days, stored_days) == []


def test_a_fleet_that_could_outgrow_the_kernels_memory_is_walked_in_blocks(
    staged: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the allowance the daily kernel walks blocks of vehicles, each block's rows
    waiting on disk: the results, the credited days among them, are the same."""
    needed = memory_needed(staged)
    blocks: list[int] = []
    made = kernel_steps.DailyKernel

    def counted(*args: Any) -> Any:
        kernel = made(*args)
        blocks.append(kernel.bounds.shape[0] - 1)
        return kernel

    monkeypatch.setattr(kernel_steps, "DailyKernel", counted)
    monkeypatch.setenv("ARTICLE6_MRV_KERNEL_MEMORY", f"{needed // 1000 + 1}KB")
    roomy = _run(staged, tmp_path / "roomy", kernels=True)
    monkeypatch.setenv("ARTICLE6_MRV_KERNEL_MEMORY", f"{needed // 3000}KB")
    tight = _run(staged, tmp_path / "tight", kernels=True)
    assert blocks[0] == 1 and blocks[1] >= 3
    for name in TABLES:
        assert compare_tables(name, getattr(tight, name), getattr(roomy, name)) == [], name
    tight_days = pq.read_table(tmp_path / "tight" / "daily.parquet")
    roomy_days = pq.read_table(tmp_path / "roomy" / "daily.parquet")
    assert tight_days.num_rows > 0
    assert compare_tables("daily", tight_days, roomy_days) == []


def test_the_memory_bound_counts_days_steps_and_events(staged: Path, tmp_path: Path) -> None:
    readings = pq.read_table(staged / "odometer_readings.parquet", columns=["ts"])
    ts = readings.column("ts")
    span = (pc.max(ts).as_py() - pc.min(ts).as_py()).days + 2
    assert days_spanned(staged / "odometer_readings.parquet") == span
    vehicles = pq.read_metadata(staged / "vehicles.parquet").num_rows
    pings = pq.read_metadata(staged / "gps_pings.parquet").num_rows
    events = sum(
        pq.read_metadata(staged / f"{name}.parquet").num_rows
        for name in ("swap_events", "charge_sessions")
    )
    gps_days = min(pings, vehicles * days_spanned(staged / "gps_pings.parquet"))
    expected = 20 * min(readings.num_rows, vehicles * span) + 16 * gps_days + 16 * events
    assert memory_needed(staged) == expected > 0
    # Without statistics the file's rows are the bound.
    bare = tmp_path / "bare.parquet"
    pq.write_table(readings, bare, write_statistics=False)
    assert days_spanned(bare) == readings.num_rows


def test_a_fleet_without_a_pings_file_runs_as_with_an_empty_one(
    staged: Path, tmp_path: Path
) -> None:
    """No pings file at all counts no GPS day in the memory bound and gives the results
    of an empty one (each fleet: with GPS, its pings are left out of both copies)."""
    empty, bare = tmp_path / "empty-pings", tmp_path / "no-pings"
    for stage in (empty, bare):
        stage.mkdir()
        for path in staged.glob("*.parquet"):
            if path.name != "gps_pings.parquet":
                (stage / path.name).symlink_to(path)
    schema = pq.read_schema(staged / "gps_pings.parquet")
    with staging_writer(empty / "gps_pings.parquet", schema) as writer:
        writer.write_table(schema.empty_table())
    assert memory_needed(bare) == memory_needed(empty) > 0
    with_file = _run(empty, tmp_path / "with", kernels=True)
    without = _run(bare, tmp_path / "without", kernels=True)
    for name in TABLES:
        assert compare_tables(name, getattr(without, name), getattr(with_file, name)) == [], name

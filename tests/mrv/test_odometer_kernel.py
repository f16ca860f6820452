"""The streaming odometer kernel gives the rows of the Ibis odometer rules on DuckDB:
the same daily distances, reading days and rejections, whatever the batch size
and whether or not the readings are stored in time order."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from staged_data import rewrite_staged, shuffled_copy, with_copied_keys

from article6.mrv.daily_inbox import Inbox
from article6.mrv.distance import odometer_step
from article6.mrv.engine import Engine
from article6.mrv.ingest import ingest_dataset, staging_writer
from article6.mrv.odometer_duckdb import kernel_odometer_step
from article6.mrv.odometer_kernel import run_odometer_kernel
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import parameter_tables
from article6.mrv.quality import apply_identity_rules
from article6.mrv.schema import SCHEMAS
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
READINGS = "odometer_readings"
Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A faulty simulated fleet (unassigned devices, implausible rises, decreases,
    device swaps), with copies of some readings' keys stored right after them."""
    root = tmp_path_factory.mktemp("odometer")
    simulate_fleet(
        SimulationConfig(60, date(2025, 1, 1), 45, root / "data", seed=5, fault_rate=0.3)
    )
    ingest_dataset(root / "data", root / "stage")
    rewrite_staged(
        root / "stage" / f"{READINGS}.parquet",
        lambda table: with_copied_keys(table, 50, table.num_rows // 7),
    )
    return root / "stage"


def _rows(engine: Engine, odo: ir.Table, days: ir.Table, rejected: list[ir.Table]) -> Rows:
    def collect(table: ir.Table) -> list[tuple[Any, ...]]:
        return sorted(tuple(row.values()) for row in engine.to_arrow(table).to_pylist())

    bad = [collect(table) for table in rejected]
    return collect(odo), collect(days.distinct()), sorted(row for part in bad for row in part)


def _run(stage: Path, work: Path, kernel: bool, batch_rows: int = 1 << 20) -> Rows:
    engine = Engine("duckdb")
    try:
        names = [n for n in SCHEMAS if n != "gps_pings" and not (kernel and n == READINGS)]
        raw = {name: engine.read(stage / f"{name}.parquet") for name in names}
        tables, dedup = apply_identity_rules(raw, PARAMS)
        work.mkdir()
        offsets = engine.read(parameter_tables(PARAMS, 2025, work)[1])
        if kernel:
            odo, days, out = kernel_odometer_step(
                engine, stage / f"{READINGS}.parquet", tables, offsets, PARAMS, work, batch_rows
            )
        else:
            odo, days, out = odometer_step(dedup[READINGS], tables, offsets, PARAMS)
            rejected = tables.rejected
            out = [*out, rejected.filter(rejected.record_type == READINGS)]
        return _rows(engine, odo, days, out)
    finally:
        engine.close()


@pytest.mark.parametrize(("shuffle", "batch_rows"), [(False, 1 << 20), (False, 97), (True, 500)])
def test_kernel_matches_the_ibis_odometer_rules(
    staged: Path, tmp_path: Path, shuffle: bool, batch_rows: int
) -> None:
    stage = shuffled_copy(staged, tmp_path / "shuffled", [READINGS], seed=7) if shuffle else staged
    expected = _run(stage, tmp_path / "ibis", kernel=False)
    odo, days, bad = expected
    reasons = {row[4] for row in bad}
    assert {"duplicate_key", "implausible_speed", "odometer_decrease"} <= reasons
    assert any(imputed for *_, imputed in odo) and len(days) > 1000
    assert _run(stage, tmp_path / "kernel", kernel=True, batch_rows=batch_rows) == expected


def test_kernel_reports_how_it_had_to_read(staged: Path, tmp_path: Path) -> None:
    assignments = pq.read_table(staged / "device_assignments.parquet")
    vehicles = pq.read_table(staged / "vehicles.parquet")
    files = run_odometer_kernel(
        staged / f"{READINGS}.parquet", assignments, vehicles, PARAMS, tmp_path / "in-order"
    )
    assert files.resorted is False
    assert files.diverted_rows > 0  # vehicles whose device was swapped
    shuffled = shuffled_copy(staged, tmp_path / "shuffled", [READINGS], seed=7)
    files = run_odometer_kernel(
        shuffled / f"{READINGS}.parquet", assignments, vehicles, PARAMS, tmp_path / "resorted"
    )
    assert files.resorted is True


def test_the_comparison_notices_changed_readings(staged: Path, tmp_path: Path) -> None:
    """The equality above can fail: raising some readings changes the kernel's rows."""
    before = _run(staged, tmp_path / "before", kernel=True)
    table = pq.read_table(staged / f"{READINGS}.parquet")
    km = table.column("odometer_km").to_numpy().copy()
    km[::100] += 5.0
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in staged.glob("*.parquet"):
        (changed / path.name).symlink_to(path)
    (changed / f"{READINGS}.parquet").unlink()
    with staging_writer(changed / f"{READINGS}.parquet", table.schema) as writer:
        writer.write_table(
            table.set_column(table.schema.get_field_index("odometer_km"), "odometer_km", [km])
        )
    assert _run(changed, tmp_path / "after", kernel=True) != before


def test_without_any_accepted_assignment_every_reading_is_unassigned(
    staged: Path, tmp_path: Path
) -> None:
    assignments = pq.read_table(staged / "device_assignments.parquet").slice(0, 0)
    vehicles = pq.read_table(staged / "vehicles.parquet")
    files = run_odometer_kernel(
        staged / f"{READINGS}.parquet", assignments, vehicles, PARAMS, tmp_path / "none"
    )
    readings = pq.read_metadata(staged / f"{READINGS}.parquet").num_rows
    reasons = pa.ipc.open_file(files.rejected).read_all().column("reason").to_pylist()
    assert len(reasons) == readings
    assert set(reasons) == {"unassigned_device", "duplicate_key"}
    assert pa.ipc.open_file(files.steps).read_all().num_rows == 0


def test_an_inbox_gets_the_day_steps_of_the_file_even_if_reading_starts_over(
    staged: Path, tmp_path: Path
) -> None:
    """Readings out of time order near the end of the file are found after day steps
    went out: the kernel starts over on the file sorted, and the inbox is emptied."""
    table = pq.read_table(staged / f"{READINGS}.parquet")
    tail = np.arange(table.num_rows - 300, table.num_rows)
    order = np.concatenate(
        [np.arange(table.num_rows - 300), np.random.default_rng(3).permutation(tail)]
    )
    late = tmp_path / "late"
    late.mkdir()
    with staging_writer(late / f"{READINGS}.parquet", table.schema) as writer:
        writer.write_table(table.take(order))
    assignments = pq.read_table(staged / "device_assignments.parquet")
    vehicles = pq.read_table(staged / "vehicles.parquet")
    path = late / f"{READINGS}.parquet"
    files = run_odometer_kernel(path, assignments, vehicles, PARAMS, tmp_path / "file", 97)
    assert files.resorted is True
    steps = pa.ipc.open_file(files.steps).read_all()
    names = vehicles.column("vehicle_id").to_pylist()
    code_of = {name: code for code, name in enumerate(names)}
    inbox = Inbox(code_of, 10, (np.int32, np.int32, np.float64))
    run_odometer_kernel(path, assignments, vehicles, PARAMS, tmp_path / "inbox", 97, inbox=inbox)
    expected = sorted(
        (code_of[row["vehicle_id"]], row["day"], row["gap"] or -1, row["delta_km"] or 0.0)
        for row in steps.to_pylist()
    )
    received = sorted(zip(*(column.tolist() for column in inbox.rows()), strict=True))
    assert len(expected) > 1000
    assert received == expected

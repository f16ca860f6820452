"""The odometer step of a DuckDB run: the streaming kernel in place of ``odometer_step``.

As for GPS (``gps_duckdb``), the kernel gets the accepted assignments and
vehicles as Arrow and the staged readings file; its results come back as
engine tables shaped like those of ``distance.odometer_step``, the rejection
details rendered by the engine so they read exactly as the Ibis rules' do.
"""

from __future__ import annotations

from pathlib import Path

import ibis.expr.types as ir

from article6.mrv.distance import OdometerStep, spread_steps
from article6.mrv.engine import Engine
from article6.mrv.gps_duckdb import kernel_rejections
from article6.mrv.odometer_kernel import BATCH_ROWS, run_odometer_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables


def kernel_odometer_step(
    runner: Engine,
    readings: Path,
    tables: QualityTables,
    offsets: ir.Table,
    params: ParameterSet,
    work_dir: Path,
    batch_rows: int = BATCH_ROWS,
) -> OdometerStep:
    """``odometer_step`` over the staged (not yet deduplicated) readings, by the kernel.

    Duplicate keys of readings are rejected here too, so the identity rules
    must leave the readings out. The reading days are one row per vehicle-day.
    """
    assignments = runner.to_arrow(
        tables.assignments.select(
            "device_id", "vehicle_id", "valid_from", "valid_to", "odometer_offset_km"
        )
    )
    vehicles = runner.to_arrow(tables.vehicles.select("vehicle_id", "top_speed_kmh"))
    with runner.cursor() as con:
        files = run_odometer_kernel(
            readings, assignments, vehicles, params, work_dir, batch_rows, con
        )
    steps = runner.read_arrow(files.steps)
    rejected = runner.read_arrow(files.rejected)
    rejected = kernel_rejections(rejected, "odometer_readings", "odometer_km")
    moving = steps.filter(steps.gap.notnull())
    moving = moving.select("vehicle_id", "day", _gap=moving.gap, _delta_km=moving.delta_km)
    # Left lazy: the daily rows are read once, by the combination with GPS.
    daily = spread_steps(moving, offsets, params)
    return daily, steps.select("vehicle_id", "day"), [rejected]

"""The GPS step of a DuckDB run: the streaming kernel in place of the Ibis ``gps_daily``.

The kernel needs only the accepted assignments and vehicles (small, fetched
as Arrow) and the staged ping file; its results come back as engine tables
shaped like those of ``gps_daily``, so the rest of the pipeline is unchanged.
The rejection details are rendered by the engine (``CAST(lat AS VARCHAR)``),
so they read exactly as those of ``gps_daily``.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import ibis.expr.types as ir

from article6.mrv.engine import Engine
from article6.mrv.gps_kernel import BATCH_ROWS, run_gps_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables
from article6.mrv.reasons import ReasonCode

GpsStep = tuple[ir.Table, ir.Table, list[ir.Table]]
"""daily (vehicle_id, day, gps_km), ping days (vehicle_id, day), quarantine tables."""


def kernel_gps_daily(
    runner: Engine,
    pings: Path,
    tables: QualityTables,
    params: ParameterSet,
    work_dir: Path,
    batch_rows: int = BATCH_ROWS,
) -> GpsStep:
    """``gps_daily`` over the staged (not yet deduplicated) pings, by the kernel.

    Duplicate keys of pings are rejected here too, so the identity rules must
    leave the pings out. The ping days are the days of ``daily`` (every kept
    ping adds a row, possibly of 0 km, to its day), one row per vehicle-day.
    """
    assignments = runner.to_arrow(
        tables.assignments.select("device_id", "vehicle_id", "valid_from", "valid_to")
    )
    vehicles = runner.to_arrow(tables.vehicles.select("vehicle_id", "top_speed_kmh"))
    with runner.cursor() as con:
        files = run_gps_kernel(pings, assignments, vehicles, params, work_dir, batch_rows, con=con)
    daily = runner.read_arrow(files.daily)
    rejected = kernel_rejections(runner.read_arrow(files.rejected), "gps_pings", "lat")
    return daily, daily.select("vehicle_id", "day"), [rejected]


def kernel_rejections(bad: ir.Table, record_type: str, value_column: str) -> ir.Table:
    """A kernel's rejected rows in the quarantine layout of the Ibis rules.

    Duplicates name the device id with no detail, unassigned rows the device
    id itself; the other rules name `value_column` with its value, rendered
    by the engine (``CAST(x AS VARCHAR)``) as the Ibis rules render it.
    """
    duplicate = bad.reason == ReasonCode.DUPLICATE_KEY.value
    unassigned = bad.reason == ReasonCode.UNASSIGNED_DEVICE.value
    return bad.select(
        record_type=ibis.literal(record_type),
        source_file=bad.source_file,
        source_row=bad.source_row,
        column=ibis.ifelse(duplicate | unassigned, "device_id", value_column),
        reason=bad.reason,
        detail=ibis.cases(
            (duplicate, ""),
            (unassigned, bad.device_id.cast("string").fill_null("")),
            else_=bad[value_column].cast("string").fill_null(""),
        ),
    )

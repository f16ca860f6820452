"""Swaps and charges of a DuckDB run: the activity kernel in place of the Ibis rules.

The kernel needs only the accepted and known ids (small, fetched as Arrow)
and the staged files; its results come back as engine tables shaped like
those of ``distance.activity_evidence``, ``energy.station_activity`` and the
swap and charge part of the identity quarantine.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pyarrow as pa

from article6.mrv.activity_kernel import ActivityResult, Reference
from article6.mrv.energy import StationActivity
from article6.mrv.engine import Engine
from article6.mrv.quality import QualityTables

ActivityStep = tuple[pa.Table, StationActivity, ir.Table]
"""Activity evidence (Arrow, for the daily kernel), the stations' activity and the
quarantine rows."""


def activity_reference(
    runner: Engine, tables: QualityTables, all_vehicle_ids: ir.Column, all_station_ids: ir.Column
) -> Reference:
    """The ids the activity kernel looks records up in, from the identity tables."""
    vehicles = runner.to_arrow(tables.vehicles.select("vehicle_id", "battery_mode"))
    batteries = runner.to_arrow(tables.batteries.select("battery_id", "capacity_kwh"))
    capacities = batteries.column("capacity_kwh").to_pylist()
    battery_ids = batteries.column("battery_id").to_pylist()
    return Reference(
        vehicles=vehicles.column("vehicle_id").to_pylist(),
        modes=vehicles.column("battery_mode").to_pylist(),
        known_vehicles=frozenset(_ids(runner, all_vehicle_ids)),
        stations=_ids(runner, tables.stations.station_id),
        known_stations=frozenset(_ids(runner, all_station_ids)),
        capacity_kwh={
            battery: 0.0 if kwh is None else kwh
            for battery, kwh in zip(battery_ids, capacities, strict=True)
        },
    )


def load_activity(runner: Engine, result: ActivityResult) -> ActivityStep:
    """The activity kernel's results as engine tables (the evidence stays Arrow)."""
    activity = StationActivity(
        served=runner.load_arrow(result.served, "activity_served"),
        non_project=runner.load_arrow(result.non_project, "activity_non_project"),
        by_mode=runner.load_arrow(result.by_mode, "activity_by_mode"),
    )
    rejected = runner.load_arrow(result.rejected, "activity_rejected")
    return result.evidence, activity, rejected


def _ids(runner: Engine, column: ir.Column) -> list[str]:
    ids = runner.to_arrow(column.as_table()).column(0).to_pylist()
    return [i for i in ids if i is not None]

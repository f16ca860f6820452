"""Swaps and charges of a DuckDB run: the activity kernel in place of the Ibis rules.

The kernel needs only the accepted and known ids (small, fetched as Arrow)
and the staged files; its results come back as engine tables shaped like
those of ``energy.station_activity`` and the swap and charge part of the
identity quarantine, and its evidence goes to the daily kernel as Arrow.
"""

from __future__ import annotations

import ibis.expr.types as ir

from article6.mrv.activity_kernel import ActivityResult, Reference
from article6.mrv.energy import StationActivity
from article6.mrv.engine import Engine
from article6.mrv.quality import QualityTables


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
        known_vehicles=frozenset(ids_of(runner, all_vehicle_ids)),
        stations=ids_of(runner, tables.stations.station_id),
        known_stations=frozenset(ids_of(runner, all_station_ids)),
        capacity_kwh={
            battery: 0.0 if kwh is None else kwh
            for battery, kwh in zip(battery_ids, capacities, strict=True)
        },
    )


def load_activity(runner: Engine, result: ActivityResult) -> tuple[StationActivity, ir.Table]:
    """The stations' activity and the quarantine rows as engine tables (the evidence
    goes to the daily kernel as Arrow)."""
    activity = StationActivity(
        served=runner.load_arrow(result.served, "activity_served"),
        non_project=runner.load_arrow(result.non_project, "activity_non_project"),
        by_mode=runner.load_arrow(result.by_mode, "activity_by_mode"),
    )
    return activity, runner.load_arrow(result.rejected, "activity_rejected")


def ids_of(runner: Engine, column: ir.Column) -> list[str]:
    """The ids in an engine column, empty values left out."""
    ids = runner.to_arrow(column.as_table()).column(0).to_pylist()
    return [i for i in ids if i is not None]

"""Which faults a simulated data set carries, decided before any row is drawn.

Each fault kind mirrors one quality rule of the methodology (section 3 of the
MRV notes): a test generates data with faults, runs the quality rules and
checks that every injected fault was caught with the right reason. The plan is
drawn up front so that a vehicle carries at most one fault, so that the
vehicle's calendar can be adjusted to make the fault possible (a vehicle that
must show readings after decommissioning needs a decommissioning date inside
the window), and so that chunked generation injects exactly what the plan says.

Survey faults (a repeated key, an unknown vehicle, a decreasing reading) are
planted among the manual odometer surveys by `sim_surveys`, only when some
vehicles have no telematics and are surveyed.

The manifest written beside the data lists every injected fault with its kind,
record type, key columns and row position in that record type's file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from article6.mrv.sim_fleet import Fleet, Stations

VEHICLE_FAULT_KINDS = (
    "duplicate_vin",
    "duplicate_plate",
    "device_on_two_vehicles",
    "odometer_decrease",
    "excessive_daily_km",
    "implied_speed",
    "readings_after_decommission",
    "before_er_rights_date",
    "gap_short",
    "gap_long",
    "no_activity_evidence",
    "no_er_rights",
    "other_programme_vehicle",
    "unknown_vehicle",
)
GPS_FAULT_KINDS = ("gps_jump", "outside_cambodia")
STATION_FAULT_KINDS = (
    "other_programme_station",
    "meter_decrease",
    "meter_interval_mismatch",
    "calibration_failed",
    "invoice_mismatch",
    "duplicate_battery_id",
)
# Manual odometer surveys of vehicles without telematics; planted only where surveys exist.
SURVEY_FAULT_KINDS = ("survey_duplicate_key", "survey_unknown_vehicle", "survey_decrease")
ALL_FAULT_KINDS = VEHICLE_FAULT_KINDS + GPS_FAULT_KINDS + STATION_FAULT_KINDS + SURVEY_FAULT_KINDS
MIN_DAYS_FOR_FAULTS = 21
NO_FAULT = -1


@dataclass(frozen=True)
class FaultPlan:
    """Per-vehicle fault kind (index into `vehicle_kinds`) and the day it strikes."""

    vehicle_kinds: tuple[str, ...]
    vehicle_fault: NDArray[np.int64]
    vehicle_fault_day: NDArray[np.int64]
    vehicle_partner: NDArray[np.int64]  # the other vehicle of a duplicate or shared device
    station_faults: dict[str, NDArray[np.int64]] = field(default_factory=dict)

    def kind_of(self, vehicle: int) -> str | None:
        code = int(self.vehicle_fault[vehicle])
        return None if code == NO_FAULT else self.vehicle_kinds[code]

    def code(self, kind: str) -> int:
        return self.vehicle_kinds.index(kind) if kind in self.vehicle_kinds else -2


@dataclass(frozen=True)
class ManifestEntry:
    """One injected fault, pointing at the row a quality rule must reject."""

    kind: str
    record_type: str
    key: dict[str, Any]
    row: int

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "record_type": self.record_type,
            "key": self.key,
            "row": self.row,
        }


def no_faults(vehicles: int) -> FaultPlan:
    """The plan of a clean data set."""
    empty = np.full(vehicles, NO_FAULT, dtype=np.int64)
    return FaultPlan((), empty, empty.copy(), empty.copy(), {})


def plan_faults(
    rng: np.random.Generator,
    fleet: Fleet,
    stations: Stations,
    days: int,
    fault_rate: float,
    gps: bool,
) -> tuple[FaultPlan, Fleet]:
    """Choose faulty vehicles and stations; return the plan and the adjusted fleet.

    About `fault_rate` of the vehicles get one fault each, kinds taken in turn
    so every kind appears at least once whenever the fleet is large enough.
    """
    if fault_rate <= 0.0:
        return no_faults(fleet.size), fleet
    if not 0.0 < fault_rate <= 0.5:
        raise ValueError(f"fault_rate must lie in (0, 0.5], got {fault_rate}")
    if days < MIN_DAYS_FOR_FAULTS:
        raise ValueError(f"fault injection needs at least {MIN_DAYS_FOR_FAULTS} days, got {days}")
    kinds = VEHICLE_FAULT_KINDS + (GPS_FAULT_KINDS if gps else ())
    wanted = max(len(kinds), round(fault_rate * fleet.size))
    # Faulty vehicles need a stretch of at least 20 active days and no device event, so that a
    # decrease or a jump cannot be mistaken for a legitimate device swap. Most faults live in a
    # device's readings, and a shared device is a partner's, so both need telematics.
    start = np.maximum(fleet.commission_day, 0)
    end = np.minimum(fleet.decommission_day, days)
    eligible = np.flatnonzero((end - start >= 20) & (fleet.device_event_day < 0) & fleet.tracked)
    chosen = rng.permutation(eligible)[: min(wanted, eligible.shape[0] - 1)]
    vehicle_fault = np.full(fleet.size, NO_FAULT, dtype=np.int64)
    vehicle_fault[chosen] = np.arange(chosen.shape[0]) % len(kinds)
    partner = np.full(fleet.size, NO_FAULT, dtype=np.int64)
    unfaulty = np.setdiff1d(eligible, chosen)
    partner_pool = unfaulty if unfaulty.shape[0] else eligible
    # Distinct partners where possible, so a duplicated VIN appears exactly twice.
    partner[chosen] = rng.choice(
        partner_pool, size=int(chosen.shape[0]), replace=partner_pool.shape[0] < chosen.shape[0]
    )

    commission = fleet.commission_day.copy()
    decommission = fleet.decommission_day.copy()
    er_rights = fleet.er_rights_day.copy()
    for vehicle, code in zip(chosen, vehicle_fault[chosen], strict=True):
        kind = kinds[code]
        if kind == "before_er_rights_date":
            commission[vehicle] = max(int(commission[vehicle]), 0)
            er_rights[vehicle] = commission[vehicle] + 10
        elif kind == "readings_after_decommission":
            low = int(start[vehicle]) + 12
            decommission[vehicle] = min(int(decommission[vehicle]), max(low, days - 6))
    fault_day = np.full(fleet.size, NO_FAULT, dtype=np.int64)
    active_from = np.maximum(commission, 0)
    active_to = np.minimum(decommission, days)
    span = active_to - active_from
    fault_day[chosen] = (
        active_from[chosen] + 3 + (rng.random(chosen.shape[0]) * (span[chosen] - 16))
    )
    adjusted = replace(
        fleet, commission_day=commission, decommission_day=decommission, er_rights_day=er_rights
    )

    station_faults = _plan_station_faults(rng, stations, fault_rate)
    plan = FaultPlan(kinds, vehicle_fault, fault_day, partner, station_faults)
    return plan, adjusted


def _plan_station_faults(
    rng: np.random.Generator, stations: Stations, fault_rate: float
) -> dict[str, NDArray[np.int64]]:
    """Stations per station-level fault, distinct across kinds while stations last.

    Distinct stations keep one fault from hiding another: a meter of a station
    excluded for another programme would be rejected for that reason first.
    """
    per_kind = max(1, round(fault_rate * stations.size / len(STATION_FAULT_KINDS)))
    cabinet = stations.kind_index == 0
    # An inflated bill needs grid energy to inflate: on-site solar can cover a small
    # station's whole demand, so pure grid stations are preferred.
    grid = stations.supply_index == 0
    if not grid.any():
        grid = stations.supply_index < 2
    everywhere = np.ones(stations.size, dtype=bool)
    # A roaming cabinet sees only riders away from home, so excluding it for another
    # programme costs a few swaps, as it would in the field, not a whole segment.
    roaming = stations.roaming if stations.roaming.any() else cabinet
    candidates = {
        "other_programme_station": roaming,
        "duplicate_battery_id": cabinet,
        "invoice_mismatch": grid,
        "meter_decrease": everywhere,
        # The interval rule checks the grid-import meter, the one whose energy counts.
        "meter_interval_mismatch": stations.supply_index < 2,
        "calibration_failed": everywhere,
    }
    used = np.zeros(stations.size, dtype=bool)
    chosen: dict[str, NDArray[np.int64]] = {}
    for kind in STATION_FAULT_KINDS:
        allowed = candidates[kind]
        fresh = np.flatnonzero(allowed & ~used)
        pool = fresh if fresh.shape[0] >= per_kind else np.flatnonzero(allowed)
        picked = rng.choice(pool, size=min(per_kind, pool.shape[0]), replace=False)
        used[picked] = True
        chosen[kind] = np.sort(picked).astype(np.int64)
    return chosen

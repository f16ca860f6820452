"""Vehicles sold without telematics and the manual odometer surveys that stand for them.

Some vehicles reach their riders without a telematics device, typically
private sales through dealers outside the capital (Siem Reap). They still swap
batteries and charge, so they have activity evidence, but no device
assignment, odometer readings or pings: their distance can only come from the
survey sample of (E9). The simulator therefore

- marks a chosen share of the private sales as untracked, Siem Reap sales
  three times as likely as Phnom Penh ones;
- sizes a survey sample per calendar year and category the way a monitoring
  plan would, with the (E9) formula at 90 % confidence and 10 % precision and
  a conservative planning CV of 0.5 (the real spread of annual distance is
  about half that, so a planned sample reaches the precision); a category
  named in `undersampled` gets a sixth of that size, at least 3, so a
  run must fall back to the lower bound;
- draws the sample at random from the untracked vehicles in service long
  enough to be inspected twice, and reads each odometer in the morning at an
  inspection soon after the start of the vehicle's year (or its
  commissioning), once or twice mid-year, and shortly before the end of its
  year (or its decommissioning); a reading is the vehicle's true distance so
  far, in whole kilometres as written down by an inspector;
- plants survey faults (a repeated key, a reading of a vehicle the project
  does not know, a reading below an earlier one) when faults are requested,
  each listed in the manifest so a test can check the quality rules catch it.

The true distance of every untracked vehicle per calendar year is returned
as well, so a test can compare what sampling credits with what was driven.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv import methodology
from article6.mrv.sim_activity import ChunkTable, VehicleChunk
from article6.mrv.sim_faults import NO_FAULT, SURVEY_FAULT_KINDS
from article6.mrv.sim_fleet import CATEGORIES, OWNER_TYPES, PROVINCES, Fleet

UNTRACKED_OWNER = OWNER_TYPES.index("private_sale")
SIEM_REAP = PROVINCES.index("Siem Reap")
SIEM_REAP_WEIGHT = 3.0
PLANNING_CV = 0.5
PLANNING_PRECISION = 0.10
PLANNING_Z = 1.645
UNDERSAMPLE_DIVISOR = 6
MIN_UNDERSAMPLE = 3
MIN_SPAN_DAYS = 60  # inspections at least two months apart in a full year
INSPECTION_SLACK_DAYS = 14
TYPO_KM = 100.0  # a re-keyed reading with one digit wrong
MISREAD_KM = 50.0  # a reading written down lower than the previous one
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def mark_untracked(rng: np.random.Generator, fleet: Fleet, share: float) -> Fleet:
    """The fleet with `share` of all vehicles, all private sales, sold without a device."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"untracked share must lie in [0, 1), got {share}")
    count = round(share * fleet.size)
    if count == 0:
        return fleet
    candidates = np.flatnonzero(fleet.owner_index == UNTRACKED_OWNER)
    if count > candidates.shape[0]:
        raise ValueError(
            f"untracked share {share} exceeds the share of private sales "
            f"({candidates.shape[0] / fleet.size:.2f})"
        )
    weight = np.where(fleet.province_index[candidates] == SIEM_REAP, SIEM_REAP_WEIGHT, 1.0)
    chosen = rng.choice(candidates, size=count, replace=False, p=weight / weight.sum())
    tracked = np.ones(fleet.size, dtype=bool)
    tracked[chosen] = False
    return replace(
        fleet,
        tracked=tracked,
        device_event_day=np.where(tracked, fleet.device_event_day, -1).astype(np.int64),
        device_event_is_swap=fleet.device_event_is_swap & tracked,
    )


def year_spans(start: date, days: int) -> list[tuple[int, int, int]]:
    """(year, first day, end day) of each local calendar year the window touches."""
    spans = []
    for year in range(start.year, date.fromordinal(start.toordinal() + days - 1).year + 1):
        first = max(0, date(year, 1, 1).toordinal() - start.toordinal())
        end = min(days, date(year + 1, 1, 1).toordinal() - start.toordinal())
        spans.append((year, first, end))
    return spans


@dataclass(frozen=True)
class SurveyPlan:
    """Planned survey rows, sorted by vehicle and day; `kind` is a fault index or NO_FAULT.

    A repeated key or an unknown vehicle is an extra row beside the vehicle's
    genuine reading of that day; a decrease replaces a mid-year reading.
    """

    vehicle: NDArray[np.int64]
    day: NDArray[np.int64]
    kind: NDArray[np.int64]
    samples: list[dict[str, Any]] = field(default_factory=list)


def _inspection_days(
    rng: np.random.Generator, first: int, last: int, slack: int
) -> NDArray[np.int64]:
    """Inspection days of one vehicle-year: near both ends of its span and 1-2 in between."""
    opening = first + int(rng.integers(0, slack + 1))
    closing = last - 1 - int(rng.integers(0, slack + 1))
    inner = np.arange(opening + 1, closing)
    middle = rng.choice(inner, size=min(inner.shape[0], int(rng.integers(1, 3))), replace=False)
    return np.sort(np.concatenate(([opening], middle, [closing]))).astype(np.int64)


def plan_surveys(
    rng: np.random.Generator,
    fleet: Fleet,
    start: date,
    days: int,
    undersampled: tuple[str, ...] = (),
    fault_rate: float = 0.0,
) -> SurveyPlan:
    """Draw each year's survey sample per category and the inspection days of its vehicles."""
    vehicles: list[NDArray[np.int64]] = []
    inspection_days: list[NDArray[np.int64]] = []
    samples: list[dict[str, Any]] = []
    untracked = ~fleet.tracked
    for year, year_first, year_end in year_spans(start, days):
        min_span = min(MIN_SPAN_DAYS, (year_end - year_first) // 2)
        if min_span < 4:  # too short a window for an opening, a closing and a mid-year visit
            continue
        slack = min(INSPECTION_SLACK_DAYS, min_span // 4)
        span_first = np.maximum(fleet.commission_day, year_first)
        span_end = np.minimum(fleet.decommission_day, year_end)
        inspectable = untracked & (span_end - span_first >= min_span)
        for category_index, category in enumerate(CATEGORIES):
            frame = np.flatnonzero(inspectable & (fleet.category_index == category_index))
            if frame.shape[0] == 0:
                continue
            planned = methodology.sample_size(
                int(frame.shape[0]), PLANNING_CV, PLANNING_PRECISION, PLANNING_Z
            )
            size = planned
            if category in undersampled:
                size = min(planned, max(MIN_UNDERSAMPLE, math.ceil(planned / UNDERSAMPLE_DIVISOR)))
            chosen = np.sort(rng.choice(frame, size=size, replace=False))
            for vehicle in chosen:
                visits = _inspection_days(
                    rng, int(span_first[vehicle]), int(span_end[vehicle]), slack
                )
                vehicles.append(np.full(visits.shape[0], vehicle, dtype=np.int64))
                inspection_days.append(visits)
            samples.append(
                {
                    "year": year,
                    "category": category,
                    "frame": int(frame.shape[0]),
                    "planned_n": planned,
                    "sample_n": size,
                }
            )
    vehicle = np.concatenate(vehicles) if vehicles else np.zeros(0, dtype=np.int64)
    day = np.concatenate(inspection_days) if inspection_days else np.zeros(0, dtype=np.int64)
    kind = np.full(vehicle.shape[0], NO_FAULT, dtype=np.int64)
    if fault_rate > 0.0 and vehicle.shape[0]:
        vehicle, day, kind = _plant_faults(rng, vehicle, day, kind, fault_rate)
    return SurveyPlan(vehicle, day, kind, samples)


def _plant_faults(
    rng: np.random.Generator,
    vehicle: NDArray[np.int64],
    day: NDArray[np.int64],
    kind: NDArray[np.int64],
    fault_rate: float,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Tag mid-year readings of distinct vehicles, one fault each, kinds taken in turn.

    Only mid-year readings are touched, so the opening and closing readings
    that define a vehicle's surveyed span survive the quality rules.
    """
    same_before = np.zeros(vehicle.shape[0], dtype=bool)
    same_before[1:] = vehicle[1:] == vehicle[:-1]
    same_after = np.zeros(vehicle.shape[0], dtype=bool)
    same_after[:-1] = vehicle[:-1] == vehicle[1:]
    middle = np.flatnonzero(same_before & same_after)
    # One reading per vehicle, so no vehicle carries two faults.
    _, first_of_vehicle = np.unique(vehicle[middle], return_index=True)
    pool = rng.permutation(middle[first_of_vehicle])
    surveyed = np.unique(vehicle).shape[0]
    wanted = max(len(SURVEY_FAULT_KINDS), round(fault_rate * surveyed))
    chosen = pool[:wanted]
    tags = np.arange(chosen.shape[0]) % len(SURVEY_FAULT_KINDS)
    decrease = SURVEY_FAULT_KINDS.index("survey_decrease")
    kind = kind.copy()
    kind[chosen[tags == decrease]] = decrease
    extra = chosen[tags != decrease]
    vehicle = np.concatenate([vehicle, vehicle[extra]])
    day = np.concatenate([day, day[extra]])
    kind = np.concatenate([kind, tags[tags != decrease]])
    # Extra rows follow the genuine reading of their day, so the genuine one is kept.
    order = np.lexsort((np.arange(vehicle.shape[0]), day, vehicle))
    return vehicle[order], day[order], kind[order]


def survey_table(chunk: VehicleChunk, plan: SurveyPlan) -> ChunkTable:
    """Survey readings of the chunk's vehicles, with their planted faults."""
    lo, hi = np.searchsorted(plan.vehicle, [chunk.lo, chunk.hi])
    vehicle, day, kind = plan.vehicle[lo:hi], plan.day[lo:hi], plan.kind[lo:hi]
    row = vehicle - chunk.lo
    # Read in the morning: everything driven before the inspection day.
    value = np.round(chunk.vehicle_km[row, day] - chunk.km[row, day], 0)
    ids = chunk.fleet.vehicle_ids[vehicle].astype(object)
    decrease = np.flatnonzero(kind == SURVEY_FAULT_KINDS.index("survey_decrease"))
    value[decrease] = value[decrease - 1] - MISREAD_KM
    duplicate = kind == SURVEY_FAULT_KINDS.index("survey_duplicate_key")
    value[duplicate] += TYPO_KM
    unknown = np.flatnonzero(kind == SURVEY_FAULT_KINDS.index("survey_unknown_vehicle"))
    # A vehicle of another dealer, written on the project's survey sheet by mistake.
    ids[unknown] = [f"VS{number + 1:07d}" for number in vehicle[unknown]]
    start_days = chunk.start.toordinal() - EPOCH_ORDINAL
    table = pa.table(
        {
            "vehicle_id": pa.array(ids, pa.string()),
            "date": pa.array(day + start_days, pa.int32()).cast(pa.date32()),
            "odometer_km": value,
        }
    )
    faults = [
        (SURVEY_FAULT_KINDS[int(kind[i])], int(i), str(chunk.fleet.vehicle_ids[vehicle[i]]))
        for i in np.flatnonzero(kind != NO_FAULT)
    ]
    return ChunkTable("odometer_surveys", table, faults)


def untracked_true_km(chunk: VehicleChunk) -> list[dict[str, Any]]:
    """True distance of each untracked vehicle of the chunk per calendar year it drove in."""
    rows: list[dict[str, Any]] = []
    untracked = np.flatnonzero(~chunk.tracked)
    if untracked.shape[0] == 0:
        return rows
    categories = np.asarray(CATEGORIES)[chunk.fleet.category_index[chunk.lo + untracked]]
    vehicle_ids = chunk.fleet.vehicle_ids[chunk.lo + untracked]
    for year, first, end in year_spans(chunk.start, chunk.days):
        km = chunk.km[untracked, first:end].sum(axis=1)
        for vehicle_id, category, total in zip(vehicle_ids, categories, km, strict=True):
            if total > 0:
                rows.append(
                    {
                        "vehicle_id": str(vehicle_id),
                        "category": str(category),
                        "year": year,
                        "true_km": round(float(total), 2),
                    }
                )
    return rows

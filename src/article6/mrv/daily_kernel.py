"""The vehicle-days of a DuckDB run, from the kernels' results to per-vehicle totals.

After the streaming kernels (odometer, GPS, activity) the rest of the daily
path works on one row per vehicle and day: combining the two distances,
the daily maximum, filling evidence days from earlier observed days, the
service window and the vehicle's totals for the vintage. As Ibis
expressions that is a chain of joins and window functions over millions of
vehicle-days; here it is one compiled walk through each vehicle's days
(``daily_numba``), with the same rows as ``distance.daily_distance``, the
pipeline's ``_vintage_days`` and ``vehicle_totals``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from article6.mrv import daily_numba as n
from article6.mrv.distance import LOOKBACK_DAYS
from article6.mrv.params import ParameterSet
from article6.mrv.reasons import ReasonCode

SOURCES = pa.array(["odometer", "odometer_gap", "gps", "evidence_fill"], pa.string())
DAY_REASONS = pa.array(
    [
        ReasonCode.DAILY_KM_EXCEEDED.value,
        ReasonCode.BEFORE_ER_RIGHTS.value,
        ReasonCode.OUTSIDE_SERVICE_WINDOW.value,
    ],
    pa.string(),
)
VEHICLE_COLUMNS = (
    "vehicle_id",
    "max_daily_km",
    "sec_max_kwh_per_km",
    "er_day",
    "start_day",
    "stop_day",
)
"""What the kernel needs of each accepted vehicle (days since 1970; stop_day may be null)."""
TOTALS_SCHEMA = pa.schema(
    [
        ("vehicle_id", pa.string()),
        ("distance_km", pa.float64()),
        ("imputed_km", pa.float64()),
        ("distance_days", pa.int64()),
        ("gps_mismatch_days", pa.int64()),
        ("evidence_days", pa.int64()),
        ("evidence_first_day", pa.int64()),
        ("evidence_last_day", pa.int64()),
        ("has_telematics", pa.bool_()),
    ]
)


@dataclass(frozen=True)
class DailyResult:
    """``totals``: one row per vehicle (``TOTALS_SCHEMA``); ``rejected_days``:
    vehicle_id, day, distance_km, reason of the vintage's days not credited;
    ``days``: the credited days (vehicle_id, day, distance_km, imputed, source,
    gps_mismatch), when asked for."""

    totals: pa.Table
    rejected_days: pa.Table
    days: pa.Table | None


def run_daily_kernel(
    vehicles: pa.Table,
    steps: pa.Table,
    gps: pa.Table,
    evidence: pa.Table,
    params: ParameterSet,
    first_day: int,
    end_day: int,
    keep_days: bool = False,
) -> DailyResult:
    """Credited days and totals of the vintage [first_day, end_day).

    `vehicles`: ``VEHICLE_COLUMNS``; `steps`: the odometer kernel's day steps
    (vehicle_id, day, gap, delta_km; gap null on a vehicle's first day);
    `gps`: vehicle_id, day, gps_km; `evidence`: vehicle_id, day, energy_kwh.
    Rows of vehicles not in `vehicles` are left out, as the Ibis joins do.
    """
    names = vehicles.column("vehicle_id").combine_chunks()
    floats = np.column_stack(
        [_floats(vehicles, "max_daily_km"), _floats(vehicles, "sec_max_kwh_per_km")]
    )
    stop = vehicles.column("stop_day").fill_null(n.NO_STOP)
    ints = np.column_stack(
        [_ints(vehicles.column("er_day")), _ints(vehicles.column("start_day")), _ints(stop)]
    )
    step_vehicle, step_rows = _codes(steps, names)
    gps_vehicle, gps_rows = _codes(gps, names)
    ev_vehicle, ev_rows = _codes(evidence, names)
    step_day = _ints(steps.column("day"))[step_rows]
    gps_day = _ints(gps.column("day"))[gps_rows]
    settings = (
        params.gap_fill_max_days,
        params.p10_window_days,
        LOOKBACK_DAYS,
        params.gps_odometer_tolerance_pct / 100.0,
        keep_days,
    )
    days, rejected, totals_f, totals_i = n.vehicle_days(
        (
            step_vehicle,
            step_day,
            _ints(steps.column("gap").fill_null(0))[step_rows],
            _floats(steps, "delta_km", fill=0.0)[step_rows],
        ),
        (gps_vehicle, gps_day, _floats(gps, "gps_km")[gps_rows]),
        (
            ev_vehicle,
            _ints(evidence.column("day"))[ev_rows],
            _floats(evidence, "energy_kwh")[ev_rows],
        ),
        np.ascontiguousarray(floats),
        np.ascontiguousarray(ints),
        first_day,
        end_day,
        settings,
    )
    telematics = np.zeros(len(names), np.bool_)
    for vehicle, day in ((step_vehicle, step_day), (gps_vehicle, gps_day)):
        telematics[vehicle[(day >= first_day) & (day < end_day)]] = True
    return DailyResult(
        totals=_totals(names, totals_f, totals_i, telematics),
        rejected_days=pa.table(
            {
                "vehicle_id": names.take(pa.array(rejected[0])),
                "day": pa.array(rejected[1], pa.int64()),
                "distance_km": pa.array(rejected[2], pa.float64()),
                "reason": DAY_REASONS.take(pa.array(rejected[3].astype(np.int64))),
            }
        ),
        days=_days(names, days) if keep_days else None,
    )


def _codes(table: pa.Table, names: pa.Array) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each row's vehicle code (position in `names`) and the rows of known vehicles."""
    column = table.column("vehicle_id").combine_chunks()
    if pa.types.is_dictionary(column.type):
        per_entry = pc.index_in(column.dictionary, value_set=names).fill_null(-1)
        lookup = np.append(np.asarray(per_entry.to_numpy(), np.int64), -1)
        index = np.asarray(column.indices.fill_null(-1).to_numpy(), np.int64)
        code = lookup[index]
    else:
        code = np.asarray(pc.index_in(column, value_set=names).fill_null(-1).to_numpy(), np.int64)
    rows = np.flatnonzero(code >= 0)
    return code[rows], rows


def _ints(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    return np.asarray(column.to_numpy(), np.int64)


def _floats(table: pa.Table, name: str, fill: float | None = None) -> NDArray[np.float64]:
    column = table.column(name)
    if fill is not None:
        column = column.fill_null(fill)
    return np.asarray(column.to_numpy(), np.float64)


def _totals(
    names: pa.Array,
    totals_f: NDArray[np.float64],
    totals_i: NDArray[np.int64],
    telematics: NDArray[np.bool_],
) -> pa.Table:
    def column(values: NDArray[np.generic], index: int) -> NDArray[np.generic]:
        return np.ascontiguousarray(values[:, index])

    none = totals_i[:, n.EVIDENCE_FIRST] < 0
    return pa.table(
        {
            "vehicle_id": names.cast(pa.string()),
            "distance_km": column(totals_f, n.DISTANCE),
            "imputed_km": column(totals_f, n.IMPUTED_KM),
            "distance_days": column(totals_i, n.DAYS),
            "gps_mismatch_days": column(totals_i, n.MISMATCH_DAYS),
            "evidence_days": column(totals_i, n.EVIDENCE_DAYS),
            "evidence_first_day": pa.array(column(totals_i, n.EVIDENCE_FIRST), mask=none),
            "evidence_last_day": pa.array(column(totals_i, n.EVIDENCE_LAST), mask=none),
            "has_telematics": telematics,
        },
        schema=TOTALS_SCHEMA,
    )


def _days(names: pa.Array, days: tuple[NDArray[np.generic], ...]) -> pa.Table:
    vehicle, day, km, imputed, source, mismatch = days
    return pa.table(
        {
            "vehicle_id": names.take(pa.array(vehicle)),
            "day": pa.array(day, pa.int64()),
            "distance_km": pa.array(km, pa.float64()),
            "imputed": pa.array(imputed, pa.bool_()),
            "source": SOURCES.take(pa.array(np.asarray(source, np.int64))),
            "gps_mismatch": pa.array(mismatch, pa.bool_()),
        }
    )

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
    """Credited days and totals of the vintage [first_day, end_day) (see ``DailyKernel``)."""
    kernel = DailyKernel(vehicles, params, first_day, end_day, keep_days)
    kernel.add_steps(steps)
    kernel.add_gps(gps)
    kernel.add_evidence(evidence)
    return kernel.run()


I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
EMPTY_INTS, EMPTY_FLOATS = np.zeros(0, np.int64), np.zeros(0, np.float64)


class DailyKernel:
    """The daily kernel, given its inputs one at a time as each is ready; each is
    turned into arrays on arrival, so that work overlaps the kernels still running.

    `vehicles`: ``VEHICLE_COLUMNS``; the steps are the odometer kernel's
    (vehicle_id, day, gap, delta_km; gap null on a vehicle's first day); GPS:
    vehicle_id, day, gps_km; evidence: vehicle_id, day, energy_kwh. Rows of
    vehicles not in `vehicles` are left out, as the Ibis joins do.
    """

    def __init__(
        self,
        vehicles: pa.Table,
        params: ParameterSet,
        first_day: int,
        end_day: int,
        keep_days: bool = False,
    ) -> None:
        self.names = vehicles.column("vehicle_id").combine_chunks()
        self.floats = np.column_stack(
            [_floats(vehicles, "max_daily_km"), _floats(vehicles, "sec_max_kwh_per_km")]
        )
        stop = vehicles.column("stop_day").fill_null(n.NO_STOP)
        self.ints = np.column_stack(
            [_ints(vehicles.column("er_day")), _ints(vehicles.column("start_day")), _ints(stop)]
        )
        self.first_day, self.end_day = first_day, end_day
        self.settings = (
            params.gap_fill_max_days,
            params.p10_window_days,
            LOOKBACK_DAYS,
            params.gps_odometer_tolerance_pct / 100.0,
            keep_days,
        )
        self.telematics = np.zeros(len(self.names), np.bool_)
        self.steps: tuple[I64, I64, I64, F64] = (EMPTY_INTS,) * 3 + (EMPTY_FLOATS,)
        self.gps: tuple[I64, I64, F64] = (EMPTY_INTS, EMPTY_INTS, EMPTY_FLOATS)
        self.evidence: tuple[I64, I64, F64] = (EMPTY_INTS, EMPTY_INTS, EMPTY_FLOATS)

    def add_steps(self, steps: pa.Table) -> None:
        vehicle, rows = _codes(steps, self.names)
        day = _ints(steps.column("day"))[rows]
        gap = _ints(steps.column("gap").fill_null(0))[rows]
        self.steps = (vehicle, day, gap, _floats(steps, "delta_km", fill=0.0)[rows])
        self._reported(vehicle, day)

    def add_gps(self, gps: pa.Table) -> None:
        vehicle, rows = _codes(gps, self.names)
        day = _ints(gps.column("day"))[rows]
        self.gps = (vehicle, day, _floats(gps, "gps_km")[rows])
        self._reported(vehicle, day)

    def add_evidence(self, evidence: pa.Table) -> None:
        vehicle, rows = _codes(evidence, self.names)
        day = _ints(evidence.column("day"))[rows]
        self.evidence = (vehicle, day, _floats(evidence, "energy_kwh")[rows])

    def _reported(self, vehicle: NDArray[np.int64], day: NDArray[np.int64]) -> None:
        """Vehicles with readings or pings in the vintage."""
        self.telematics[vehicle[(day >= self.first_day) & (day < self.end_day)]] = True

    def run(self) -> DailyResult:
        days, rejected, totals_f, totals_i = n.vehicle_days(
            self.steps,
            self.gps,
            self.evidence,
            np.ascontiguousarray(self.floats),
            np.ascontiguousarray(self.ints),
            self.first_day,
            self.end_day,
            self.settings,
        )
        names = self.names
        return DailyResult(
            totals=_totals(names, totals_f, totals_i, self.telematics),
            rejected_days=pa.table(
                {
                    "vehicle_id": names.take(pa.array(rejected[0])),
                    "day": pa.array(rejected[1], pa.int64()),
                    "distance_km": pa.array(rejected[2], pa.float64()),
                    "reason": DAY_REASONS.take(pa.array(rejected[3].astype(np.int64))),
                }
            ),
            days=_days(names, days) if self.settings[-1] else None,
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

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

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

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
WALKERS = 2
"""Blocks of vehicles walked at once: the walk comes when the other kernels are
done, and a thread per core halves it."""
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
    kernel.add_steps(steps.to_batches(), steps.num_rows)
    kernel.add_gps(gps.to_batches(), gps.num_rows)
    kernel.add_evidence(evidence.to_batches(), evidence.num_rows)
    return kernel.run()


Batches = Iterable[pa.RecordBatch]


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
        self.code_of = {name: code for code, name in enumerate(self.names.to_pylist())}
        empty_ints, empty_floats = _frozen(np.zeros(0, np.int32)), _frozen(np.zeros(0))
        self.no_steps = (empty_ints, empty_ints, empty_ints, empty_floats)
        self.no_days = (empty_ints, empty_ints, empty_floats)
        self.steps, self.gps, self.evidence = self.no_steps, self.no_days, self.no_days

    def add_steps(self, steps: Batches, rows: int) -> None:
        vehicle, day, gap, delta = self._rows(steps, rows, ("day", "gap"), ("delta_km",))
        self.steps = (vehicle, day, gap, delta)
        self._reported(vehicle, day)

    def steps_inbox(self, capacity: int) -> Inbox:
        """An inbox for the odometer kernel's day steps (``take_steps`` takes them in)."""
        return Inbox(self.code_of, capacity, (np.int32, np.int32, np.float64))

    def take_steps(self, inbox: Inbox) -> None:
        vehicle, day, gap, delta = inbox.rows()
        self.steps = (vehicle, day, gap, delta)
        self._reported(vehicle, day)

    def evidence_inbox(self, capacity: int) -> Inbox:
        """An inbox for the activity kernel's evidence (``take_evidence`` takes it in)."""
        return Inbox(self.code_of, capacity, (np.int32, np.float64))

    def take_evidence(self, inbox: Inbox) -> None:
        vehicle, day, energy = inbox.rows()
        self.evidence = (vehicle, day, energy)

    def add_gps(self, gps: Batches, rows: int) -> None:
        vehicle, day, km = self._rows(gps, rows, ("day",), ("gps_km",))
        self.gps = (vehicle, day, km)
        self._reported(vehicle, day)

    def add_evidence(self, evidence: Batches, rows: int) -> None:
        """Activity evidence, a row per swap or charge (summed per day by the kernel)."""
        vehicle, day, energy = self._rows(evidence, rows, ("day",), ("energy_kwh",))
        self.evidence = (vehicle, day, energy)

    def _rows(
        self, batches: Batches, rows: int, ints: tuple[str, ...], floats: tuple[str, ...]
    ) -> tuple[NDArray[Any], ...]:
        """Each row's vehicle code, then the `ints` (as int32) and `floats` columns,
        empty values as 0, rows of vehicles not in the kernel left out.

        Filled batch by batch (`rows` in all) into arrays of their final size: a
        national fleet's tables are large, and a whole column at a time would hold
        them twice. The arrays are read-only, as Arrow's viewed without a copy
        are: numba compiles read-only arrays as another type, so all are, always.
        """
        out = [np.empty(rows, np.int32) for _ in range(1 + len(ints))]
        out += [np.empty(rows, np.float64) for _ in floats]
        at = 0
        # The batches of one table share their dictionary: it is looked up once.
        lookups: dict[tuple[int, int], NDArray[np.int32]] = {}
        for batch in batches:
            code = self._codes(batch.column("vehicle_id"), lookups)
            keep = code >= 0
            kept = int(np.count_nonzero(keep))
            values = [code] + [_values(batch.column(name)) for name in (*ints, *floats)]
            for target, source in zip(out, values, strict=True):
                target[at : at + kept] = source if kept == code.shape[0] else source[keep]
            at += kept
        return tuple(_frozen(column[:at]) for column in out)

    def _codes(
        self, column: pa.Array, lookups: dict[tuple[int, int], NDArray[np.int32]]
    ) -> NDArray[np.int32]:
        """Each row's vehicle code (position in the kernel's vehicles), -1 if none;
        `lookups` holds the codes of dictionaries already seen (by buffer, while the
        table holding them is alive)."""
        if not pa.types.is_dictionary(column.type):
            found = pc.index_in(column, value_set=self.names).fill_null(-1)
            return np.asarray(found.to_numpy(), np.int32)
        words = column.dictionary
        key = (words.buffers()[-1].address if len(words) else 0, len(words))
        lookup = lookups.get(key)
        if lookup is None:
            codes = [self.code_of.get(word, -1) for word in words.to_pylist()]
            lookup = lookups[key] = np.array([*codes, -1], np.int32)
        return lookup[np.asarray(column.indices.fill_null(-1).to_numpy(), np.int64)]

    def _reported(self, vehicle: NDArray[np.int32], day: NDArray[np.int32]) -> None:
        """Vehicles with readings or pings in the vintage."""
        self.telematics[vehicle[(day >= self.first_day) & (day < self.end_day)]] = True

    def run(self) -> DailyResult:
        """The walk, in ``WALKERS`` blocks of vehicles at once (each block's rows
        about as many), joined in vehicle order."""
        inputs = (self.steps, self.gps, self.evidence)
        # Let a national fleet's inputs go as soon as the walk is done.
        self.steps, self.gps, self.evidence = self.no_steps, self.no_days, self.no_days
        vehicles = len(self.names)
        totals_f = np.zeros((vehicles, 2))
        totals_i = np.zeros((vehicles, 5), np.int64)
        totals_i[:, [n.EVIDENCE_FIRST, n.EVIDENCE_LAST]] = -1
        with ThreadPoolExecutor(WALKERS, thread_name_prefix="mrv-daily") as pool:
            by_steps, by_gps, by_evidence = pool.map(
                lambda rows: n.by_vehicle(rows[0], vehicles), inputs
            )
            orders = (by_steps, by_gps, by_evidence)
            # Rows of the vehicles before each, in all three inputs.
            rows_before = by_steps[0] + by_gps[0] + by_evidence[0]
            bounds = np.searchsorted(rows_before, np.linspace(0, rows_before[-1], WALKERS + 1))
            bounds[0], bounds[-1] = 0, vehicles
            settings = self.settings
            floats, ints = np.ascontiguousarray(self.floats), np.ascontiguousarray(self.ints)

            def walk(block: tuple[int, int]) -> tuple[tuple[NDArray[Any], ...], ...]:
                return n.vehicle_days(
                    *inputs, orders, block, floats, ints, self.first_day, self.end_day,
                    settings, totals_f, totals_i,
                )  # fmt: skip

            blocks = [(int(lo), int(hi)) for lo, hi in pairwise(bounds)]
            parts = list(pool.map(walk, blocks))
        days, rejected = (_joined([part[i] for part in parts]) for i in (0, 1))
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
            days=_days(names, days) if settings[-1] else None,
        )


def _joined(parts: list[tuple[NDArray[Any], ...]]) -> tuple[NDArray[Any], ...]:
    """The blocks' columns, block after block."""
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


class Inbox:
    """One input of the daily kernel, handed over part by part by the kernel that
    computes it, in that kernel's own vehicle codes (positions in the list it names
    with ``vehicles_are``): no file, no string ids, no second copy.

    The columns are allocated for `capacity` rows, a bound on what will come (the
    source file's rows): pages never written take no memory. Rows of vehicles the
    daily kernel does not know are left out, as the Ibis joins leave them.
    """

    def __init__(
        self, code_of: dict[str, int], capacity: int, kinds: tuple[type[np.generic], ...]
    ) -> None:
        self.code_of = code_of
        self.codes = np.full(1, -1, np.int32)
        self.columns = [np.empty(capacity, np.int32)] + [np.empty(capacity, k) for k in kinds]
        self.filled = 0

    def vehicles_are(self, vehicles: Sequence[str]) -> None:
        """Name the sender's vehicle codes; rows already in are dropped (a kernel that
        starts over, on its input sorted, sends them again)."""
        self.codes = np.array([self.code_of.get(v, -1) for v in vehicles], np.int32)
        self.filled = 0

    def add(self, vehicle: NDArray[np.integer[Any]], *values: NDArray[Any]) -> None:
        if any(column.shape != vehicle.shape for column in values):
            shapes = ", ".join(str(column.shape) for column in values)
            raise ValueError(f"inbox: {vehicle.shape} vehicle codes but values of {shapes}")
        code = self.codes[vehicle]
        keep = code >= 0
        kept = int(np.count_nonzero(keep))
        end = self.filled + kept
        if end > self.columns[0].shape[0]:  # more than announced: room is made
            self.columns = [_grown(column, self.filled, kept) for column in self.columns]
        for target, source in zip(self.columns, (code, *values), strict=True):
            target[self.filled : end] = source if kept == code.shape[0] else source[keep]
        self.filled = end

    def rows(self) -> tuple[NDArray[Any], ...]:
        """The rows received: vehicle codes of the daily kernel, then the values."""
        return tuple(_frozen(column[: self.filled]) for column in self.columns)


def _grown(column: NDArray[Any], used: int, more: int) -> NDArray[Any]:
    bigger = np.empty(max(2 * column.shape[0], used + more), column.dtype)
    bigger[:used] = column[:used]
    return bigger


def _ints(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    return np.asarray(column.to_numpy(), np.int64)


def _floats(table: pa.Table, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(), np.float64)


def _values(column: pa.Array) -> NDArray[Any]:
    return np.asarray((column.fill_null(0) if column.null_count else column).to_numpy())


def _frozen(values: NDArray[Any]) -> NDArray[Any]:
    values.flags.writeable = False
    return values


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

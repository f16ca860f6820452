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

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from article6.mrv import daily_numba as n
from article6.mrv.daily_inbox import Inbox
from article6.mrv.distance import LOOKBACK_DAYS
from article6.mrv.gps_numba import read_only
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
    blocks: int = 1,
    spill_dir: Path | None = None,
) -> DailyResult:
    """Credited days and totals of the vintage [first_day, end_day) (see ``DailyKernel``)."""
    kernel = DailyKernel(vehicles, params, first_day, end_day, keep_days, blocks, spill_dir)
    kernel.add_steps(steps.to_batches(), steps.num_rows)
    kernel.add_gps(gps.to_batches(), gps.num_rows)
    kernel.add_evidence(evidence.to_batches(), evidence.num_rows)
    return kernel.run()


Batches = Iterable[pa.RecordBatch]
Rows = tuple[NDArray[Any], ...]
"""An input's columns: vehicle code, then its values."""
INPUT_KINDS: dict[str, tuple[type[np.generic], ...]] = {
    "steps": (np.int32, np.int32, np.float64),
    "gps": (np.int32, np.float64),
    "evidence": (np.int32, np.float64),
}
"""The values of each input after its vehicle code (days and gaps as int32)."""


def _empty(name: str) -> tuple[NDArray[Any], ...]:
    kinds: tuple[type[np.generic], ...] = (np.int32, *INPUT_KINDS[name])
    return tuple(read_only(np.zeros(0, kind)) for kind in kinds)


class DailyKernel:
    """The daily kernel, given its inputs one at a time as each is ready; each is
    turned into compact arrays on arrival, so that work overlaps the kernels still
    running.

    `vehicles`: ``VEHICLE_COLUMNS``; the steps are the odometer kernel's
    (vehicle_id, day, gap, delta_km; gap null on a vehicle's first day); GPS:
    vehicle_id, day, gps_km; evidence: vehicle_id, day, energy_kwh. Rows of
    vehicles not in `vehicles` are left out, as the Ibis joins do. With
    `blocks` above 1 the vehicles are walked in that many blocks, each block's
    rows kept in files under `spill_dir` until its turn (``daily_inbox``).
    """

    def __init__(
        self,
        vehicles: pa.Table,
        params: ParameterSet,
        first_day: int,
        end_day: int,
        keep_days: bool = False,
        blocks: int = 1,
        spill_dir: Path | None = None,
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
        vehicle_count = len(self.names)
        self.bounds = np.array(
            [block * vehicle_count // blocks for block in range(blocks + 1)], np.int64
        )
        self.spill_dir = spill_dir
        self.inputs: dict[str, Inbox] = {}

    def inbox(self, name: str, capacity: int) -> Inbox:
        """An inbox for an input ("steps", "gps" or "evidence", ``INPUT_KINDS``) that a
        kernel fills as it goes; ``take`` takes it in once complete."""
        spill = None if self.spill_dir is None else self.spill_dir / f"daily_{name}"
        return Inbox(self.code_of, capacity, INPUT_KINDS[name], self.bounds, spill)

    def take(self, name: str, inbox: Inbox) -> None:
        """An input complete: "steps", "gps" or "evidence"."""
        self.inputs[name] = inbox

    def add_steps(self, steps: Batches, rows: int) -> None:
        self.take("steps", self._read(steps, rows, "steps", ("day", "gap", "delta_km")))

    def add_gps(self, gps: Batches, rows: int) -> None:
        self.take("gps", self._read(gps, rows, "gps", ("day", "gps_km")))

    def add_evidence(self, evidence: Batches, rows: int) -> None:
        """Activity evidence, a row per swap or charge (summed per day by the kernel)."""
        self.take("evidence", self._read(evidence, rows, "evidence", ("day", "energy_kwh")))

    def _read(self, batches: Batches, rows: int, name: str, columns: tuple[str, ...]) -> Inbox:
        """An inbox filled from Arrow batches (`rows` in all), empty values as 0; a
        national fleet's tables are large, so they are never held whole."""
        inbox = self.inbox(name, rows)
        # The batches of one table share their dictionary: it is looked up once.
        lookups: dict[tuple[int, int], NDArray[np.int32]] = {}
        for batch in batches:
            code = self._codes(batch.column("vehicle_id"), lookups)
            inbox.add_coded(code, *(_values(batch.column(column)) for column in columns))
        return inbox

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
        """The walk, block of vehicles after block; within a block, ``WALKERS`` parts
        at once (each part's rows about as many), joined in vehicle order."""
        inboxes = [self.inputs.get(name) for name in INPUT_KINDS]
        # Let a national fleet's inputs go as soon as the walk is done.
        self.inputs = {}
        vehicles = len(self.names)
        totals_f = np.zeros((vehicles, 2))
        totals_i = np.zeros((vehicles, 5), np.int64)
        totals_i[:, [n.EVIDENCE_FIRST, n.EVIDENCE_LAST]] = -1
        parts: list[tuple[tuple[NDArray[Any], ...], ...]] = []
        with ThreadPoolExecutor(WALKERS, thread_name_prefix="mrv-daily") as pool:
            for block, (lo, hi) in enumerate(pairwise(self.bounds.tolist())):
                steps, gps, evidence = (
                    _empty(name) if inbox is None else inbox.rows(block)
                    for name, inbox in zip(INPUT_KINDS, inboxes, strict=True)
                )
                self._reported(steps[0], steps[1])
                self._reported(gps[0], gps[1])
                parts += self._walk(pool, (steps, gps, evidence), (lo, hi), totals_f, totals_i)
                del steps, gps, evidence  # before the next block is read
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
            days=_days(names, days) if self.settings[-1] else None,
        )

    def _walk(
        self,
        pool: ThreadPoolExecutor,
        inputs: tuple[Rows, Rows, Rows],
        block: tuple[int, int],
        totals_f: NDArray[np.float64],
        totals_i: NDArray[np.int64],
    ) -> list[tuple[tuple[NDArray[Any], ...], ...]]:
        """The vehicles of `block` in ``WALKERS`` parts, in vehicle order."""
        vehicles = len(self.names)
        by_steps, by_gps, by_evidence = pool.map(
            lambda rows: n.by_vehicle(rows[0], vehicles), inputs
        )
        orders = (by_steps, by_gps, by_evidence)
        # Rows of the vehicles before each, in all three inputs.
        rows_before = by_steps[0] + by_gps[0] + by_evidence[0]
        lo, hi = block
        targets = np.linspace(rows_before[lo], rows_before[hi], WALKERS + 1)
        bounds = np.clip(np.searchsorted(rows_before, targets), lo, hi)
        bounds[0], bounds[-1] = lo, hi
        settings = self.settings
        floats, ints = np.ascontiguousarray(self.floats), np.ascontiguousarray(self.ints)

        def walk(part: tuple[int, int]) -> tuple[tuple[NDArray[Any], ...], ...]:
            steps, gps, evidence = inputs  # each input's columns, as the walk takes them
            return n.vehicle_days(
                cast(Any, steps), cast(Any, gps), cast(Any, evidence), orders, part, floats,
                ints, self.first_day, self.end_day, settings, totals_f, totals_i,
            )  # fmt: skip

        return list(pool.map(walk, [(int(a), int(b)) for a, b in pairwise(bounds)]))


def _joined(parts: list[tuple[NDArray[Any], ...]]) -> tuple[NDArray[Any], ...]:
    """The blocks' columns, block after block."""
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def _ints(column: pa.ChunkedArray | pa.Array) -> NDArray[np.int64]:
    return np.asarray(column.to_numpy(), np.int64)


def _floats(table: pa.Table, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(), np.float64)


def _values(column: pa.Array) -> NDArray[Any]:
    return np.asarray((column.fill_null(0) if column.null_count else column).to_numpy())


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

"""Streaming odometer step for DuckDB runs: the rules of ``distance.odometer_readings``
and the day steps of ``distance.odometer_daily`` without a sort.

Like the GPS kernel (``gps_kernel``), it reads the staged readings once in
stored order, runs the device rules (``device_pass``: duplicate keys,
assignment) a batch ahead in the read-ahead thread, and carries each
vehicle's state from row to row in a compiled loop (``odometer_numba``).
Readings of vehicles fed by several devices are set aside and run after a
sort of that subset by DuckDB; input out of time order per device is read
again sorted. Results go to files as they come, so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv import device_pass as dp
from article6.mrv import gps_io as io
from article6.mrv import gps_numba as k
from article6.mrv import odometer_numba as o
from article6.mrv.params import ParameterSet
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

if TYPE_CHECKING:
    from article6.mrv.daily_inbox import Inbox

BATCH_ROWS = 1 << 20
COLUMNS = ["device_id", "ts", "odometer_km", SOURCE_FILE, SOURCE_ROW]
REASONS = {
    k.DUPLICATE: ReasonCode.DUPLICATE_KEY.value,
    k.UNASSIGNED: ReasonCode.UNASSIGNED_DEVICE.value,
    k.SPEED: ReasonCode.IMPLAUSIBLE_SPEED.value,
    o.DECREASE: ReasonCode.ODOMETER_DECREASE.value,
}
STEPS_SCHEMA = pa.schema(
    [
        ("vehicle_id", pa.dictionary(pa.int32(), pa.string())),
        ("day", pa.int64()),
        ("end_km", pa.float64()),
        ("gap", pa.int64()),
        ("delta_km", pa.float64()),
    ]
)
REJECTED_SCHEMA = io.rejected_schema("odometer_km")
SPILL_SCHEMA = io.spill_schema("odometer_km")
# The whole plane: odometer readings have no position to check.
WHOLE_PLANE = np.array([-np.inf, np.inf, -np.inf, np.inf, 0.0, 0.0])


@dataclass(frozen=True)
class OdometerKernelFiles:
    """``steps``: one row per vehicle and day with kept readings (vehicle_id, day, the
    day's last reading end_km, and gap / delta_km from the vehicle's previous such
    day, null on its first), unless they went to an inbox; ``rejected``: every
    rejected reading."""

    steps: Path
    rejected: Path
    resorted: bool
    diverted_rows: int


@dataclass(frozen=True)
class _Checked:
    batch: pa.RecordBatch
    rows: dp.DeviceRows
    km: NDArray[np.float64]


class _Kernel:
    def __init__(self, assigned: dp.Assignments, out_dir: Path, inbox: Inbox | None) -> None:
        self.assigned = assigned
        self.inbox = inbox
        if inbox is not None:
            inbox.vehicles_are(assigned.vehicles)
        self.devices = dp.DeviceChecker(assigned, WHOLE_PLANE)
        # Each assignment's offset, and 0 last for rows of none (assignment -1).
        self.offsets = np.append(assigned.offset, 0.0)
        n = len(assigned.vehicles)
        self.flags = np.zeros((n, 4), np.bool_)
        self.ints = np.zeros((n, 3), np.int64)
        self.floats = np.zeros((n, 4), np.float64)
        self.names = pa.array(assigned.vehicles, pa.string())
        self.reasons = pa.array([REASONS.get(code) for code in range(k.DIVERTED)], pa.string())
        schemas = (STEPS_SCHEMA, REJECTED_SCHEMA, SPILL_SCHEMA)
        self.files = io.KernelFiles(out_dir, "odometer", "steps", schemas)

    def device_passes(self, batches: Iterable[pa.RecordBatch]) -> Iterator[_Checked | None]:
        """Device rules per batch in stored order; None (and stop) if out of order."""
        zeros = np.zeros(0)
        for batch in batches:
            n = batch.num_rows
            if n == 0:
                continue
            if zeros.shape[0] < n:
                zeros = np.zeros(n)
            rows = self.devices.check(batch, zeros[:n], zeros[:n])
            if rows is None:
                yield None
                return
            km = dp.floats(batch.column("odometer_km")) + self.offsets[rows.assign]
            yield _Checked(batch, rows, km)

    def vehicle_pass(self, checked: _Checked) -> None:
        rows = checked.rows
        self._vehicles(rows.ts, checked.km, rows.status, rows.veh)
        self._write_rejected(checked.batch, rows.status, checked.km)
        diverted = np.flatnonzero(rows.status == k.DIVERTED)
        if diverted.shape[0]:
            self.files.set_aside(int(diverted.shape[0]), lambda: _spill_table(checked, diverted))

    def vehicle_batch(self, batch: pa.RecordBatch) -> None:
        """Set-aside readings sorted by vehicle and time (they passed the device rules)."""
        n = batch.num_rows
        status = np.full(n, k.READY, np.int8)
        km = dp.floats(batch.column("odometer_km"))
        self._vehicles(
            np.array(batch.column("ts").to_numpy(), np.int64),
            km,
            status,
            np.array(batch.column("vehicle").to_numpy(), np.int64),
        )
        rows = batch.select([SOURCE_FILE, SOURCE_ROW])
        rows = rows.append_column("device_id", pa.nulls(n, pa.string()))
        self._write_rejected(rows, status, km)

    def _vehicles(
        self,
        ts: NDArray[np.int64],
        km: NDArray[np.float64],
        status: NDArray[np.int8],
        veh: NDArray[np.int64],
    ) -> None:
        out = _outputs(ts.shape[0])
        emitted = o.vehicle_rows(
            ts, km, status, veh, self.assigned.limit, self.flags, self.ints, self.floats, *out
        )
        self._write_steps(out, emitted)

    def finish(self) -> None:
        out = _outputs(self.flags.shape[0])
        self._write_steps(out, o.flush(self.flags, self.ints, self.floats, *out))

    def _write_steps(self, out: tuple[NDArray[Any], ...], emitted: int) -> None:
        if emitted == 0:
            return
        if self.inbox is not None:
            veh, day, _, gap, delta = (column[:emitted] for column in out)
            self.inbox.add(veh, day, gap, delta)
            return
        self.files.submit(self._write_steps_now, out, emitted)

    def _write_steps_now(self, out: tuple[NDArray[Any], ...], emitted: int) -> None:
        veh, day, end, gap, delta = (column[:emitted] for column in out)
        first = gap == o.NO_GAP
        self.files.results.write_table(
            pa.table(
                [
                    pa.DictionaryArray.from_arrays(pa.array(veh, pa.int32()), self.names),
                    pa.array(day),
                    pa.array(end),
                    pa.array(gap, mask=first),
                    pa.array(delta, mask=first),
                ],
                schema=STEPS_SCHEMA,
            )
        )

    def _write_rejected(
        self, batch: pa.RecordBatch, status: NDArray[np.int8], km: NDArray[np.float64]
    ) -> None:
        self.files.submit(self._write_rejected_now, batch, status, km)

    def _write_rejected_now(
        self, batch: pa.RecordBatch, status: NDArray[np.int8], km: NDArray[np.float64]
    ) -> None:
        index = np.flatnonzero((status != k.KEPT) & (status != k.DIVERTED))
        if index.shape[0] == 0:
            return
        rows = batch.take(pa.array(index))
        codes = status[index]
        self.files.rejected.write_table(
            pa.table(
                [
                    io.strings(rows.column(SOURCE_FILE)),
                    rows.column(SOURCE_ROW),
                    self.reasons.take(pa.array(codes.astype(np.int64))),
                    io.strings(rows.column("device_id")),
                    pa.array(km[index], mask=(codes == k.DUPLICATE) | (codes == k.UNASSIGNED)),
                ],
                schema=REJECTED_SCHEMA,
            )
        )

    @property
    def spill_path(self) -> Path:
        return self.files.spill_path

    def close_spill(self) -> int:
        return self.files.close_spill()

    def close(self) -> None:
        self.files.close()


def _spill_table(checked: _Checked, index: NDArray[np.int64]) -> pa.Table:
    picked = checked.batch.take(pa.array(index))
    return pa.table(
        [
            pa.array(checked.rows.veh[index]),
            pa.array(checked.rows.ts[index]),
            pa.array(checked.km[index]),
            io.strings(picked.column(SOURCE_FILE)),
            picked.column(SOURCE_ROW),
        ],
        schema=SPILL_SCHEMA,
    )


def _outputs(n: int) -> tuple[NDArray[Any], ...]:
    return (
        io.pooled_empty(n, np.int64),
        io.pooled_empty(n, np.int64),
        io.pooled_empty(n, np.float64),
        io.pooled_empty(n, np.int64),
        io.pooled_empty(n, np.float64),
    )


def run_odometer_kernel(
    readings: Path,
    assignments: pa.Table,
    vehicles: pa.Table,
    params: ParameterSet,
    out_dir: Path,
    batch_rows: int = BATCH_ROWS,
    con: duckdb.DuckDBPyConnection | None = None,
    inbox: Inbox | None = None,
) -> OdometerKernelFiles:
    """The odometer rules and day steps over a staged readings file.

    `assignments`: device_id, vehicle_id, valid_from, valid_to,
    odometer_offset_km (accepted, no overlaps); `vehicles`: vehicle_id,
    top_speed_kmh (accepted). It starts from the staged readings before
    duplicate keys are dropped, so their duplicate-key rejections are among
    its results. Sorts, where needed, run on `con` (``device_pass.run_streaming``).
    With an `inbox`, the day steps go there (vehicle, day, gap, delta_km) instead
    of to a file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    assigned = dp.index_assignments(assignments, vehicles, params.speed_tolerance_factor)
    kernel, resorted, spilled = dp.run_streaming(
        lambda: _Kernel(assigned, out_dir, inbox),
        readings,
        COLUMNS,
        SPILL_SCHEMA.names,
        batch_rows,
        out_dir,
        con,
    )
    return OdometerKernelFiles(kernel.files.paths[0], kernel.files.paths[1], resorted, spilled)

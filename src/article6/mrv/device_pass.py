"""The device rules shared by the streaming kernels (GPS pings, odometer readings).

Telematics records come per device, in time order as exported. One compiled
pass (``gps_numba.device_rows``) carries each device's state from row to row:
a repeated (device, instant) key is a duplicate, a row belongs to the vehicle
of the device assignment in force at its instant (none: unassigned), pings
outside the boundary are rejected, and rows of vehicles fed by several
devices are set aside for a pass in vehicle order. This module indexes the
assignments and keeps the per-device state and the codes of ids and files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from article6.mrv import gps_io as io
from article6.mrv import gps_numba as k
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

DEVICE_ORDER = ["device_id", "ts", SOURCE_FILE, SOURCE_ROW]
VEHICLE_ORDER = ["vehicle", "ts", SOURCE_FILE, SOURCE_ROW]

OFFSET = "odometer_offset_km"


@dataclass
class Assignments:
    """Accepted assignments as arrays: per device code, a range of intervals."""

    devices: dict[str, int]
    vehicles: list[str]
    lo: NDArray[Any]
    hi: NDArray[Any]
    start: NDArray[Any]
    end: NDArray[Any]
    vehicle: NDArray[Any]
    offset: NDArray[Any]
    divert: NDArray[Any]
    limit: NDArray[Any]


def index_assignments(assignments: pa.Table, vehicles: pa.Table, factor: float) -> Assignments:
    """Index the accepted assignments by device; flag vehicles with several devices.

    `assignments`: device_id, vehicle_id, valid_from, valid_to and, for
    odometers, odometer_offset_km; `vehicles`: vehicle_id, top_speed_kmh. The
    speed limit of a vehicle is its top speed times `factor`.
    """
    order = pc.sort_indices(assignments, [("device_id", "ascending"), ("valid_from", "ascending")])
    table = assignments.take(order)
    # Codes in order of first appearance: devices ascending, vehicles as met.
    device = pc.dictionary_encode(table.column("device_id")).combine_chunks()
    vehicle_ids = pc.dictionary_encode(table.column("vehicle_id")).combine_chunks()
    device_names = device.dictionary.to_pylist()
    devices = dict(zip(device_names, range(len(device_names)), strict=True))
    names = vehicle_ids.dictionary
    codes = np.asarray(device.indices.to_numpy(zero_copy_only=False), np.int64)
    vehicle = np.asarray(vehicle_ids.indices.to_numpy(zero_copy_only=False), np.int64)
    lo = np.searchsorted(codes, np.arange(len(devices)), side="left").astype(np.int64)
    hi = np.searchsorted(codes, np.arange(len(devices)), side="right").astype(np.int64)
    # A vehicle is fed by several devices if it has more than one distinct pair.
    pairs = np.unique(vehicle * max(len(devices), 1) + codes)
    per_vehicle = np.bincount(pairs // max(len(devices), 1), minlength=len(names))
    divert = per_vehicle > 1
    # A vehicle of no accepted record has no top speed: NaN makes the speed
    # limit unknown, so only a step in no time is too fast (as a SQL null).
    where = pc.index_in(names, vehicles.column("vehicle_id"))
    tops = pc.take(vehicles.column("top_speed_kmh").combine_chunks(), where)
    top = np.asarray(tops.cast(pa.float64()).to_numpy(zero_copy_only=False), np.float64)
    offset = (
        floats(table.column(OFFSET).combine_chunks())
        if OFFSET in table.column_names
        else np.zeros(table.num_rows, np.float64)
    )
    return Assignments(
        devices=devices,
        vehicles=names.to_pylist(),
        lo=lo,
        hi=hi,
        start=io.micros(table.column("valid_from")),
        end=io.micros(table.column("valid_to")),
        vehicle=vehicle,
        offset=offset,
        divert=divert,
        limit=top * factor,
    )


def indices(column: pa.Array) -> tuple[pa.Array, NDArray[np.int32]]:
    """A string column's dictionary and its int32 indices."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    codes = column.indices
    if codes.type != pa.int32():
        codes = codes.cast(pa.int32())
    return column.dictionary, np.asarray(codes.to_numpy(zero_copy_only=False), np.int32)


def floats(column: pa.Array) -> NDArray[np.float64]:
    return np.asarray(column.to_numpy(zero_copy_only=False), np.float64)


class Codes:
    """Global codes of device ids and source files, and each file's rank by name.

    A batch's dictionary (a few hundred devices) is mapped, not its rows: the
    kernel looks each row's code up through the map.
    """

    def __init__(self, devices: dict[str, int]) -> None:
        self.devices = dict(devices)
        self.files: dict[str, int] = {}
        self.ranks = np.zeros(0, np.int64)

    def device_map(self, dictionary: pa.Array) -> NDArray[np.int64]:
        return self._map(dictionary, self.devices)

    def file_map(self, dictionary: pa.Array) -> NDArray[np.int64]:
        codes = self._map(dictionary, self.files)
        if self.ranks.shape[0] != len(self.files):
            names = list(self.files)
            order = sorted(range(len(names)), key=names.__getitem__)
            self.ranks = np.empty(len(names), np.int64)
            self.ranks[order] = np.arange(len(names))
        ranks: NDArray[np.int64] = self.ranks[codes]
        return ranks

    @staticmethod
    def _map(dictionary: pa.Array, table: dict[str, int]) -> NDArray[np.int64]:
        words = dictionary.to_pylist()
        return np.array([table.setdefault(w, len(table)) for w in words], dtype=np.int64)


@dataclass(frozen=True)
class DeviceRows:
    """A batch after the device rules: instants, status, vehicle and assignment codes."""

    ts: NDArray[np.int64]
    status: NDArray[np.int8]
    veh: NDArray[np.int64]
    assign: NDArray[np.int64]


class DeviceChecker:
    """``gps_numba.device_rows`` over a stream of batches, with each device's state."""

    def __init__(self, assigned: Assignments, values: NDArray[np.float64]) -> None:
        self.assigned = assigned
        self.values = values
        self.codes = Codes(assigned.devices)
        self.seen = np.zeros(0, np.bool_)
        self.last_ts = np.zeros(0, np.int64)
        self.last_rank = np.zeros(0, np.int64)
        self.last_row = np.zeros(0, np.int64)
        self.lo = np.zeros(0, np.int64)
        self.hi = np.zeros(0, np.int64)

    def _grow(self, count: int) -> None:
        """Make room for `count` device codes (devices of no assignment have no interval)."""
        have = self.seen.shape[0]
        if count <= have:
            return
        size = max(count, 2 * have, 1024)
        grow = size - have
        self.seen = np.concatenate([self.seen, np.zeros(grow, np.bool_)])
        self.last_ts = np.concatenate([self.last_ts, np.zeros(grow, np.int64)])
        self.last_rank = np.concatenate([self.last_rank, np.zeros(grow, np.int64)])
        self.last_row = np.concatenate([self.last_row, np.zeros(grow, np.int64)])
        known = self.assigned.lo.shape[0]
        self.lo = np.zeros(size, np.int64)
        self.hi = np.zeros(size, np.int64)
        self.lo[:known], self.hi[:known] = self.assigned.lo, self.assigned.hi

    def check(
        self, batch: pa.RecordBatch, lat: NDArray[np.float64], lon: NDArray[np.float64]
    ) -> DeviceRows | None:
        """The device rules over a batch in stored order (positions `lat`, `lon`; records
        without one pass zeros and a boundary of the whole plane). None if a device's
        rows are out of time order."""
        n = batch.num_rows
        dev_dict, dev = indices(batch.column("device_id"))
        file_dict, file = indices(batch.column(SOURCE_FILE))
        dev_code = self.codes.device_map(dev_dict)
        file_rank = self.codes.file_map(file_dict)
        self._grow(len(self.codes.devices))
        a = self.assigned
        # Every row's status, vehicle and assignment is written by the pass.
        status = io.pooled_empty(n, np.int8)
        veh, assign = io.pooled_empty(n, np.int64), io.pooled_empty(n, np.int64)
        ts = io.micros(batch.column("ts"))
        row = np.asarray(batch.column(SOURCE_ROW).to_numpy(zero_copy_only=False), np.int64)
        broken = k.device_rows(
            dev, dev_code, ts, lat, lon, file, file_rank, row, status, veh, assign,
            self.seen, self.last_ts, self.last_rank, self.last_row, self.lo, self.hi,
            a.start, a.end, a.vehicle, a.divert, self.values,
        )  # fmt: skip
        if broken < 0:
            return None
        return DeviceRows(ts, status, veh, assign)


class StreamingKernel(Protocol):
    """What ``run_streaming`` drives: device rules a batch ahead (None: out of order),
    vehicle rules per batch, then the set-aside rows in vehicle order."""

    @property
    def spill_path(self) -> Path: ...

    def device_passes(self, batches: Iterable[pa.RecordBatch]) -> Iterator[Any | None]: ...

    def vehicle_pass(self, checked: Any) -> None: ...

    def close_spill(self) -> int: ...

    def vehicle_batch(self, batch: pa.RecordBatch) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


KernelT = TypeVar("KernelT", bound=StreamingKernel)


def run_streaming(
    make_kernel: Callable[[], KernelT],
    path: Path,
    columns: list[str],
    spill_columns: list[str],
    batch_rows: int,
    work_dir: Path,
    con: duckdb.DuckDBPyConnection | None = None,
) -> tuple[KernelT, bool, int]:
    """Stream a staged file through a kernel: (the kernel, whether the file had to be
    read sorted by device, how many rows were set aside for the vehicle-order pass).

    The file is read in stored order; if a device's rows turn out to be out of
    time order, a new kernel starts over on the file sorted by DuckDB. Rows set
    aside (vehicles fed by several devices) are sorted by vehicle and run last.
    The sorts run on `con` (a run's own DuckDB database: starting another
    costs a tenth of a second) or, without one, on a database of their own.
    """
    own = con is None
    con = io.connect(work_dir) if con is None else con
    try:
        for resorted in (False, True):
            kernel = make_kernel()
            try:
                if resorted:
                    batches = io.sorted_batches(con, path, columns, DEVICE_ORDER, batch_rows)
                else:
                    batches = io.stored_batches(path, batch_rows, columns)
                # Three stages, each in a thread: reading, the device rules, the
                # vehicle rules (here); on few cores the system shares them out.
                stream = io.prefetch(kernel.device_passes(io.prefetch(batches)))
                in_order = True
                for checked in stream:
                    if checked is None:
                        in_order = False
                        break
                    kernel.vehicle_pass(checked)
                stream.close()
                if not in_order:
                    continue
                spilled = kernel.close_spill()
                if spilled:
                    spill = kernel.spill_path
                    for batch in io.sorted_batches(
                        con, spill, spill_columns, VEHICLE_ORDER, batch_rows
                    ):
                        kernel.vehicle_batch(batch)
                    spill.unlink()
                kernel.finish()
            finally:
                kernel.close()
            return kernel, resorted, spilled
    finally:
        if own:
            con.close()
    raise RuntimeError(f"{path.name}: rows sorted by device and time are still out of order")

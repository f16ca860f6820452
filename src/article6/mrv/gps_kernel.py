"""Streaming GPS step for DuckDB runs: the rules of ``distance.gps_daily`` without a sort.

The Ibis ``gps_daily`` orders every ping by vehicle and time three times
(duplicate keys, jump and speed rules, segments); at tens of millions of pings
those window sorts cost many times a scan of the file. Telematics exports are
stored in time order per device, so here the staged file is read once, batch
by batch (bounded memory), and a compiled loop (``gps_numba``) carries each
device's and vehicle's state from row to row. The results are the same rows
``gps_daily`` gives; Spark runs keep ``gps_daily`` itself.

Where the stored order does not hold, the kernel falls back, still streaming:
pings of a vehicle fed by several devices (a device swap) are set aside and
run after a sort by DuckDB of that subset only; input not in time order per
device (unordered exports, overlapping source files) is read again through a
sort of the whole file by DuckDB. Both sorts spill to disk beyond the memory
limit (``gps_io``). The vehicle rules, most of the work, run in threads,
each on its own blocks of vehicles.

Daily km are summed in time order; DuckDB sums a group in whatever order its
threads meet the rows, so the two may differ in the last bits (about 1e-15
relative), never in which pings are kept or rejected.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv import device_pass as dp
from article6.mrv import gps_io as io
from article6.mrv import gps_numba as k
from article6.mrv.params import ParameterSet
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

BATCH_ROWS = 1 << 20
# Reading and the device rules run ahead, each in a thread of its own; the
# vehicle rules take the other cores (on two, one thread measured faster than two).
THREADS = max(1, min(4, (os.cpu_count() or 1) - 1))


@dataclass(frozen=True)
class GpsKernelFiles:
    """Where the kernel wrote its results (Arrow IPC), and how it had to read the input.

    ``daily``: vehicle_id, day, gps_km (one row per vehicle and day with kept pings).
    ``rejected``: source_file, source_row, reason, device_id, lat of every rejected ping.
    """

    daily: Path
    rejected: Path
    resorted: bool
    diverted_rows: int


@dataclass(frozen=True)
class _Checked:
    """A batch after the device rules: its columns as arrays, each row's status and
    vehicle code."""

    batch: pa.RecordBatch
    ts: NDArray[np.int64]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    status: NDArray[np.int8]
    veh: NDArray[np.int64]


@dataclass
class _State:
    """Per-vehicle state carried across batches (see ``gps_numba``)."""

    vehicles: int

    def __post_init__(self) -> None:
        n = self.vehicles
        self.flags = np.zeros((n, 3), np.bool_)
        self.ints = np.zeros((n, 2), np.int64)
        self.floats = np.zeros((n, 7), np.float64)

    def closed_days(
        self, out: tuple[NDArray[Any], NDArray[Any], NDArray[Any]]
    ) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        """Every vehicle's open day, closed at the end of the input."""
        emitted = k.flush(self.flags, self.ints, self.floats, *out)
        return out[0][:emitted], out[1][:emitted], out[2][:emitted]


def _params(params: ParameterSet) -> NDArray[np.float64]:
    values = np.zeros(6, np.float64)
    values[k.P_LAT_MIN] = params.boundary_lat_min
    values[k.P_LAT_MAX] = params.boundary_lat_max
    values[k.P_LON_MIN] = params.boundary_lon_min
    values[k.P_LON_MAX] = params.boundary_lon_max
    values[k.P_JUMP_KM] = params.gps_jump_km
    values[k.P_JUMP_S] = params.gps_jump_window_s
    return values


class _Kernel:
    """The compiled passes of ``gps_numba`` over a stream of batches.

    The vehicle rules, most of the work, run in `threads` threads at once,
    each on its own blocks of vehicles.
    """

    def __init__(
        self,
        assigned: dp.Assignments,
        values: NDArray[np.float64],
        sinks: io.Sinks,
        pool: ThreadPoolExecutor,
        threads: int,
    ) -> None:
        self.assigned = assigned
        self.values = values
        self.sinks = sinks
        self.pool = pool
        self.threads = threads
        self.state = _State(len(assigned.vehicles))
        self.devices = dp.DeviceChecker(assigned, values)

    def device_pass(self, batch: pa.RecordBatch) -> _Checked | None:
        """Device rules over pings in stored order; None if a device's pings are out of
        order. Runs in a thread of its own, a batch ahead of the vehicle rules."""
        lat, lon = dp.floats(batch.column("lat")), dp.floats(batch.column("lon"))
        rows = self.devices.check(batch, lat, lon)
        if rows is None:
            return None
        return _Checked(batch, rows.ts, lat, lon, rows.status, rows.veh)

    def device_passes(self, batches: Iterable[pa.RecordBatch]) -> Iterator[_Checked | None]:
        """``device_pass`` over a stream, stopping after the first batch out of order."""
        for batch in batches:
            if batch.num_rows == 0:
                continue
            checked = self.device_pass(batch)
            yield checked
            if checked is None:
                return

    def vehicle_pass(self, checked: _Checked) -> None:
        """Vehicle rules over a device-checked batch, then its results to the sinks."""
        self._vehicles(
            checked.ts, checked.lat, checked.lon, checked.status, checked.veh, self.threads
        )
        self.sinks.write_rejected(checked.batch, checked.status)
        self.sinks.write_spill(checked.batch, checked.status, checked.veh)

    def vehicle_batch(self, batch: pa.RecordBatch) -> None:
        """Set-aside pings sorted by vehicle and time (they passed the device rules)."""
        n = batch.num_rows
        status = np.full(n, k.READY, np.int8)
        self._vehicles(
            np.asarray(batch.column("ts").to_numpy(), np.int64),
            dp.floats(batch.column("lat")),
            dp.floats(batch.column("lon")),
            status,
            # A copy, writable like the vehicle codes of the device pass: one
            # compiled signature serves both passes.
            np.array(batch.column("vehicle").to_numpy(), np.int64),
            1,
        )
        rows = batch.select([SOURCE_FILE, SOURCE_ROW, "lat"])
        rows = rows.append_column("device_id", pa.nulls(n, pa.string()))
        self.sinks.write_rejected(rows, status)

    def _vehicles(
        self,
        ts: NDArray[np.int64],
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        status: NDArray[np.int8],
        veh: NDArray[np.int64],
        parts: int,
    ) -> None:
        state, a = self.state, self.assigned

        def part(index: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
            out = _outputs(ts.shape[0])
            emitted = k.vehicle_rows(
                index, parts, ts, lat, lon, status, veh, a.limit, self.values,
                state.flags, state.ints, state.floats, *out,
            )  # fmt: skip
            return out[0][:emitted], out[1][:emitted], out[2][:emitted]

        for closed in self.pool.map(part, range(parts)):
            self.sinks.write_daily(*closed)

    def finish(self) -> None:
        self.sinks.write_daily(*self.state.closed_days(_outputs(self.state.vehicles)))

    @property
    def spill_path(self) -> Path:
        return self.sinks.spill_path

    def close_spill(self) -> int:
        return self.sinks.close_spill()

    def close(self) -> None:
        self.sinks.close()


def _outputs(n: int) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    return (
        io.pooled_empty(n, np.int64),
        io.pooled_empty(n, np.int64),
        io.pooled_empty(n, np.float64),
    )


def run_gps_kernel(
    pings: Path,
    assignments: pa.Table,
    vehicles: pa.Table,
    params: ParameterSet,
    out_dir: Path,
    batch_rows: int = BATCH_ROWS,
    threads: int = THREADS,
    con: duckdb.DuckDBPyConnection | None = None,
) -> GpsKernelFiles:
    """The rules and daily distance of ``distance.gps_daily`` over a staged ping file.

    `assignments`: device_id, vehicle_id, valid_from, valid_to (accepted, no
    overlaps); `vehicles`: vehicle_id, top_speed_kmh (accepted). Unlike
    ``gps_daily`` this starts from the staged pings before duplicate keys are
    dropped, so the duplicate-key rejections of pings are among its results.
    Sorts, where needed, run on `con` (``device_pass.run_streaming``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    assigned = dp.index_assignments(assignments, vehicles, params.speed_tolerance_factor)
    values = _params(params)
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        kernel, resorted, spilled = dp.run_streaming(
            lambda: _Kernel(assigned, values, io.Sinks(out_dir, assigned.vehicles), pool, threads),
            pings,
            io.COLUMNS,
            io.SPILL_SCHEMA.names,
            batch_rows,
            out_dir,
            con,
        )
    finally:
        pool.shutdown()
    return GpsKernelFiles(kernel.sinks.paths[0], kernel.sinks.paths[1], resorted, spilled)

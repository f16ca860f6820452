"""Reading and writing for the streaming GPS kernel (``gps_kernel``).

The kernel's input comes as Arrow batches, either as stored (read ahead in a
thread while the compiled loop runs, both without the GIL) or sorted by
DuckDB, which spills to disk beyond its memory limit; its results and the
pings it sets aside go to files as they are produced, so memory stays
bounded whatever the number of pings.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from article6.mrv import gps_numba as k
from article6.mrv.engine import duckdb_memory_limit
from article6.mrv.reasons import ReasonCode
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

T = TypeVar("T")

COLUMNS = ["device_id", "ts", "lat", "lon", SOURCE_FILE, SOURCE_ROW]
WHOLE_GROUP_BATCHES = 4
PENDING_WRITES = 4

# Reason of each kernel status (index = status code; kept and diverted have none).
REASONS = {
    k.DUPLICATE: ReasonCode.DUPLICATE_KEY.value,
    k.UNASSIGNED: ReasonCode.UNASSIGNED_DEVICE.value,
    k.OUTSIDE: ReasonCode.OUTSIDE_BOUNDARY.value,
    k.JUMP: ReasonCode.GPS_JUMP.value,
    k.SPEED: ReasonCode.IMPLAUSIBLE_SPEED.value,
}
DAILY_SCHEMA = pa.schema(
    [("vehicle_id", pa.string()), ("day", pa.int64()), ("gps_km", pa.float64())]
)


def rejected_schema(value: str) -> pa.Schema:
    """A kernel's rejected rows: where they came from, why, and the checked value."""
    return pa.schema(
        [
            ("source_file", pa.string()),
            ("source_row", pa.int64()),
            ("reason", pa.string()),
            ("device_id", pa.string()),
            (value, pa.float64()),
        ]
    )


def spill_schema(*values: str) -> pa.Schema:
    """Rows set aside for the vehicle-order pass: vehicle code, instant, the values."""
    return pa.schema(
        [("vehicle", pa.int64()), ("ts", pa.int64())]
        + [(value, pa.float64()) for value in values]
        + [(SOURCE_FILE, pa.string()), (SOURCE_ROW, pa.int64())]
    )


REJECTED_SCHEMA = rejected_schema("lat")
SPILL_SCHEMA = spill_schema("lat", "lon")


def pooled_empty(n: int, dtype: type[np.generic]) -> NDArray[Any]:
    """An uninitialised array for a batch's per-row results, in Arrow's memory pool.

    numpy's allocator hands blocks of a batch's size back to the system when
    they are freed, so the next batch's arrays fault every page in again (a
    third of the device pass); the pool (``engine.use_retaining_memory_pool``)
    keeps freed pages for reuse.
    """
    kind = np.dtype(dtype)
    return np.frombuffer(pa.allocate_buffer(n * kind.itemsize), dtype=kind)


def micros(column: pa.ChunkedArray | pa.Array) -> NDArray[Any]:
    """Timestamps as int64 microseconds (nulls, for open intervals, as the far end)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.type == pa.timestamp("us") and column.null_count == 0:
        return np.asarray(column.view(pa.int64()).to_numpy(), dtype=np.int64)
    values = pc.cast(column, pa.timestamp("us"), safe=False).cast(pa.int64())
    return np.asarray(values.fill_null(k.NO_END).to_numpy(), dtype=np.int64)


class WriteQueue:
    """Writes done by a thread of their own, in the order they were asked for, while
    a kernel goes on with the next batch; at most ``PENDING_WRITES`` wait at a
    time, so memory stays bounded and a failed write surfaces soon."""

    def __init__(self) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-writes")
        self._pending: deque[Future[None]] = deque()

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._writer.submit(write, *args))
        while len(self._pending) > PENDING_WRITES:
            self._pending.popleft().result()

    def drain(self) -> None:
        """Wait for every write asked for so far (and raise the first failure)."""
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._writer.shutdown()


def result_writer(path: Path, schema: pa.Schema) -> pa.ipc.RecordBatchFileWriter:
    """A writer of an Arrow IPC file for a kernel's results, read once or twice by
    the engine (``Engine.read_arrow``): batches are stored as they are in memory,
    several times faster to write than Parquet, which encodes every value."""
    return pa.ipc.new_file(str(path), schema)


class KernelFiles:
    """A kernel's output files, written through a ``WriteQueue``: its results
    (``<prefix>_<results>.arrow``) and rejected rows (``<prefix>_rejected.arrow``),
    and the rows it set aside for the vehicle-order pass (``<prefix>_diverted``,
    Parquet, which DuckDB sorts)."""

    def __init__(
        self,
        out_dir: Path,
        prefix: str,
        results: str,
        schemas: tuple[pa.Schema, pa.Schema, pa.Schema],
    ) -> None:
        self._queue = WriteQueue()
        self.paths = (
            out_dir / f"{prefix}_{results}.arrow",
            out_dir / f"{prefix}_rejected.arrow",
        )
        self.spill_path = out_dir / f"{prefix}_diverted.parquet"
        self.results = result_writer(self.paths[0], schemas[0])
        self.rejected = result_writer(self.paths[1], schemas[1])
        self.spill_schema = schemas[2]
        self.spill: pq.ParquetWriter | None = None
        self.spilled = 0

    def submit(self, write: Callable[..., None], *args: Any) -> None:
        self._queue.submit(write, *args)

    def set_aside(self, rows: int, table: Callable[[], pa.Table]) -> None:
        """Add `rows` rows, built by `table` in the writer thread, to the set-aside file."""
        self.spilled += rows
        self._queue.submit(self._write_spill, table)

    def _write_spill(self, table: Callable[[], pa.Table]) -> None:
        if self.spill is None:
            self.spill = pq.ParquetWriter(self.spill_path, self.spill_schema)
        self.spill.write_table(table())

    def close_spill(self) -> int:
        """Finish the file of set-aside rows; how many rows it holds."""
        self._queue.drain()
        if self.spill is not None:
            self.spill.close()
            self.spill = None
        return self.spilled

    def close(self) -> None:
        try:
            self._queue.close()
        finally:
            self.results.close()
            self.rejected.close()
            self.close_spill()


class Sinks(KernelFiles):
    """The GPS kernel's files: daily km, rejected pings, pings set aside."""

    def __init__(self, out_dir: Path, vehicles: list[str]) -> None:
        super().__init__(out_dir, "gps", "daily", (DAILY_SCHEMA, REJECTED_SCHEMA, SPILL_SCHEMA))
        self.vehicle_names = pa.array(vehicles, pa.string())
        self.reason_names = pa.array([REASONS.get(code) for code in range(k.DIVERTED)], pa.string())

    def write_daily(self, veh: NDArray[Any], day: NDArray[Any], km: NDArray[Any]) -> None:
        self.submit(self._write_daily, veh, day, km)

    def write_rejected(self, batch: pa.RecordBatch, status: NDArray[np.int8]) -> None:
        self.submit(self._write_rejected, batch, status)

    def write_spill(
        self, batch: pa.RecordBatch, status: NDArray[np.int8], veh: NDArray[Any]
    ) -> None:
        index = np.flatnonzero(status == k.DIVERTED)
        if index.shape[0]:
            self.set_aside(int(index.shape[0]), lambda: self._spill_table(batch, index, veh))

    def _write_daily(self, veh: NDArray[Any], day: NDArray[Any], km: NDArray[Any]) -> None:
        if veh.shape[0]:
            names = self.vehicle_names.take(pa.array(veh))
            self.results.write_table(
                pa.table([names, pa.array(day), pa.array(km)], schema=DAILY_SCHEMA)
            )

    def _write_rejected(self, batch: pa.RecordBatch, status: NDArray[np.int8]) -> None:
        index = np.flatnonzero((status != k.KEPT) & (status != k.DIVERTED))
        if index.shape[0] == 0:
            return
        rows = batch.take(pa.array(index))
        self.rejected.write_table(
            pa.table(
                [
                    strings(rows.column(SOURCE_FILE)),
                    rows.column(SOURCE_ROW),
                    self.reason_names.take(pa.array(status[index].astype(np.int64))),
                    strings(rows.column("device_id")),
                    rows.column("lat"),
                ],
                schema=REJECTED_SCHEMA,
            )
        )

    @staticmethod
    def _spill_table(
        batch: pa.RecordBatch, index: NDArray[np.int64], veh: NDArray[Any]
    ) -> pa.Table:
        rows = batch.take(pa.array(index))
        return pa.table(
            [
                pa.array(veh[index]),
                micros(rows.column("ts")),
                rows.column("lat"),
                rows.column("lon"),
                strings(rows.column(SOURCE_FILE)),
                rows.column(SOURCE_ROW),
            ],
            schema=SPILL_SCHEMA,
        )


def strings(column: pa.Array) -> pa.Array:
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def prefetch(items: Iterable[T], depth: int = 2) -> Generator[T, None, None]:
    """Produce the next items in a thread while the consumer works on this one (reading
    and the compiled passes release the GIL)."""
    slots: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(("end", None))
        except BaseException as exc:  # handed to the consumer
            slots.put(("error", exc))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            kind, item = slots.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def connect(work_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{duckdb_memory_limit()}'")
    con.execute(f"SET temp_directory = '{str(work_dir).replace(chr(39), chr(39) * 2)}'")
    con.execute("SET enable_progress_bar = false")
    return con


def sorted_batches(
    con: duckdb.DuckDBPyConnection, path: Path, columns: list[str], order: list[str], rows: int
) -> Iterator[pa.RecordBatch]:
    """Stream a Parquet file sorted by DuckDB (which spills beyond its memory limit)."""
    select = ", ".join(f'"{c}"' for c in columns)
    keys = ", ".join(f'"{c}"' for c in order)
    relation = con.sql(f"SELECT {select} FROM read_parquet('{quoted(path)}') ORDER BY {keys}")
    reader: pa.RecordBatchReader = relation.to_arrow_reader(rows)
    yield from reader


def quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def stored_batches(
    path: Path, batch_rows: int, columns: list[str] = COLUMNS
) -> Iterator[pa.RecordBatch]:
    """Device records (pings by default) in stored order, device ids and files as
    dictionaries.

    A row group is read whole when it is no larger than a few batches (the
    staged files' are), which takes about half as long as re-cutting the
    stream into batches; a larger one is read a batch at a time, so memory
    stays bounded whatever wrote the file. Reading is single-threaded and
    not pre-buffered: the compiled passes keep the other cores busy, and on
    a local disk pre-buffering only adds a copy.
    """
    reader = pq.ParquetFile(path, read_dictionary=["device_id", SOURCE_FILE], pre_buffer=False)
    for group in range(reader.num_row_groups):
        if reader.metadata.row_group(group).num_rows <= WHOLE_GROUP_BATCHES * batch_rows:
            yield from _whole_group(reader, group, columns).to_batches()
        else:
            yield from reader.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=columns
            )


def _whole_group(reader: pq.ParquetFile, group: int, columns: list[str]) -> pa.Table:
    """One row group; a source-file column holding one name throughout (its statistics
    say so, as in any group staged from a single file) is made, not decoded.

    Staged files are written by pyarrow, whose statistics hold whole values
    (a value too long for them leaves none, and the column is decoded).
    """
    name = _only_value(reader, group, SOURCE_FILE) if SOURCE_FILE in columns else None
    read = [c for c in columns if name is None or c != SOURCE_FILE]
    table = reader.read_row_group(group, columns=read, use_threads=False).combine_chunks()
    if name is None:
        return table
    files = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(table.num_rows, np.int32)), pa.array([name], pa.string())
    )
    return table.append_column(SOURCE_FILE, files).select(columns)


def _only_value(reader: pq.ParquetFile, group: int, column: str) -> str | None:
    """The one value of a string column in a row group, if its statistics show one."""
    chunk = reader.metadata.row_group(group).column(reader.schema_arrow.get_field_index(column))
    stats = chunk.statistics
    if stats is None or not stats.has_min_max or stats.null_count != 0 or stats.min != stats.max:
        return None
    return str(stats.min)

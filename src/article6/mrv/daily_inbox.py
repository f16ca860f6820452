"""The daily kernel's inputs, handed over part by part by the kernels computing them.

An odometer, GPS or activity kernel emits rows as it goes, in its own vehicle
codes (positions in the list it names with ``Inbox.vehicles_are``); the inbox
turns them into the daily kernel's codes and keeps them compact: no file of
string ids to write and read back, no second copy.

The daily kernel walks its vehicles block by block. With one block, the usual
case, the rows stay in memory, in arrays allocated for `capacity` rows, a
bound on what will come (the source file's rows): pages never written take no
memory. With several (a fleet whose rows would not fit in the kernels'
memory allowance), each block's rows wait in a file of their own and are read
back when that block is walked, so only one block is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv.gps_numba import read_only


class Inbox:
    """One input of the daily kernel: each row's vehicle code, then its values.

    `code_of` maps the daily kernel's vehicle ids to its codes; `kinds` are the
    values' types; `bounds` the first code of each block of vehicles and the
    end of the last; `spill` the path prefix of the blocks' files (needed with
    more than one block). Rows of vehicles the daily kernel does not know are
    left out, as the Ibis joins leave them.
    """

    def __init__(
        self,
        code_of: dict[str, int],
        capacity: int,
        kinds: tuple[type[np.generic], ...],
        bounds: NDArray[np.int64] | None = None,
        spill: Path | None = None,
    ) -> None:
        self.code_of = code_of
        self.kinds: tuple[type[np.generic], ...] = (np.int32, *kinds)
        self.codes = np.full(1, -1, np.int32)
        self.bounds = np.array([0, len(code_of)], np.int64) if bounds is None else bounds
        if self.blocks > 1 and spill is None:
            raise ValueError("an inbox of several blocks needs a place for their files")
        self.spill = spill
        self.columns = [np.empty(capacity if self.blocks == 1 else 0, k) for k in self.kinds]
        self.filled = 0
        fields = [pa.field(f"c{i}", pa.from_numpy_dtype(k)) for i, k in enumerate(self.kinds)]
        self.schema = pa.schema(fields)
        self.writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}

    @property
    def blocks(self) -> int:
        return int(self.bounds.shape[0]) - 1

    def vehicles_are(self, vehicles: Sequence[str]) -> None:
        """Name the sender's vehicle codes; rows already in are dropped (a kernel that
        starts over, on its input sorted, sends them again)."""
        self.codes = np.array([self.code_of.get(v, -1) for v in vehicles], np.int32)
        self.filled = 0
        for block, writer in self.writers.items():
            writer.close()
            self._path(block).unlink()
        self.writers.clear()

    def add(self, vehicle: NDArray[np.integer[Any]], *values: NDArray[Any]) -> None:
        """Rows in the sender's vehicle codes."""
        self._check(vehicle, values)
        self.add_coded(self.codes[vehicle], *values)

    def add_coded(self, code: NDArray[np.integer[Any]], *values: NDArray[Any]) -> None:
        """Rows already in the daily kernel's codes (-1: a vehicle it does not know)."""
        self._check(code, values)
        keep = code >= 0
        kept = int(np.count_nonzero(keep))
        columns = (
            (code, *values) if kept == code.shape[0] else (code[keep], *(v[keep] for v in values))
        )
        if self.blocks == 1:
            self._fill(columns, kept)
        else:
            self._spill(columns)

    def rows(self, block: int = 0) -> tuple[NDArray[Any], ...]:
        """The rows of a block of vehicles, read-only (numba compiles read-only arrays as
        another type, so the daily kernel's inputs always are)."""
        if self.blocks == 1:
            return tuple(read_only(column[: self.filled]) for column in self.columns)
        writer = self.writers.pop(block, None)
        if writer is None:
            return tuple(read_only(np.zeros(0, kind)) for kind in self.kinds)
        writer.close()
        path = self._path(block)
        # Batch by batch into arrays of the block's size: the file is mapped, not
        # read, so the block is in memory once.
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            total = sum(batch.num_rows for batch in batches)
            columns = [np.empty(total, kind) for kind in self.kinds]
            at = 0
            for batch in batches:
                for target, source_column in zip(columns, batch.columns, strict=True):
                    target[at : at + batch.num_rows] = source_column.to_numpy()
                at += batch.num_rows
            del batches
        path.unlink()
        return tuple(read_only(column) for column in columns)

    def _check(self, code: NDArray[Any], values: tuple[NDArray[Any], ...]) -> None:
        if len(values) != len(self.kinds) - 1 or any(v.shape != code.shape for v in values):
            shapes = ", ".join(str(v.shape) for v in values)
            raise ValueError(f"inbox: {code.shape} vehicle codes but values of {shapes}")

    def _fill(self, columns: tuple[NDArray[Any], ...], kept: int) -> None:
        end = self.filled + kept
        if end > self.columns[0].shape[0]:  # more than announced: room is made
            self.columns = [_grown(column, self.filled, kept) for column in self.columns]
        for target, source in zip(self.columns, columns, strict=True):
            target[self.filled : end] = source
        self.filled = end

    def _spill(self, columns: tuple[NDArray[Any], ...]) -> None:
        block_of = np.searchsorted(self.bounds, columns[0], side="right") - 1
        for block in np.unique(block_of).tolist():
            here = block_of == block
            arrays = [
                pa.array(np.asarray(column[here], kind))
                for column, kind in zip(columns, self.kinds, strict=True)
            ]
            writer = self.writers.get(block)
            if writer is None:
                writer = self.writers[block] = pa.ipc.new_file(str(self._path(block)), self.schema)
            writer.write_batch(pa.record_batch(arrays, schema=self.schema))

    def _path(self, block: int) -> Path:
        if self.spill is None:  # refused when made
            raise ValueError("an inbox of one block keeps no files")
        return self.spill.with_name(f"{self.spill.name}_{block}.arrow")


def _grown(column: NDArray[Any], used: int, more: int) -> NDArray[Any]:
    bigger = np.empty(max(2 * column.shape[0], used + more), column.dtype)
    bigger[:used] = column[:used]
    return bigger

"""Reading swap events and charge sessions for the activity kernel (``activity_kernel``).

Batches come in stored order, several row groups at a time, with each row's
duplicate flag. Which keys may repeat is found first, in a pass over the key
column alone: a key that repeats an earlier one is never above every key
before it (``activity_numba``), and keys exported in increasing order, as
they usually are, flag none. The rows of flagged keys are held back and
ranked by source file and row at the end; the first of each key goes on like
any other row, the others are duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from article6.mrv import activity_numba as a
from article6.mrv.gps_io import prefetch
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW

SWAPS, CHARGES = "swap_events", "charge_sessions"
BATCH_ROWS = 1 << 20
DICTIONARIES = ["station_id", "vehicle_id", "battery_in_id", SOURCE_FILE]
"""Id columns read as dictionaries, so a batch's ids are looked up once each."""


RepeatedKeys = dict[str, pa.Array | None]
"""Per record type, the keys that may repeat an earlier row's (None for none)."""


def repeated_keys(staging_dir: Path) -> RepeatedKeys:
    """The first pass: it needs nothing of the identity rules, so it can run first."""
    return {
        name: repeated_in_file(staging_dir / f"{name}.parquet", SCHEMAS[name].key[0])
        for name in (SWAPS, CHARGES)
    }


def batches(
    path: Path, record_type: str, columns: list[str], repeated: pa.Array | None
) -> Iterator[tuple[pa.Table, NDArray[np.bool_]]]:
    """Row groups in stored order with each row's duplicate flag (rows of keys that
    may repeat come last, ranked by source file and row: all but the first are
    duplicates)."""
    key = SCHEMAS[record_type].key[0]
    read = columns + [SOURCE_FILE, SOURCE_ROW] + ([key] if repeated is not None else [])
    held: list[pa.Table] = []
    for group in prefetch(_row_groups(path, read)):
        if repeated is None:
            yield group, np.zeros(group.num_rows, np.bool_)
            continue
        hold = pc.is_in(group.column(key), value_set=repeated)
        if pc.any(hold).as_py():
            held.append(_decoded(group.filter(hold)))
            group = group.filter(pc.invert(hold))
        yield group, np.zeros(group.num_rows, np.bool_)
    if held:
        rows = pa.concat_tables(held)
        order = pc.sort_indices(
            rows, [(key, "ascending"), (SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
        )
        rows = rows.take(order)
        keys = rows.column(key).combine_chunks()
        later = pc.equal(keys.slice(1), keys.slice(0, len(keys) - 1)).fill_null(False)
        later = later.to_numpy(zero_copy_only=False)
        yield rows, np.concatenate([[False], later])


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary columns as plain strings (batches' dictionaries differ)."""
    return pa.table(
        {
            name: table.column(name).cast(pa.string())
            if pa.types.is_dictionary(table.column(name).type)
            else table.column(name)
            for name in table.column_names
        }
    )


def _row_groups(path: Path, columns: list[str]) -> Iterator[pa.Table]:
    """Consecutive row groups of about ``BATCH_ROWS`` rows together: each batch costs
    a dozen handovers of the interpreter lock, each a wait while the engine's
    expressions are being compiled."""
    reader = pq.ParquetFile(path, read_dictionary=[c for c in columns if c in DICTIONARIES])
    groups: list[int] = []
    rows = 0
    for group in range(reader.num_row_groups):
        groups.append(group)
        rows += reader.metadata.row_group(group).num_rows
        if rows >= BATCH_ROWS or group == reader.num_row_groups - 1:
            yield reader.read_row_groups(groups, columns=columns)
            groups, rows = [], 0


def repeated_in_file(path: Path, key: str) -> pa.Array | None:
    """Keys that may repeat an earlier row's (a superset of those that do), or None."""
    highest = np.zeros(0, np.uint8)
    found: list[pa.Array] = []
    for group in prefetch(_row_groups(path, [key])):
        keys = group.column(key).combine_chunks()
        if _increasing(keys, highest):  # as exports usually are: nothing to flag
            highest = np.frombuffer(keys[-1].as_buffer(), np.uint8).copy()
            continue
        offsets, data = _string_buffers(keys)
        # The highest key so far goes first, so the loop compares within one array.
        data = np.concatenate([highest, data])
        flags = np.zeros(len(keys), np.bool_)
        start, end = a.not_above_running_max(
            offsets + highest.shape[0], data, highest.shape[0], flags
        )
        highest = data[start:end].copy()
        if flags.any():
            found.append(keys.filter(pa.array(flags)))
    if not found:
        return None
    return pc.unique(pa.concat_arrays(found))


def _increasing(keys: pa.Array, highest: NDArray[np.uint8]) -> bool:
    """Whether the keys rise strictly from row to row and from `highest` on (a
    vectorised test, which spares the compiled loop most files)."""
    if len(keys) == 0 or keys.null_count:
        return False
    if highest.shape[0] and keys[0].as_buffer().to_pybytes() <= highest.tobytes():
        return False
    rising = pc.greater(keys.slice(1), keys.slice(0, len(keys) - 1))
    return bool(pc.all(rising).as_py() is not False)


def _string_buffers(keys: pa.Array) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """Each value's start in the data (and the end of the last) and the data, as bytes."""
    _, offsets, data = keys.buffers()[:3]
    width = np.int64 if pa.types.is_large_string(keys.type) else np.int32
    starts = np.frombuffer(offsets, width)[keys.offset : keys.offset + len(keys) + 1]
    values = np.zeros(0, np.uint8) if data is None else np.frombuffer(data, np.uint8)
    return starts.astype(np.int64), values

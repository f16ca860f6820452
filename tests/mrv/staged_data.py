"""Changes to a staged dataset for tests: copied keys, rewritten or reordered files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from article6.mrv.ingest import staging_writer


def rewrite_staged(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """Replace a staged file by `change` of its rows, in the staged layout."""
    table = pq.read_table(path)
    rows = change(table)
    with staging_writer(path, table.schema) as writer:
        writer.write_table(rows)


def with_copied_keys(table: pa.Table, start: int, step: int) -> pa.Table:
    """Copies of rows start, start + step, ... stored right after them, each as a
    later row of the same file (so the original is the one to keep)."""
    copied = np.arange(start, table.num_rows, max(step, 1))
    order = np.sort(np.concatenate([np.arange(table.num_rows), copied]))
    rows = table.take(order)
    source_row = rows.column("_source_row").to_numpy().copy()
    source_row[np.flatnonzero(order[1:] == order[:-1]) + 1] += 10_000_000
    return rows.set_column(rows.schema.get_field_index("_source_row"), "_source_row", [source_row])


def shuffled_copy(stage: Path, target: Path, names: Iterable[str], seed: int) -> Path:
    """The staged dataset at `target`, the files of record types `names` stored in
    random order, the others linked."""
    target.mkdir()
    for path in stage.glob("*.parquet"):
        (target / path.name).symlink_to(path)
    for name in names:
        (target / f"{name}.parquet").unlink()
        table = pq.read_table(stage / f"{name}.parquet")
        order = np.random.default_rng(seed).permutation(table.num_rows)
        with staging_writer(target / f"{name}.parquet", table.schema) as writer:
            writer.write_table(table.take(order))
    return target

"""The DuckDB engine creates tables in background threads while the pipeline goes on.

A step is compiled against the schema a table will have, so every declared
schema must be the one DuckDB gives the table; a table that fails to build
must fail the run at the next read, and closing must still clean up.
"""

from __future__ import annotations

import gc
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from article6.mrv.engine import Engine
from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import run_pipeline
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "plans" / "khm-emoto-exante-params.toml")


def test_every_declared_schema_is_the_built_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulate_fleet(
        SimulationConfig(
            40, date(2025, 1, 1), 30, tmp_path / "data", seed=5, fault_rate=0.05, gps=True
        )
    )
    ingest_dataset(tmp_path / "data", tmp_path / "staging")
    declared: dict[str, Any] = {}
    built: dict[str, Any] = {}
    materialize, close = Engine.materialize, Engine.close

    def recording_materialize(self: Engine, expr: ir.Table, name: str) -> ir.Table:
        table = materialize(self, expr, name)
        declared[table.get_name()] = table.schema()
        return table

    def checking_close(self: Engine) -> None:
        self.settle()
        for table_name in declared:
            built[table_name] = self.con.get_schema(table_name)
        close(self)

    monkeypatch.setattr(Engine, "materialize", recording_materialize)
    monkeypatch.setattr(Engine, "close", checking_close)
    run_pipeline(tmp_path / "staging", PARAMS, 2025)
    assert len(declared) > 15
    mismatched = {
        (table, column, str(dtype), str(built[table].get(column)))
        for table, schema in declared.items()
        for column, dtype in schema.items()
        if built[table].get(column) != dtype
    }
    assert not mismatched
    assert all(list(declared[table]) == list(built[table]) for table in declared)


def test_a_table_that_fails_to_build_fails_the_next_read(tmp_path: Path) -> None:
    pq.write_table(pa.table({"text": ["not a number"]}), tmp_path / "text.parquet")
    engine = Engine("duckdb")
    try:
        bad = engine.read(tmp_path / "text.parquet")
        table = engine.materialize(bad.select(number=bad.text.cast("int64")), "broken")
        with pytest.raises(Exception, match="not a number"):
            engine.to_arrow(table)
    finally:
        engine.close()


def test_each_table_is_built_after_the_tables_it_reads(tmp_path: Path) -> None:
    pq.write_table(pa.table({"n": list(range(1000))}), tmp_path / "n.parquet")
    engine = Engine("duckdb")
    try:
        first = engine.materialize(engine.read(tmp_path / "n.parquet"), "first")
        second = engine.materialize(first.mutate(m=first.n * 2), "second")
        third = engine.materialize(second.aggregate(total=second.m.sum()), "third")
        assert engine.to_arrow(third).to_pylist() == [{"total": 999_000}]
    finally:
        engine.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_cycle_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    """The collector is paused during a run (it walks every object of the process at
    each full pass) and left as it was afterwards, on success or failure."""
    simulate_fleet(SimulationConfig(5, date(2025, 1, 1), 10, tmp_path / "data", seed=2))
    ingest_dataset(tmp_path / "data", tmp_path / "staging")
    seen: list[bool] = []
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        run_pipeline(
            tmp_path / "staging", PARAMS, 2025, on_step=lambda _: seen.append(gc.isenabled())
        )
        assert gc.isenabled() is enabled
        with pytest.raises(duckdb.IOException):
            run_pipeline(tmp_path / "missing", PARAMS, 2025)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert seen and not any(seen)

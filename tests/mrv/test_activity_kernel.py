"""The activity kernel gives the rows of the Ibis rules for swaps and charges on DuckDB:
the same evidence per vehicle-day, station activity and quarantine, whether or
not the records are stored in key order, with repeated keys and unknown ids."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from staged_data import rewrite_staged, shuffled_copy, with_copied_keys

from article6.mrv import activity_numba as a
from article6.mrv.activity_duckdb import activity_reference, load_activity
from article6.mrv.activity_io import repeated_in_file
from article6.mrv.activity_kernel import run_activity_kernel
from article6.mrv.distance import activity_evidence
from article6.mrv.energy import station_activity
from article6.mrv.engine import Engine
from article6.mrv.ingest import ingest_dataset, staging_writer
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import day_index
from article6.mrv.quality import apply_identity_rules
from article6.mrv.schema import SCHEMAS
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
ACTIVITY = ("swap_events", "charge_sessions")
FIRST, END = day_index(date(2025, 1, 1)), day_index(date(2026, 1, 1))
Rows = dict[str, list[tuple[Any, ...]]]


def _faulty(table: pa.Table, unknown_vehicles: bool) -> pa.Table:
    """Copies of some rows' keys stored right after them (later source rows), some
    unknown stations and, for charges, vehicles outside the project or none."""
    rows = with_copied_keys(table, 7, table.num_rows // 9)
    stations = np.array(rows.column("station_id").to_pylist(), object)
    stations[3::41] = "ST-NOT-LISTED"
    rows = rows.set_column(rows.schema.get_field_index("station_id"), "station_id", [stations])
    if unknown_vehicles:
        vehicles = np.array(rows.column("vehicle_id").to_pylist(), object)
        vehicles[5::37] = "V-OUTSIDE"
        vehicles[11::53] = None
        column = pa.array(vehicles.tolist(), pa.string())
        rows = rows.set_column(rows.schema.get_field_index("vehicle_id"), "vehicle_id", column)
    return rows


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A faulty simulated fleet across the turn of the vintage, made worse as above."""
    root = tmp_path_factory.mktemp("activity")
    simulate_fleet(
        SimulationConfig(50, date(2024, 12, 10), 40, root / "data", seed=9, fault_rate=0.3)
    )
    ingest_dataset(root / "data", root / "stage")
    stage = root / "stage"
    rewrite_staged(stage / "swap_events.parquet", lambda t: _faulty(t, unknown_vehicles=False))
    rewrite_staged(stage / "charge_sessions.parquet", lambda t: _faulty(t, unknown_vehicles=True))
    return stage


def _run(stage: Path, kernel: bool) -> Rows:
    engine = Engine("duckdb")
    try:
        names = [n for n in SCHEMAS if not (kernel and n in ACTIVITY)]
        raw = {name: engine.read(stage / f"{name}.parquet") for name in names}
        tables, dedup = apply_identity_rules(raw, PARAMS)
        all_vehicles, all_stations = dedup["vehicles"].vehicle_id, dedup["stations"].station_id
        if kernel:
            reference = activity_reference(engine, tables, all_vehicles, all_stations)
            result = run_activity_kernel(stage, reference, FIRST, END)
            activity, rejected = load_activity(engine, result)
            # The kernel leaves an event per row; the daily kernel sums them.
            events = engine.load_arrow(result.evidence, "evidence")
            evidence = events.group_by(["vehicle_id", "day"]).aggregate(
                energy_kwh=events.energy_kwh.sum()
            )
        else:
            evidence = activity_evidence(tables, FIRST, END)
            activity = station_activity(tables, all_vehicles, FIRST, END)
            rejected = tables.rejected.filter(tables.rejected.record_type.isin(ACTIVITY))
        parts = {
            "evidence": evidence,
            "served": activity.served,
            "non_project": activity.non_project,
            "by_mode": activity.by_mode,
            "rejected": rejected,
        }
        return {
            name: sorted(tuple(row.values()) for row in engine.to_arrow(table).to_pylist())
            for name, table in parts.items()
        }
    finally:
        engine.close()


def _same(got: Rows, expected: Rows) -> bool:
    """Equal rows, floats equal but for the last bits (sums in another order)."""

    def close(x: Any, y: Any) -> bool:
        if isinstance(x, float) and isinstance(y, float):
            return math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-12)
        return bool(x == y)

    return got.keys() == expected.keys() and all(
        len(got[k]) == len(expected[k])
        and all(
            all(close(x, y) for x, y in zip(g, e, strict=True))
            for g, e in zip(got[k], expected[k], strict=True)
        )
        for k in got
    )


@pytest.mark.parametrize("shuffle", [False, True])
def test_kernel_matches_the_ibis_rules(staged: Path, tmp_path: Path, shuffle: bool) -> None:
    stage = shuffled_copy(staged, tmp_path / "shuffled", ACTIVITY, seed=3) if shuffle else staged
    expected = _run(stage, kernel=False)
    reasons = {(row[0], row[4]) for row in expected["rejected"]}
    for record in ACTIVITY:
        assert {(record, "duplicate_key"), (record, "unknown_station")} <= reasons
    assert ("swap_events", "unknown_vehicle") in reasons
    assert ("swap_events", "station_excluded") in reasons
    assert expected["non_project"] and expected["by_mode"] and len(expected["evidence"]) > 300
    assert all(FIRST <= day < END for _, day, _ in expected["evidence"])
    assert _same(_run(stage, kernel=True), expected)


def test_the_comparison_notices_changed_energy(staged: Path, tmp_path: Path) -> None:
    """The equality above can fail: more energy in some swaps changes the kernel's rows."""
    before = _run(staged, kernel=True)
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in staged.glob("*.parquet"):
        (changed / path.name).symlink_to(path)
    (changed / "swap_events.parquet").unlink()
    table = pq.read_table(staged / "swap_events.parquet")
    soc = table.column("soc_in_pct").to_numpy().copy()
    soc[::50] = np.minimum(soc[::50] + 1.0, 100.0)
    with staging_writer(changed / "swap_events.parquet", table.schema) as writer:
        index = table.schema.get_field_index("soc_in_pct")
        writer.write_table(table.set_column(index, "soc_in_pct", [soc]))
    assert not _same(_run(changed, kernel=True), before)


def _flags(keys: list[str]) -> list[bool]:
    array = pa.array(keys, pa.string())
    _, offsets, data = array.buffers()
    starts = np.frombuffer(offsets, np.int32)[: len(keys) + 1].astype(np.int64)
    values = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    flags = np.zeros(len(keys), np.bool_)
    a.not_above_running_max(starts, values, 0, flags)
    return flags.tolist()


@given(st.lists(st.text(alphabet="AB01é", max_size=4), max_size=40))
def test_every_repeated_key_is_flagged(keys: list[str]) -> None:
    flags = _flags(keys)
    seen: set[str] = set()
    for key, flag in zip(keys, flags, strict=True):
        if key in seen:
            assert flag
        seen.add(key)


@given(st.sets(st.text(alphabet="AB01é", max_size=5), max_size=40))
def test_keys_in_increasing_order_flag_nothing(keys: set[str]) -> None:
    ordered = sorted(keys, key=lambda k: k.encode())
    assert not any(_flags(ordered))


def test_the_highest_key_carries_over_batches() -> None:
    first = pa.array(["K05", "K09"], pa.string())
    second = pa.array(["K07", "K10"], pa.string())
    highest = np.zeros(0, np.uint8)
    flags = []
    for batch in (first, second):
        _, offsets, data = batch.buffers()
        starts = np.frombuffer(offsets, np.int32)[: len(batch) + 1].astype(np.int64)
        values = np.concatenate([highest, np.frombuffer(data, np.uint8)])
        out = np.zeros(len(batch), np.bool_)
        start, end = a.not_above_running_max(
            starts + highest.shape[0], values, highest.shape[0], out
        )
        highest = values[start:end].copy()
        flags.extend(out.tolist())
    assert flags == [False, False, True, False]
    assert bytes(highest) == b"K10"


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (["K1", "K5", "K6", "K7"], None),
        (["K1", "K5", "K3", "K6"], ["K3"]),
        (["K1", "K5", "K5", "K6"], ["K5"]),
        (["K5", "K1", "K6", "K7"], ["K1"]),
    ],
)
def test_keys_in_increasing_row_groups_are_passed_over_whole(
    tmp_path: Path, keys: list[str], expected: list[str] | None
) -> None:
    """Row groups of rising keys skip the compiled loop; the highest key still carries
    from one group to the next, so a key below it in a later group is flagged."""
    path = tmp_path / "keys.parquet"
    pq.write_table(pa.table({"event_id": keys}), path, row_group_size=2)
    found = repeated_in_file(path, "event_id")
    assert (None if found is None else sorted(found.to_pylist())) == expected

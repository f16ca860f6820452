"""The streaming GPS kernel gives the rows of the Ibis ``gps_daily`` on DuckDB.

A small fleet breaks every GPS rule: repeated keys (in one file and across
files), pings of an unassigned device and of a device before its assignment,
pings outside Cambodia, jumps, implausible speeds, a device swapped mid-day
(one vehicle, two devices) and a device moved to another vehicle; tracks run
across local midnight, some instants on the half second. The pings are
stored in time order per device, in several files, or shuffled, and read in
batches of a few rows (state across batch boundaries) or all at once.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mrv_builder import DatasetBuilder, utc

from article6.mrv.distance import gps_daily
from article6.mrv.engine import Engine
from article6.mrv.gps_duckdb import kernel_gps_daily
from article6.mrv.gps_io import stored_batches
from article6.mrv.gps_kernel import run_gps_kernel
from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.quality import apply_identity_rules, union_all
from article6.mrv.schema import SCHEMAS

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
SWAP = utc("2025-01-03", 11, 30)
Ping = dict[str, Any]


def _fleet() -> DatasetBuilder:
    b = DatasetBuilder()
    b.vehicle("V1", with_device=False).vehicle("V2", with_device=False)
    b.vehicle("V3", top_speed_kmh=45.0).vehicle("V4")
    for device, vehicle, start, end in (
        ("D-A", "V1", utc("2025-01-02", 0), SWAP),
        ("D-B", "V1", SWAP, None),
        ("D-C", "V2", utc("2025-01-02", 0), utc("2025-01-03", 6)),
        ("D-C", "V2", utc("2025-01-03", 8), None),
    ):
        b.rows["device_assignments"].append(
            {
                "device_id": device,
                "vehicle_id": vehicle,
                "valid_from": start,
                "valid_to": end,
                "odometer_offset_km": 0.0,
            }
        )
    return b


def _track(device: str, start: datetime, count: int, seed: int) -> list[Ping]:
    """A random walk at about 30 km/h with a fault now and then."""
    rng = random.Random(seed)
    lat, lon = 11.5 + rng.random() * 0.2, 104.9 + rng.random() * 0.2
    ts = start
    rows: list[Ping] = []
    for index in range(count):
        gap = rng.choice([30.0, 30.0, 45.0, 60.0, 0.5, 29.5])
        ts = ts + timedelta(seconds=gap)
        lat += rng.uniform(-0.002, 0.002)
        lon += rng.uniform(-0.002, 0.002)
        y, x = lat, lon
        fault = rng.random()
        if fault < 0.04:
            y = lat + 0.1  # a jump of 11 km
        elif fault < 0.07:
            y = 20.0 + rng.random()  # outside Cambodia
        elif fault < 0.10:
            lat += 0.027  # a 3 km hop: too fast for a short gap
            y = lat
        rows.append({"device_id": device, "ts": ts, "lat": y, "lon": x, "n": index})
    return rows


def _pings() -> list[Ping]:
    # Tracks cross local midnight (17:00 UTC); V1 changes device at SWAP,
    # D-C is unassigned for two hours, D-X never is.
    late = utc("2025-01-02", 22, 30)
    rows = (
        _track("D-A", late, 900, 1)
        + _track("D-B", SWAP - timedelta(minutes=30), 300, 2)
        + _track("D-C", late - timedelta(hours=1), 700, 3)
        + _track("D-V3", late, 400, 4)
        + _track("D-V4", utc("2025-01-03", 23, 59, 40), 200, 5)
        + _track("D-X", late, 50, 6)
    )
    # Midnight on the half second: the local day of a rounded epoch second.
    midnight = datetime(2025, 1, 3, 16, 59, 59, 500000, tzinfo=UTC)
    rows.append({"device_id": "D-V4", "ts": midnight, "lat": 11.6, "lon": 105.0, "n": -1})
    rng = random.Random(7)
    copies = [dict(r, lat=r["lat"] + 0.01) for r in rng.sample(rows, 40)]
    return rows + copies


def _write(rows: list[Ping], folder: Path, files: int, shuffle: bool) -> None:
    """Pings in `files` files, in time order per device (by ts) or shuffled."""
    folder.mkdir(parents=True)
    ordered = sorted(rows, key=lambda r: (r["device_id"], r["ts"]))
    if shuffle:
        random.Random(11).shuffle(ordered)
    for index in range(files):
        part = ordered[index::files] if shuffle else ordered
        if not shuffle:
            # Consecutive time ranges: each file continues the previous one.
            cut = sorted({r["ts"] for r in ordered})
            lo, hi = cut[len(cut) * index // files], cut[len(cut) * (index + 1) // files - 1]
            part = [r for r in ordered if lo <= r["ts"] <= hi]
        columns = {
            "device_id": pa.array([r["device_id"] for r in part], pa.string()),
            "ts": pa.array([r["ts"].replace(tzinfo=None) for r in part], pa.timestamp("us")),
            "lat": pa.array([r["lat"] for r in part], pa.float64()),
            "lon": pa.array([r["lon"] for r in part], pa.float64()),
            "speed_kmh": pa.array([30.0] * len(part), pa.float64()),
            "soc_pct": pa.array([50.0] * len(part), pa.float64()),
        }
        pq.write_table(pa.table(columns), folder / f"part-{index}.parquet")


def _stage(tmp: Path, files: int, shuffle: bool) -> Path:
    data = _fleet().write(tmp / "data", "parquet")
    _write(_pings(), data / "gps_pings", files, shuffle)
    ingest_dataset(data, tmp / "stage")
    return tmp / "stage"


Rows = tuple[dict[tuple[str, int], float], list[tuple[Any, ...]], list[tuple[Any, ...]]]


def _collect(engine: Engine, daily: Any, days: Any, rejected: list[Any]) -> Rows:
    km = {(r["vehicle_id"], r["day"]): r["gps_km"] for r in engine.to_arrow(daily).to_pylist()}
    day_rows = sorted(tuple(r.values()) for r in engine.to_arrow(days.distinct()).to_pylist())
    bad = sorted(tuple(r.values()) for r in engine.to_arrow(union_all(rejected)).to_pylist())
    return km, day_rows, bad


def _reference(stage: Path) -> Rows:
    engine = Engine("duckdb")
    try:
        raw = {name: engine.read(stage / f"{name}.parquet") for name in SCHEMAS}
        tables, dedup = apply_identity_rules(raw, PARAMS)
        daily, days, rejected = gps_daily(dedup["gps_pings"], tables, PARAMS)
        copies = tables.rejected.filter(tables.rejected.record_type == "gps_pings")
        return _collect(engine, daily, days, [*rejected, copies])
    finally:
        engine.close()


def _kernel(stage: Path, work: Path, batch_rows: int) -> Rows:
    engine = Engine("duckdb")
    try:
        raw = {name: engine.read(stage / f"{name}.parquet") for name in SCHEMAS}
        del raw["gps_pings"]
        tables, _ = apply_identity_rules(raw, PARAMS)
        pings = stage / "gps_pings.parquet"
        daily, days, rejected = kernel_gps_daily(engine, pings, tables, PARAMS, work, batch_rows)
        return _collect(engine, daily, days, rejected)
    finally:
        engine.close()


@pytest.mark.parametrize(
    ("files", "shuffle", "batch_rows", "resorted"),
    [(1, False, 7, False), (3, False, 64, False), (1, False, 1 << 20, False), (2, True, 5, True)],
)
def test_kernel_matches_ibis_gps_daily(
    tmp_path: Path, files: int, shuffle: bool, batch_rows: int, resorted: bool
) -> None:
    stage = _stage(tmp_path, files, shuffle)
    expected_km, expected_days, expected_bad = _reference(stage)
    km, days, bad = _kernel(stage, tmp_path / "kernel", batch_rows)
    reasons = {row[4] for row in expected_bad}
    assert reasons == {
        "duplicate_key",
        "unassigned_device",
        "outside_boundary",
        "gps_jump",
        "implausible_speed",
    }
    assert len(expected_bad) > 100
    assert bad == expected_bad
    assert days == expected_days
    assert km.keys() == expected_km.keys()
    # Same segments in the same order; only the engine's summation order may
    # differ (parallel partial sums), so the last bits are allowed to differ.
    for key, value in expected_km.items():
        assert math.isclose(km[key], value, rel_tol=1e-12, abs_tol=1e-12), key
    assert sum(expected_km.values()) > 50
    assignments = pq.read_table(stage / "device_assignments.parquet")
    vehicles = pq.read_table(stage / "vehicles.parquet")
    files_out = run_gps_kernel(
        stage / "gps_pings.parquet", assignments, vehicles, PARAMS, tmp_path / "flags", batch_rows
    )
    assert files_out.resorted is resorted
    assert files_out.diverted_rows > 0  # V1's pings from two devices


def test_kernel_notices_a_changed_row(tmp_path: Path) -> None:
    """The comparison can fail: moving one ping changes the kernel's results."""
    stage = _stage(tmp_path, 1, False)
    before = _kernel(stage, tmp_path / "k1", 1 << 20)
    table = pq.read_table(stage / "gps_pings.parquet")
    lat = table.column("lat").to_pylist()
    lat[100] = lat[100] + 0.05
    table = table.set_column(table.schema.get_field_index("lat"), "lat", pa.array(lat))
    pq.write_table(table, stage / "gps_pings.parquet")
    after = _kernel(stage, tmp_path / "k2", 1 << 20)
    assert after[0] != before[0] or after[2] != before[2]


def _row_key(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(value) for value in row.values())


@pytest.mark.parametrize("threads", [2, 3])
def test_vehicle_rules_split_over_threads_give_the_same_rows(tmp_path: Path, threads: int) -> None:
    stage = _stage(tmp_path, 2, False)
    assignments = pq.read_table(stage / "device_assignments.parquet")
    vehicles = pq.read_table(stage / "vehicles.parquet")

    def rows(work: Path, count: int) -> tuple[list[Any], list[Any]]:
        files = run_gps_kernel(
            stage / "gps_pings.parquet", assignments, vehicles, PARAMS, work, 64, threads=count
        )
        daily = pa.ipc.open_file(files.daily).read_all().to_pylist()
        rejected = pa.ipc.open_file(files.rejected).read_all().to_pylist()
        return sorted(daily, key=_row_key), sorted(rejected, key=_row_key)

    single = rows(tmp_path / "one", 1)
    assert single[0] and single[1]
    assert rows(tmp_path / "many", threads) == single


def test_stored_batches_give_the_file_as_written(tmp_path: Path) -> None:
    """Row groups of one source file have that column made from their statistics, the
    others decoded; either way the batches hold exactly the stored rows."""
    files = ["a.csv"] * 6 + ["a.csv", "b.csv", "a.csv"] + ["c.csv"] * 3
    table = pa.table(
        {
            "device_id": [f"D{i % 4}" for i in range(len(files))],
            "ts": pa.array([datetime(2025, 1, 1) + timedelta(minutes=i) for i in range(12)]),
            "lat": [11.0 + i / 100 for i in range(12)],
            "lon": [105.0] * 12,
            "_source_file": files,
            "_source_row": list(range(12)),
        }
    )
    path = tmp_path / "pings.parquet"
    pq.write_table(table, path, row_group_size=3)
    batches = list(stored_batches(path, batch_rows=2))
    assert sum(batch.num_rows for batch in batches) == 12
    read = pa.Table.from_batches(batches).select(table.column_names)
    assert read.column("_source_file").type == pa.dictionary(pa.int32(), pa.string())
    for name in table.column_names:
        assert read.column(name).cast(table.schema.field(name).type).equals(table.column(name))


WARM_UP_CHECK = """
import sys, tempfile
from datetime import date
from pathlib import Path
from article6.mrv import activity_numba as a, daily_numba as d, gps_numba as k, odometer_numba as o
from article6.mrv import meter_kernel as m
from article6.mrv.ingest import ingest_dataset
from article6.mrv.kernel_warm_up import warm_up
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import run_pipeline
from article6.mrv.simulator import SimulationConfig, simulate_fleet
passes = (k.device_rows, k.vehicle_rows, k.flush, o.vehicle_rows, o.flush,
          a.not_above_running_max, a.swap_rows, a.charge_rows, d.vehicle_days, m.meter_walk)
params = load_parameter_set(Path(r"{params}"))
before = [len(f.signatures) for f in passes]
warm_up(params)
warm = [len(f.signatures) for f in passes]
with tempfile.TemporaryDirectory() as scratch:
    data, staging = Path(scratch) / "data", Path(scratch) / "staging"
    config = SimulationConfig(12, date(2025, 12, 1), 40, data, gps=True, seed=3, fault_rate=0.2)
    simulate_fleet(config)
    ingest_dataset(data, staging)
    run_pipeline(staging, params, 2025)
print(before, warm, [len(f.signatures) for f in passes], sep="\\n")
"""


def test_warm_up_loads_every_compiled_pass() -> None:
    """In a fresh interpreter no pass is loaded; after the warm-up every one is, with
    the very types a run gives it: the run itself compiles nothing more (a pass met
    with other types would be compiled again, for a second or more)."""
    script = WARM_UP_CHECK.format(params=ROOT / "params" / "khm-emoto-v1.toml")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    before, warm, after_run = out.stdout.strip().splitlines()
    assert before == str([0] * 10)
    assert "0" not in warm.strip("[]").split(", ")
    assert after_run == warm

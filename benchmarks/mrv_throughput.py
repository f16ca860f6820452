"""MRV throughput: the core pipeline against baselines measured in the same run.

(a) Daily path: validation and calculation of one simulated vintage through
    the pipeline on DuckDB, against a straightforward pandas implementation
    of the same calculation (``pandas_reference``: every quality rule, the
    distance, energy, sampling and E1-E10; its figures must equal the
    pipeline's, ``figures_agree``). Target >= 10x.
(b) GPS path: daily distance from pings through the pipeline's GPS step
    (on DuckDB the streaming kernel, ``gps_kernel``; the engine and identity
    rules before it are timed apart as ``pipeline_setup_s``), against pandas
    (>= 10x), plain DuckDB SQL with LAG() OVER (PARTITION BY device ORDER BY
    ts) (>= 3x), and the time DuckDB needs just to scan the same Parquet
    columns (pipeline within 4x of it): the six the step reads, the source
    file and row of each ping (which its quarantine names) among them.

(c) Scale (with ``--scale-vehicles N``, e.g. 200000): simulation, ingestion
    and the pipeline of a year of a large fleet, each step in a process of its
    own so its peak memory (RSS) is measured alone; the pipeline must stay well
    under 8 GB (DuckDB spills to disk beyond ``ARTICLE6_MRV_MEMORY_LIMIT``).

Both data sets come from the fleet simulator. Every timed run, of the
pipeline and of each baseline alike, happens in a fresh process (so no run
inherits another's memory, caches or loaded code) and is repeated
(``--repeats``, 3 by default); the median is reported, each run's time too,
and the CPU seconds of every thread of the run's process beside it (a wall
time near CPU / cores shows a step that keeps every core busy).
The last line printed is one JSON object holding every figure, baseline and
ratio.

    python benchmarks/mrv_throughput.py [--vehicles N] [--pings M] [--quick] [--repeats R]
                                        [--only daily|gps|scale] [--scale-vehicles N]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from article6.mrv.engine import Engine
from article6.mrv.gps_duckdb import kernel_gps_daily
from article6.mrv.gps_io import COLUMNS as GPS_COLUMNS
from article6.mrv.ingest import ingest_dataset
from article6.mrv.kernel_warm_up import warm_kernels_in_background
from article6.mrv.params import ParameterSet, load_parameter_set
from article6.mrv.pipeline import run_pipeline
from article6.mrv.quality import QualityTables, apply_identity_rules
from article6.mrv.runs import summarise
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW
from article6.mrv.simulator import SimulationConfig, simulate_fleet
from pandas_reference import pandas_vintage

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "plans" / "khm-emoto-exante-params.toml"
YEAR = 2025
LOCAL_OFFSET = pd.Timedelta(hours=7)
PINGS_PER_VEHICLE_DAY = 150  # at 30 s, the simulated average, used to size the GPS fleet


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of the whole process (every thread), result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - started, time.process_time() - cpu, result


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- (a) daily path ---------------------------------------------------------------------


def daily_path(work: Path, vehicles: int, days: int, seed: int, repeats: int) -> dict[str, Any]:
    data = work / "daily-data"
    simulate_seconds, _, _ = timed(
        lambda: simulate_fleet(
            SimulationConfig(vehicles, date(YEAR, 1, 1), days, data, seed=seed, fault_rate=0.01)
        )
    )
    staging = work / "daily-staging"
    ingest_seconds, _, _ = timed(lambda: ingest_dataset(data, staging))
    pipeline_runs, pipeline = repeated(repeats, "daily_pipeline", staging)
    pandas_runs, pandas = repeated(repeats, "daily_pandas", staging)
    pipeline_seconds, pandas_seconds = (
        statistics.median(pipeline_runs),
        statistics.median(pandas_runs),
    )
    readings = pq.read_metadata(staging / "odometer_readings.parquet").num_rows
    return {
        "vehicles": vehicles,
        "days": days,
        "odometer_readings": readings,
        "simulate_s": simulate_seconds,
        "ingest_s": ingest_seconds,
        "pipeline_s": pipeline_seconds,
        "pandas_s": pandas_seconds,
        "pipeline_runs_s": pipeline_runs,
        "pandas_runs_s": pandas_runs,
        "pipeline_cpu_s": statistics.median(CPU_S["daily_pipeline"]),
        "pandas_cpu_s": statistics.median(CPU_S["daily_pandas"]),
        "pipeline_peak_rss_mib": PEAKS_MIB["daily_pipeline"],
        "pandas_peak_rss_mib": PEAKS_MIB["daily_pandas"],
        "pipeline_vehicles_out": pipeline["vehicles_out"],
        "pipeline_er_t": pipeline["figures"]["er_raw_t"],
        "pandas_er_t": pandas["er_raw_t"],
        "figures_agree": figures_agree(pipeline["figures"], pandas),
        "speedup_vs_pandas": pandas_seconds / pipeline_seconds,
        "target_speedup_vs_pandas": 10.0,
    }


def daily_pipeline(staging: Path) -> dict[str, Any]:
    params = load_parameter_set(PARAMS)
    result = run_pipeline(staging, params, YEAR)
    return {
        "figures": asdict(summarise(result, params)[0]),
        "vehicles_out": result.vehicles.num_rows,
    }


def daily_pandas(staging: Path) -> dict[str, Any]:
    return pandas_vintage(staging, load_parameter_set(PARAMS), YEAR)


def figures_agree(pipeline: dict[str, Any], pandas: dict[str, Any]) -> bool:
    """Whether every vintage figure of the two agrees (to 1e-9 relative)."""
    return all(
        math.isclose(float(value), float(pandas[key]), rel_tol=1e-9, abs_tol=1e-9)
        for key, value in pipeline.items()
        if isinstance(value, int | float)
    )


# -- (b) GPS path -------------------------------------------------------------------------

HAVERSINE_SQL = """
2 * 6371.0088 * asin(sqrt(
  pow(sin(radians(lat - plat) / 2), 2)
  + cos(radians(plat)) * cos(radians(lat)) * pow(sin(radians(lon - plon) / 2), 2)))
"""


def pipeline_gps(staging: Path) -> tuple[float, float]:
    """The pipeline's GPS step as a DuckDB run does it; returns its wall and CPU seconds.

    Setup (outside the measure, as in the pipeline's earlier "identity" step):
    the engine and the identity rules, materialised, while a thread loads the
    kernels' compiled code, as a pipeline run does during those rules. The
    step: fetching the accepted assignments and vehicles, the streaming
    kernel over the staged pings (every rule), registering its results and
    collecting the daily km.
    """
    params = load_parameter_set(PARAMS)
    with tempfile.TemporaryDirectory(prefix="mrv-gps-") as scratch:
        engine, tables = _identity(staging, params, Path(scratch))
        try:
            pings = staging / "gps_pings.parquet"

            def step() -> int:
                daily, _, _ = kernel_gps_daily(engine, pings, tables, params, Path(scratch) / "gps")
                return int(engine.to_arrow(daily).num_rows)

            step_s, cpu_s, _ = timed(step)
        finally:
            engine.close()
    return step_s, cpu_s


def _identity(staging: Path, params: ParameterSet, scratch: Path) -> tuple[Engine, QualityTables]:
    warming = warm_kernels_in_background(params, pings=staging / "gps_pings.parquet")
    engine = Engine("duckdb", spill_dir=scratch)
    raw = {
        name: engine.read(staging / f"{name}.parquet") for name in SCHEMAS if name != "gps_pings"
    }
    tables, _ = apply_identity_rules(raw, params, engine.materialize)
    engine.settle()
    warming.thread.join()
    return engine, tables


def sql_gps(pings: Path) -> int:
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")
        con.execute("SET TimeZone = 'UTC'")
        rows = con.sql(
            f"""
            WITH p AS (
              SELECT device_id, ts, lat, lon,
                     lag(lat) OVER w AS plat, lag(lon) OVER w AS plon, lag(ts) OVER w AS pts
              FROM read_parquet('{pings}')
              WINDOW w AS (PARTITION BY device_id ORDER BY ts)
            )
            SELECT device_id, CAST(ts + INTERVAL 7 HOUR AS DATE) AS day,
                   sum(CASE WHEN CAST(pts + INTERVAL 7 HOUR AS DATE)
                                 = CAST(ts + INTERVAL 7 HOUR AS DATE)
                            THEN {HAVERSINE_SQL} ELSE 0 END) AS km
            FROM p GROUP BY ALL
            """
        ).to_arrow_table()
        return int(rows.num_rows)
    finally:
        con.close()


# How the scan folds each column the GPS step reads (``gps_io.COLUMNS``).
SCAN_AGGREGATES = {
    "device_id": "count",
    "ts": "max",
    "lat": "sum",
    "lon": "sum",
    SOURCE_FILE: "count",
    SOURCE_ROW: "sum",
}


def scan_gps(pings: Path) -> int:
    """Every value of the columns the GPS step reads, each folded into an aggregate."""
    folds = ", ".join(f'{SCAN_AGGREGATES[column]}("{column}")' for column in GPS_COLUMNS)
    con = duckdb.connect()
    try:
        row = con.execute(f"SELECT {folds} FROM read_parquet('{pings}')").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


def pandas_gps(pings: Path) -> int:
    frame = pd.read_parquet(pings, columns=["device_id", "ts", "lat", "lon"])
    frame = frame.sort_values(["device_id", "ts"], kind="stable")
    frame["day"] = (frame.ts + LOCAL_OFFSET).dt.normalize()
    grouped = frame.groupby("device_id")
    plat, plon, pday = grouped.lat.shift(), grouped.lon.shift(), grouped.day.shift()
    lat, lon = np.radians(frame.lat.to_numpy()), np.radians(frame.lon.to_numpy())
    plat_r, plon_r = np.radians(plat.to_numpy()), np.radians(plon.to_numpy())
    step = (
        2
        * 6371.0088
        * np.arcsin(
            np.sqrt(
                np.sin((lat - plat_r) / 2) ** 2
                + np.cos(plat_r) * np.cos(lat) * np.sin((lon - plon_r) / 2) ** 2
            )
        )
    )
    frame["km"] = np.where((pday == frame.day).to_numpy(), step, 0.0)
    return int(frame.groupby(["device_id", "day"]).km.sum().shape[0])


def gps_path(work: Path, pings: int, seed: int, repeats: int) -> dict[str, Any]:
    days = 30
    vehicles = max(20, math.ceil(pings / (days * PINGS_PER_VEHICLE_DAY)))
    data = work / "gps-data"
    simulate_seconds, _, summary = timed(
        lambda: simulate_fleet(
            SimulationConfig(vehicles, date(YEAR, 3, 1), days, data, seed=seed, gps=True)
        )
    )
    staging = work / "gps-staging"
    ingest_seconds, _, _ = timed(lambda: ingest_dataset(data, staging))
    staged_pings = staging / "gps_pings.parquet"
    runs = {
        name: repeated(repeats, name, staging if name == "gps_pipeline" else staged_pings)[0]
        for name in ("gps_pipeline", "gps_sql", "gps_scan", "gps_pandas")
    }
    median = {name: statistics.median(values) for name, values in runs.items()}
    pipeline_seconds = median["gps_pipeline"]
    return {
        "vehicles": vehicles,
        "days": days,
        "pings": summary.rows["gps_pings"],
        "simulate_s": simulate_seconds,
        "ingest_s": ingest_seconds,
        "pipeline_s": pipeline_seconds,
        "pandas_s": median["gps_pandas"],
        "duckdb_lag_sql_s": median["gps_sql"],
        "duckdb_scan_s": median["gps_scan"],
        "runs_s": runs,
        "cpu_s": {name: statistics.median(CPU_S[name]) for name in runs},
        "pipeline_peak_rss_mib": PEAKS_MIB["gps_pipeline"],
        "pandas_peak_rss_mib": PEAKS_MIB["gps_pandas"],
        "speedup_vs_pandas": median["gps_pandas"] / pipeline_seconds,
        "speedup_vs_duckdb_lag_sql": median["gps_sql"] / pipeline_seconds,
        "ratio_to_scan": pipeline_seconds / median["gps_scan"],
        "target_speedup_vs_pandas": 10.0,
        "target_speedup_vs_duckdb_lag_sql": 3.0,
        "target_max_ratio_to_scan": 4.0,
    }


# -- runs in processes of their own ----------------------------------------------------------


def timed_call(name: str, path: Path) -> tuple[float, float, Any]:
    """One timed run of a measured step: wall and CPU seconds, result (the GPS
    pipeline times its step alone)."""
    if name == "gps_pipeline":
        return (*pipeline_gps(path), None)
    step: Callable[[Path], Any] = {
        "daily_pipeline": daily_pipeline,
        "daily_pandas": daily_pandas,
        "gps_sql": sql_gps,
        "gps_scan": scan_gps,
        "gps_pandas": pandas_gps,
    }[name]
    return timed(lambda: step(path))


PEAKS_MIB: dict[str, float] = {}
"""The highest peak RSS of each measured step's processes."""
CPU_S: dict[str, list[float]] = {}
"""The CPU seconds (all threads) of each run of each measured step: beside the
wall time, they show how much work a step does and how many cores it keeps busy."""


def repeated(repeats: int, name: str, path: Path) -> tuple[list[float], Any]:
    """`repeats` runs of a step, each in a fresh process: (their seconds, the last result)."""
    seconds: list[float] = []
    result: Any = None
    for _ in range(repeats):
        took, cpu, peak, result = in_own_process("measure", name, path)
        seconds.append(took)
        CPU_S.setdefault(name, []).append(cpu)
        PEAKS_MIB[name] = max(PEAKS_MIB.get(name, 0.0), peak)
    return seconds, result


# -- (c) scale ---------------------------------------------------------------------------

MEMORY_CEILING_MIB = 8 * 1024


def _child(step: str, args: tuple[Any, ...], queue: Any) -> None:
    if step == "measure":
        seconds, cpu, result = timed_call(*args)
    else:
        seconds, cpu, result = timed(lambda: _scale_step(step, args))
    queue.put((seconds, cpu, peak_rss_mib(), result))


def _scale_step(step: str, args: tuple[Any, ...]) -> None:
    if step == "simulate":
        vehicles, out, seed = args
        simulate_fleet(SimulationConfig(vehicles, date(YEAR, 1, 1), 365, out, seed=seed))
    elif step == "ingest":
        ingest_dataset(*args)
    else:
        staging, params_path = args
        run_pipeline(staging, load_parameter_set(params_path), YEAR)


def in_own_process(step: str, *args: Any) -> tuple[float, float, float, Any]:
    """Run one step in a fresh process: (seconds, CPU seconds, peak RSS in MiB of that
    process, result)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(step, args, queue))
    process.start()
    seconds, cpu, peak, result = queue.get()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{step} failed with exit code {process.exitcode}")
    return float(seconds), float(cpu), float(peak), result


def scale_path(work: Path, vehicles: int, seed: int) -> dict[str, Any]:
    data, staging = work / "scale-data", work / "scale-staging"
    simulate_s, _, simulate_mib, _ = in_own_process("simulate", vehicles, data, seed)
    ingest_s, _, ingest_mib, _ = in_own_process("ingest", data, staging)
    pipeline_s, pipeline_cpu_s, pipeline_mib, _ = in_own_process("pipeline", staging, PARAMS)
    PEAKS_MIB.update(
        scale_simulate=simulate_mib, scale_ingest=ingest_mib, scale_pipeline=pipeline_mib
    )
    readings = int(pd.read_parquet(staging / "odometer_readings.parquet", columns=["ts"]).shape[0])
    return {
        "vehicles": vehicles,
        "days": 365,
        "odometer_readings": readings,
        "simulate_s": simulate_s,
        "simulate_peak_rss_mib": simulate_mib,
        "ingest_s": ingest_s,
        "ingest_peak_rss_mib": ingest_mib,
        "pipeline_s": pipeline_s,
        "pipeline_cpu_s": pipeline_cpu_s,
        "pipeline_peak_rss_mib": pipeline_mib,
        "ceiling_rss_mib": MEMORY_CEILING_MIB,
        "pipeline_rss_to_ceiling": pipeline_mib / MEMORY_CEILING_MIB,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=20_000, help="fleet of the daily path")
    parser.add_argument("--days", type=int, default=365, help="days of the daily path")
    parser.add_argument("--pings", type=int, default=20_000_000, help="GPS pings, about")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument(
        "--repeats", type=int, default=3, help="fresh-process runs of each timed step (median)"
    )
    parser.add_argument("--work", type=Path, default=None, help="folder for the data sets")
    parser.add_argument(
        "--only", choices=("daily", "gps", "scale"), default=None, help="run one path only"
    )
    parser.add_argument(
        "--scale-vehicles",
        type=int,
        default=0,
        help="also process a year of a fleet this large in bounded memory (e.g. 200000)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.vehicles, args.days, args.pings = 120, 40, 100_000
        args.scale_vehicles = args.scale_vehicles or 60
        args.repeats = 1
    with tempfile.TemporaryDirectory(prefix="mrv-bench-") as scratch:
        work = args.work or Path(scratch)
        figures: dict[str, Any] = {}
        if args.only in (None, "daily"):
            daily = daily_path(work, args.vehicles, args.days, args.seed, args.repeats)
            figures["daily"] = daily
            print(
                f"daily path: {daily['vehicles']:,} vehicles x {daily['days']} days, "
                f"{daily['odometer_readings']:,} readings: pipeline {daily['pipeline_s']:.2f} s, "
                f"pandas {daily['pandas_s']:.2f} s -> {daily['speedup_vs_pandas']:.1f}x "
                f"(target 10x); ingest {daily['ingest_s']:.2f} s; ER pipeline "
                f"{daily['pipeline_er_t']:.3f} t, pandas {daily['pandas_er_t']:.3f} t, "
                f"every figure agrees: {daily['figures_agree']}"
            )
        if args.only in (None, "gps"):
            gps = gps_path(work, args.pings, args.seed, args.repeats)
            figures["gps"] = gps
            print(
                f"GPS path: {gps['pings']:,} pings: pipeline {gps['pipeline_s']:.2f} s; "
                f"pandas {gps['pandas_s']:.2f} s -> {gps['speedup_vs_pandas']:.1f}x "
                f"(target 10x); DuckDB LAG SQL {gps['duckdb_lag_sql_s']:.2f} s -> "
                f"{gps['speedup_vs_duckdb_lag_sql']:.2f}x (target 3x); "
                f"scan {gps['duckdb_scan_s']:.2f} s -> "
                f"{gps['ratio_to_scan']:.1f}x of scan (target <= 4x)"
            )
        if args.only == "scale" or (args.only is None and args.scale_vehicles > 0):
            size = args.scale_vehicles or 200_000
            big = scale_path(work, size, args.seed)
            figures["scale"] = big
            print(
                f"scale: {big['vehicles']:,} vehicles x 365 days, "
                f"{big['odometer_readings']:,} readings: pipeline {big['pipeline_s']:.0f} s "
                f"({big['pipeline_cpu_s']:.0f} CPU-s), "
                f"peak {big['pipeline_peak_rss_mib']:,.0f} MiB (ceiling "
                f"{big['ceiling_rss_mib']:,} MiB); ingest {big['ingest_s']:.0f} s, "
                f"peak {big['ingest_peak_rss_mib']:,.0f} MiB"
            )
    peak = max([peak_rss_mib(), *PEAKS_MIB.values()])
    print(
        f"peak memory (RSS, any one process): {peak:,.0f} MiB; per measured step: "
        + ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in PEAKS_MIB.items())
    )
    if CPU_S:  # the repeated runs of the daily and GPS paths
        print(
            "CPU seconds, every thread (median): "
            + ", ".join(f"{name} {statistics.median(v):.2f} s" for name, v in CPU_S.items())
        )
    figures["peak_rss_mib"] = peak
    sys.stdout.write(json.dumps(figures) + "\n")
    return figures


if __name__ == "__main__":
    main()

"""Load the streaming kernels' compiled code while the engine works on earlier steps.

numba loads a cached function the first time it is called with a given
signature: the first brings up its runtime and LLVM (about half a second),
each further one some tens of milliseconds. A DuckDB run starts this in a
thread of its own before the identity rules, which keep the engine busy for
longer: each kernel is run once, whole, over a few made-up rows, so every
function it calls is loaded with the very signatures the real input gives.
"""

from __future__ import annotations

import tempfile
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from article6.mrv.activity_kernel import Reference, run_activity_kernel
from article6.mrv.daily_kernel import run_daily_kernel
from article6.mrv.gps_kernel import run_gps_kernel
from article6.mrv.meter_kernel import run_meter_kernel
from article6.mrv.odometer_kernel import run_odometer_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.schema import SCHEMAS, SOURCE_FILE, SOURCE_ROW

_START = datetime(2025, 1, 1)
_TIMESTAMP = pa.timestamp("us")
_FIRST_DAY = (_START.date() - date(1970, 1, 1)).days


@dataclass(frozen=True)
class WarmUp:
    """The warm-up thread, and an event set once the GPS and odometer kernels are loaded."""

    thread: threading.Thread
    telematics: threading.Event


def warm_kernels_in_background(
    params: ParameterSet, pings: Path | None = None, readings: Path | None = None
) -> WarmUp:
    """Start loading the kernels: the activity kernel, GPS and odometer if their
    input file (`pings`, `readings`) has rows, then the meter and daily kernels."""
    gps, odometer = has_rows(pings), has_rows(readings)
    telematics = threading.Event()
    thread = threading.Thread(
        target=warm_up,
        args=(params, gps, odometer, telematics),
        name="mrv-kernel-warm-up",
        daemon=True,
    )
    thread.start()
    return WarmUp(thread, telematics)


def warm_up(
    params: ParameterSet,
    gps: bool = True,
    odometer: bool = True,
    telematics: threading.Event | None = None,
) -> None:
    """Run the activity kernel over two swaps and two charges, the GPS and odometer
    kernels over three made-up rows of one device (then set `telematics`), the
    meter kernel over three readings and the daily kernel over a few days."""
    assignments = pa.table(
        {
            "device_id": ["D"],
            "vehicle_id": ["V"],
            "valid_from": pa.array([_START], _TIMESTAMP),
            "valid_to": pa.array([None], _TIMESTAMP),
            "odometer_offset_km": [0.0],
        }
    )
    vehicles = pa.table({"vehicle_id": ["V"], "top_speed_kmh": [60.0]})
    rows = {
        "device_id": ["D"] * 3,
        "ts": pa.array([_START + timedelta(minutes=m) for m in (60, 61, 62)], _TIMESTAMP),
    }
    where = {SOURCE_FILE: ["warm-up"] * 3, SOURCE_ROW: pa.array([1, 2, 3], pa.int64())}
    lat = (params.boundary_lat_min + params.boundary_lat_max) / 2
    lon = (params.boundary_lon_min + params.boundary_lon_max) / 2
    with tempfile.TemporaryDirectory(prefix="article6-mrv-warm-up-") as scratch:
        work = Path(scratch)
        # The activity kernel's first pass starts with the run; the others later.
        evidence = _warm_activity(work)
        if gps:
            path = work / "pings.parquet"
            pings = {**rows, "lat": [lat, lat + 0.001, lat + 0.002], "lon": [lon] * 3, **where}
            pq.write_table(pa.table(pings), path)
            run_gps_kernel(path, assignments, vehicles, params, work / "gps")
        if odometer:
            path = work / "readings.parquet"
            pq.write_table(pa.table({**rows, "odometer_km": [1.0, 1.5, 2.0], **where}), path)
            run_odometer_kernel(path, assignments, vehicles, params, work / "odometer")
        if telematics is not None:
            telematics.set()
        _warm_meters(params, work)
        _warm_daily(params, evidence)


def _warm_activity(work: Path) -> pa.Table:
    """Run the activity kernel over two swaps and two charges; its evidence."""
    ts = pa.array([_START, _START + timedelta(days=1)], _TIMESTAMP)
    where = {SOURCE_FILE: ["warm-up"] * 2, SOURCE_ROW: pa.array([1, 2], pa.int64())}
    # Keys out of order, so the rows of a repeated key are ranked too.
    swaps = {
        "event_id": ["E2", "E1"],
        "station_id": ["S", "S"],
        "vehicle_id": ["V", "V"],
        "battery_out_id": ["B", "B"],
        "battery_in_id": ["B", "B"],
        "ts": ts,
        "soc_out_pct": [20.0, 20.0],
        "soc_in_pct": [90.0, 90.0],
    }
    charges = {
        "session_id": ["C2", "C1"],
        "station_id": ["S", "S"],
        "vehicle_id": ["V", None],
        "ts_start": ts,
        "ts_end": ts,
        "energy_kwh": [1.0, 2.0],
    }
    for name, columns in (("swap_events", swaps), ("charge_sessions", charges)):
        schema = SCHEMAS[name].arrow_schema(with_source=True)
        pq.write_table(pa.table({**columns, **where}, schema=schema), work / f"{name}.parquet")
    reference = Reference(
        vehicles=["V"],
        modes=["swap"],
        known_vehicles=frozenset({"V"}),
        stations=["S"],
        known_stations=frozenset({"S"}),
        capacity_kwh={"B": 2.0},
    )
    first = _FIRST_DAY
    return run_activity_kernel(work, reference, first, first + 365).evidence


def _warm_meters(params: ParameterSet, work: Path) -> None:
    """Run the meter kernel over three readings of one meter, one of them a decrease."""
    path = work / "meter_readings.parquet"
    schema = SCHEMAS["meter_readings"].arrow_schema(with_source=True)
    readings = {
        "meter_id": ["M"] * 3,
        "ts": pa.array([_START + timedelta(hours=h) for h in (1, 2, 3)], _TIMESTAMP),
        "cumulative_kwh": [1.0, 0.5, 2.0],
        "interval_kwh": [None, 0.5, 1.5],
        SOURCE_FILE: ["warm-up"] * 3,
        SOURCE_ROW: pa.array([1, 2, 3], pa.int64()),
    }
    pq.write_table(pa.table(readings, schema=schema), path)
    meters = pa.table(
        {
            "meter_id": ["M"],
            "station_id": ["S"],
            "role": ["grid_import"],
            "accuracy_class_pct": [1.0],
        }
    )
    calibrations = pa.table(
        {
            "meter_id": ["M"],
            "date": pa.array([_START.date()], pa.date32()),
            "error_pct": [2.0],
            "passed": [False],
        }
    )
    first = _FIRST_DAY
    run_meter_kernel(path, meters, ["M"], calibrations, params, first, first + 365)


def _warm_daily(params: ParameterSet, evidence: pa.Table) -> None:
    first = _FIRST_DAY
    vehicles = pa.table(
        {
            "vehicle_id": ["V"],
            "max_daily_km": [200.0],
            "sec_max_kwh_per_km": [0.05],
            "er_day": pa.array([first], pa.int64()),
            "start_day": pa.array([first], pa.int64()),
            "stop_day": pa.array([None], pa.int64()),
        }
    )
    steps = pa.table(
        {
            "vehicle_id": pa.array(["V", "V"]).dictionary_encode(),
            "day": pa.array([first, first + 2], pa.int64()),
            "end_km": [1.0, 5.0],
            "gap": pa.array([None, 2], pa.int64()),
            "delta_km": pa.array([None, 4.0], pa.float64()),
        }
    )
    gps = pa.table({"vehicle_id": ["V"], "day": pa.array([first], pa.int64()), "gps_km": [1.0]})
    run_daily_kernel(vehicles, steps, gps, evidence, params, first, first + 365)


def has_rows(path: Path | None) -> bool:
    """Whether a staged file exists and holds any row (from its metadata alone)."""
    return path is not None and path.exists() and pq.ParquetFile(path).metadata.num_rows > 0

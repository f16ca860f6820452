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
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from article6.mrv.gps_kernel import run_gps_kernel
from article6.mrv.odometer_kernel import run_odometer_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.schema import SOURCE_FILE, SOURCE_ROW

_START = datetime(2025, 1, 1)
_TIMESTAMP = pa.timestamp("us")


def warm_kernels_in_background(
    params: ParameterSet, pings: Path | None = None, readings: Path | None = None
) -> threading.Thread | None:
    """Start loading the kernels whose input file (`pings`, `readings`) has rows."""
    gps, odometer = _has_rows(pings), _has_rows(readings)
    if not (gps or odometer):
        return None
    thread = threading.Thread(
        target=warm_up, args=(params, gps, odometer), name="mrv-kernel-warm-up", daemon=True
    )
    thread.start()
    return thread


def warm_up(params: ParameterSet, gps: bool = True, odometer: bool = True) -> None:
    """Run the GPS and odometer kernels over three made-up rows of one device."""
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
        if gps:
            path = work / "pings.parquet"
            pings = {**rows, "lat": [lat, lat + 0.001, lat + 0.002], "lon": [lon] * 3, **where}
            pq.write_table(pa.table(pings), path)
            run_gps_kernel(path, assignments, vehicles, params, work / "gps")
        if odometer:
            path = work / "readings.parquet"
            pq.write_table(pa.table({**rows, "odometer_km": [1.0, 1.5, 2.0], **where}), path)
            run_odometer_kernel(path, assignments, vehicles, params, work / "odometer")


def _has_rows(path: Path | None) -> bool:
    return path is not None and path.exists() and pq.ParquetFile(path).metadata.num_rows > 0

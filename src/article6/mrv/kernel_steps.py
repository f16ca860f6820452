"""The streaming kernels of a DuckDB run, started as soon as their inputs exist.

The GPS and odometer kernels (one after the other: each keeps two cores
busy) and the activity kernel run in threads of their own, beside the
engine, while the caller goes on compiling the later steps: the kernels
need only the small identity tables, fetched as Arrow before they start.
Their quarantines and results become engine tables when collected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa

from article6.mrv.activity_duckdb import activity_reference, load_activity
from article6.mrv.activity_kernel import run_activity_kernel
from article6.mrv.energy import StationActivity
from article6.mrv.engine import Engine
from article6.mrv.gps_duckdb import kernel_rejections
from article6.mrv.gps_kernel import GpsKernelFiles, run_gps_kernel
from article6.mrv.odometer_kernel import OdometerKernelFiles, run_odometer_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables


@dataclass(frozen=True)
class KernelResults:
    """``steps``: the odometer kernel's day steps, ``gps``: the GPS kernel's daily
    distances (Arrow files); ``evidence``: activity evidence (Arrow); the
    stations' activity; the three kernels' quarantines (engine tables)."""

    steps: Path
    gps: Path
    evidence: pa.Table
    activity: StationActivity
    rejected: list[ir.Table]


def start_kernels(
    runner: Engine,
    staging_dir: Path,
    tables: QualityTables,
    all_vehicle_ids: ir.Column,
    all_station_ids: ir.Column,
    params: ParameterSet,
    first_day: int,
    end_day: int,
    work_dir: Path,
    warming: threading.Thread,
) -> Callable[[], KernelResults]:
    """Start the kernels on the staged pings, readings, swaps and charges; the function
    returned waits for them and loads their results.

    The identity rules must have left those four record types out.
    """
    columns = ["device_id", "vehicle_id", "valid_from", "valid_to", "odometer_offset_km"]
    assignments = runner.to_arrow(tables.assignments.select(*columns))
    vehicles = runner.to_arrow(tables.vehicles.select("vehicle_id", "top_speed_kmh"))
    reference = activity_reference(runner, tables, all_vehicle_ids, all_station_ids)
    gps_con, odometer_con = runner.cursor(), runner.cursor()

    def telematics() -> tuple[GpsKernelFiles, OdometerKernelFiles]:
        warming.join()  # the compiled passes, loaded
        with gps_con:
            gps = run_gps_kernel(
                staging_dir / "gps_pings.parquet",
                assignments.drop_columns("odometer_offset_km"),
                vehicles,
                params,
                work_dir / "gps",
                con=gps_con,
            )
        with odometer_con:
            odometer = run_odometer_kernel(
                staging_dir / "odometer_readings.parquet",
                assignments,
                vehicles,
                params,
                work_dir / "odometer",
                con=odometer_con,
            )
        return gps, odometer

    workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mrv-kernel")
    telematics_job = workers.submit(telematics)
    activity_job = workers.submit(run_activity_kernel, staging_dir, reference, first_day, end_day)
    workers.shutdown(wait=False)

    def collect() -> KernelResults:
        gps, odometer = telematics_job.result()
        evidence, activity, activity_rejected = load_activity(runner, activity_job.result())
        gps_rejected = runner.read_arrow(gps.rejected)
        odometer_rejected = runner.read_arrow(odometer.rejected)
        return KernelResults(
            steps=odometer.steps,
            gps=gps.daily,
            evidence=evidence,
            activity=activity,
            rejected=[
                activity_rejected,
                kernel_rejections(gps_rejected, "gps_pings", "lat"),
                kernel_rejections(odometer_rejected, "odometer_readings", "odometer_km"),
            ],
        )

    return collect

"""The kernels of a DuckDB run, started as soon as their inputs exist.

The GPS and odometer kernels (one after the other: each keeps two cores
busy), the activity kernel and the meter kernel run in threads of their own,
beside the engine, and the daily kernel takes their rows as they come; the
caller meanwhile compiles the later steps. The kernels need only the small
identity tables, fetched as Arrow before they start. Their quarantines and
results become engine tables when collected.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from article6.mrv.activity_duckdb import activity_reference, ids_of, load_activity
from article6.mrv.activity_io import RepeatedKeys, repeated_keys
from article6.mrv.activity_kernel import ActivityResult, run_activity_kernel
from article6.mrv.daily_kernel import DailyKernel, DailyResult
from article6.mrv.energy import MeteredEnergy, StationActivity
from article6.mrv.engine import Engine, kernel_memory_bytes
from article6.mrv.gps_duckdb import kernel_rejections
from article6.mrv.gps_kernel import GpsKernelFiles, run_gps_kernel
from article6.mrv.kernel_warm_up import has_rows, warm_kernels_in_background
from article6.mrv.meter_kernel import run_meter_kernel
from article6.mrv.odometer_kernel import OdometerKernelFiles, run_odometer_kernel
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables
from article6.mrv.reasons import ReasonCode
from article6.mrv.vintage import kernel_vehicles


@dataclass(frozen=True)
class KernelResults:
    """The stations' activity and metered energy and the kernels' quarantines (engine
    tables), and the daily kernel's result, still being computed."""

    activity: StationActivity
    meters: MeteredEnergy
    rejected: list[ir.Table]
    daily: Future[DailyResult]


@dataclass(frozen=True)
class EarlyWork:
    """What a run starts before the identity rules: loading the kernels' compiled
    code (``loaded`` is set once the GPS and odometer kernels' is) and the
    activity kernel's first pass, which needs no identity table."""

    loaded: threading.Event
    keys: Future[RepeatedKeys]


def start_early_work(staging_dir: Path, params: ParameterSet) -> EarlyWork:
    """Start, in threads of their own, what a run can do before the identity rules."""
    loaded = warm_kernels_in_background(
        params, staging_dir / "gps_pings.parquet", staging_dir / "odometer_readings.parquet"
    ).telematics
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mrv-keys")
    keys = worker.submit(repeated_keys, staging_dir)
    worker.shutdown(wait=False)
    return EarlyWork(loaded, keys)


def start_kernels(
    runner: Engine,
    staging_dir: Path,
    tables: QualityTables,
    all_vehicle_ids: ir.Column,
    all_station_ids: ir.Column,
    all_meter_ids: ir.Column,
    categories: ir.Table,
    params: ParameterSet,
    vintage: tuple[int, int, bool],
    work_dir: Path,
    early: EarlyWork,
) -> Callable[[], KernelResults]:
    """Start the kernels on the staged pings, odometer and meter readings, swaps and
    charges, and the daily kernel on their results; the function returned waits for
    all but the daily kernel and loads their results.

    `vintage`: its first and end day, and whether the credited days are kept.
    `early` is what ``start_early_work`` started. The identity rules must have
    left those five record types out (``pipeline.KERNEL_RECORDS``).
    """
    first_day, end_day, keep_days = vintage
    columns = ["device_id", "vehicle_id", "valid_from", "valid_to", "odometer_offset_km"]
    assignments = runner.to_arrow(tables.assignments.select(*columns))
    vehicles = runner.to_arrow(tables.vehicles.select("vehicle_id", "top_speed_kmh"))
    reference = activity_reference(runner, tables, all_vehicle_ids, all_station_ids)
    # A fleet whose rows could outgrow the kernels' memory is walked in blocks of
    # vehicles, each block's rows kept on disk until its turn.
    blocks = max(1, math.ceil(memory_needed(staging_dir) / kernel_memory_bytes()))
    daily = DailyKernel(
        runner.to_arrow(kernel_vehicles(tables.vehicles, categories)),
        params,
        first_day,
        end_day,
        keep_days,
        blocks,
        work_dir,
    )
    gps_con, odometer_con = runner.cursor(), runner.cursor()
    meter_columns = ["meter_id", "station_id", "role", "accuracy_class_pct"]
    meters = runner.to_arrow(tables.meters.select(*meter_columns))
    known_meters = ids_of(runner, all_meter_ids)
    calibrations = runner.to_arrow(
        tables.calibrations.select("meter_id", "date", "error_pct", "passed")
    )

    pings = staging_dir / "gps_pings.parquet"
    with_pings = has_rows(pings)

    def telematics() -> tuple[GpsKernelFiles | None, OdometerKernelFiles]:
        early.loaded.wait()  # the compiled passes, loaded
        gps = None
        with gps_con:
            if with_pings:  # most fleets report no pings: nothing to start
                gps = run_gps_kernel(
                    pings,
                    assignments.drop_columns("odometer_offset_km"),
                    vehicles,
                    params,
                    work_dir / "gps",
                    con=gps_con,
                )
                daily.add_gps(*_batches(gps.daily))
        readings = staging_dir / "odometer_readings.parquet"
        steps = daily.inbox("steps", rows_in(readings))  # a day step per reading at most
        with odometer_con:
            odometer = run_odometer_kernel(
                readings,
                assignments,
                vehicles,
                params,
                work_dir / "odometer",
                con=odometer_con,
                inbox=steps,
            )
        daily.take("steps", steps)
        return gps, odometer

    def activity() -> ActivityResult:
        # An evidence row per swap or charge at most.
        events = rows_in(staging_dir / "swap_events.parquet")
        evidence = daily.inbox(
            "evidence", events + rows_in(staging_dir / "charge_sessions.parquet")
        )
        result = run_activity_kernel(
            staging_dir, reference, first_day, end_day, early.keys.result(), evidence
        )
        daily.take("evidence", evidence)
        return result

    def vehicle_days() -> DailyResult:
        telematics_job.result()
        activity_job.result()
        return daily.run()

    workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mrv-kernel")
    telematics_job = workers.submit(telematics)
    activity_job = workers.submit(activity)
    daily_job = workers.submit(vehicle_days)
    meter_job = workers.submit(
        run_meter_kernel,
        staging_dir / "meter_readings.parquet",
        meters,
        known_meters,
        calibrations,
        params,
        first_day,
        end_day,
    )
    workers.shutdown(wait=False)

    def collect() -> KernelResults:
        gps, odometer = telematics_job.result()
        activity, activity_rejected = load_activity(runner, activity_job.result())
        odometer_rejected = runner.read_arrow(odometer.rejected)
        rejected = [
            activity_rejected,
            kernel_rejections(odometer_rejected, "odometer_readings", "odometer_km"),
        ]
        if gps is not None:
            gps_rejected = runner.read_arrow(gps.rejected)
            rejected.append(kernel_rejections(gps_rejected, "gps_pings", "lat"))
        metered = meter_job.result()
        meter_rejected = meter_rejections(runner.load_arrow(metered.rejected, "meter_rejected"))
        energy = MeteredEnergy(runner.load_arrow(metered.metered, "metered"), meter_rejected)
        return KernelResults(activity=activity, meters=energy, rejected=rejected, daily=daily_job)

    return collect


def rows_in(path: Path) -> int:
    return int(pq.read_metadata(path).num_rows)


STEP_BYTES, DAY_BYTES, EVENT_BYTES = 20, 16, 16
"""What the daily kernel holds per odometer day step, GPS day and swap or charge."""


def memory_needed(staging_dir: Path) -> int:
    """A bound on what the daily kernel's inputs hold in memory: a day step per reading
    and a GPS day per ping, neither more than one per vehicle and day the file spans,
    and an evidence row per swap or charge. (The streaming kernels' batches are
    of a fixed size; the meter kernel's data is per station.)"""
    vehicles = rows_in(staging_dir / "vehicles.parquet")
    readings = staging_dir / "odometer_readings.parquet"
    pings = staging_dir / "gps_pings.parquet"
    steps = min(_rows_if_any(readings), vehicles * days_spanned(readings))
    gps_days = min(_rows_if_any(pings), vehicles * days_spanned(pings))
    events = _rows_if_any(staging_dir / "swap_events.parquet")
    events += _rows_if_any(staging_dir / "charge_sessions.parquet")
    return STEP_BYTES * steps + DAY_BYTES * gps_days + EVENT_BYTES * events


def _rows_if_any(path: Path) -> int:
    """Rows of a staged file of high-volume records; none if there is no file (a
    fleet without GPS may have no pings file at all)."""
    return rows_in(path) if path.exists() else 0


def days_spanned(path: Path, column: str = "ts") -> int:
    """Calendar days from the first to the last instant of a staged file, by its row
    groups' statistics (local days included: one more); without statistics, a bound
    that limits nothing."""
    if not path.exists():
        return 0
    metadata = pq.read_metadata(path)
    if metadata.num_rows == 0:
        return 0
    index = metadata.schema.to_arrow_schema().get_field_index(column)
    lows: list[datetime] = []
    highs: list[datetime] = []
    for group in range(metadata.num_row_groups):
        stats = metadata.row_group(group).column(index).statistics
        if stats is None or not stats.has_min_max:
            return int(metadata.num_rows)
        lows.append(stats.min)
        highs.append(stats.max)
    return (max(highs) - min(lows)).days + 2


def _batches(path: Path) -> tuple[Iterator[pa.RecordBatch], int]:
    """A kernel's Arrow file a batch at a time, and its rows: only the daily kernel's
    compact copy of the rows stays in memory, not the file."""
    data = pads.dataset(str(path), format="ipc")
    return data.to_batches(), data.count_rows()


def meter_rejections(bad: ir.Table) -> ir.Table:
    """The meter kernel's rejected readings in the quarantine layout of the Ibis rules:
    the meter id for duplicates (no detail) and meter rules, the register reading,
    rendered by the engine as the Ibis rules render it, for decreases."""
    decrease = bad.reason == ReasonCode.METER_DECREASE.value
    duplicate = bad.reason == ReasonCode.DUPLICATE_KEY.value
    return bad.select(
        record_type=ibis.literal("meter_readings"),
        source_file=bad.source_file,
        source_row=bad.source_row,
        column=ibis.ifelse(decrease, "cumulative_kwh", "meter_id"),
        reason=bad.reason,
        detail=ibis.cases(
            (duplicate, ""),
            (decrease, bad.cumulative_kwh.cast("string").fill_null("")),
            else_=bad.meter_id.cast("string").fill_null(""),
        ),
    )

"""The MRV pipeline of one vintage: daily distance, energy, BE, PE per vehicle and station.

Written once as Ibis expressions over the staged tables and run on DuckDB or
Spark (``engine``). The steps, in order:

1. identity rules and duplicate keys (``quality``);
2. station energy with meter, calibration and invoice rules (``energy``),
   and the activity evidence (swaps and charges) of each vehicle-day;
3. daily distance per vehicle with its quality rules (``distance``);
4. per vehicle-year: days inside the service window and after the ER-rights
   date only (E1, ``vintage``), activity evidence, imputed share limits;
   vehicles without telematics credited from odometer survey samples (E9,
   ``sampling``);
5. per segment: the energy-consistency cap (E2) and SEC plausibility;
   a segment with no metered energy charges off-meter, so its distance is
   charged at SEC_max (E5 unmetered term) instead of being capped;
6. per vehicle BE (E3, E4) and per station PE (E5).

On DuckDB the odometer and meter readings, pings, swaps and charges and the
vehicle-days of steps 2 to 4 go through compiled kernels that give the same rows
(``kernel_steps``), in threads beside the engine, which meanwhile builds the
other tables.

Everything large stays inside the engine and the kernels; only per-vehicle, per-station and
per-segment results, and counts of rejections, come back as Arrow tables.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.parquet as pq

from article6.collector import cycle_collection_paused
from article6.mrv import methodology
from article6.mrv.distance import (
    activity_evidence,
    daily_distance,
    gps_daily,
    odometer_step,
)
from article6.mrv.energy import (
    EnergyTables,
    metered_energy,
    station_activity,
    station_energy,
)
from article6.mrv.engine import Engine, EngineName
from article6.mrv.kernel_steps import EarlyWork, start_early_work, start_kernels
from article6.mrv.params import ParameterSet
from article6.mrv.quality import QualityTables, apply_identity_rules, union_all
from article6.mrv.sampling import apply_sampling
from article6.mrv.schema import SCHEMAS
from article6.mrv.vintage import VintageDays, load_vintage_days, vintage_days

EPOCH = date(1970, 1, 1)
KERNEL_RECORDS = (
    "gps_pings",
    "odometer_readings",
    "swap_events",
    "charge_sessions",
    "meter_readings",
)
"""Record types a DuckDB run streams through compiled kernels instead of the Ibis rules."""
STEPS = ("load", "identity", "energy", "distance", "vehicles", "segments", "collect")

StepCallback = Callable[[str], None]


def day_index(day: date) -> int:
    """Days since 1970-01-01 (the engine-neutral form of a local calendar day)."""
    return (day - EPOCH).days


@dataclass(frozen=True)
class PipelineResult:
    """Per-vehicle, per-station and per-segment results of one vintage, plus rejections."""

    year: int
    engine: str
    vehicles: pa.Table
    stations: pa.Table
    segments: pa.Table
    rejected: pa.Table
    rejected_days: pa.Table
    sampling: pa.Table


def parameter_tables(params: ParameterSet, year: int, work_dir: Path) -> tuple[Path, Path]:
    rows = []
    for item in params.categories:
        rows.append(
            {
                "category": item.name,
                "sec_min_kwh_per_km": item.sec_min_kwh_per_km,
                "sec_max_kwh_per_km": item.sec_max_kwh_per_km,
                "max_daily_km": item.max_daily_km,
                "displacement_ratio": item.displacement_ratio,
                "ef_bl_g_per_km": methodology.vintage_baseline_ef_g_per_km(params, item.name, year),
            }
        )
    categories = work_dir / "param_categories.parquet"
    pq.write_table(pa.Table.from_pylist(rows), categories)
    offsets = work_dir / "param_offsets.parquet"
    pq.write_table(
        pa.table({"k": pa.array(range(params.gap_fill_max_days + 1), pa.int64())}), offsets
    )
    return categories, offsets


def run_pipeline(
    staging_dir: Path,
    params: ParameterSet,
    year: int,
    engine: EngineName = "duckdb",
    spark_session: Any | None = None,
    detail_dir: Path | None = None,
    on_step: StepCallback | None = None,
    kernels: bool = True,
) -> PipelineResult:
    """Run the pipeline for vintage `year` over a staged dataset.

    With `detail_dir`, the daily distances and the quarantine are also written
    there as Parquet (streamed by the engine, never collected in memory).
    On DuckDB the high-volume records go through the compiled kernels unless
    `kernels` is false: then the Ibis rules run, as on Spark (to check one
    against the other).
    """
    # Building and compiling the expressions creates objects by the hundred
    # thousand: with the cycle collector on, about a tenth of a run's Python time.
    with (
        cycle_collection_paused(),
        nested_selects_kept(),
        tempfile.TemporaryDirectory(prefix="article6-mrv-") as scratch,
    ):
        runner = Engine(engine, spark_session, Path(scratch))
        try:
            use_kernels = kernels and engine == "duckdb"
            return _run(
                runner,
                Path(staging_dir),
                params,
                year,
                Path(scratch),
                detail_dir,
                on_step,
                use_kernels,
            )
        finally:
            runner.close()


@contextmanager
def nested_selects_kept() -> Iterator[None]:
    """Ibis's merging of nested selects off for the block, and back as it was after.

    The merge searches the whole expression graph at every step, a third of
    the compilation time; the engines' optimizers flatten the nested selects
    themselves, so the queries run the same.
    """
    fuse = ibis.options.sql.fuse_selects
    ibis.options.sql.fuse_selects = False
    try:
        yield
    finally:
        ibis.options.sql.fuse_selects = fuse


def _step(on_step: StepCallback | None, name: str) -> None:
    if on_step is not None:
        on_step(name)


def _run(
    runner: Engine,
    staging_dir: Path,
    params: ParameterSet,
    year: int,
    scratch: Path,
    detail_dir: Path | None,
    on_step: StepCallback | None,
    kernels: bool,
) -> PipelineResult:
    first_day = day_index(date(year, 1, 1))
    end_day = day_index(date(year + 1, 1, 1))
    _step(on_step, "load")
    categories_path, offsets_path = parameter_tables(params, year, scratch)
    # On DuckDB the GPS pings, odometer readings, swaps, charges and meter
    # readings go to the kernels whole (they drop duplicate keys themselves),
    # whose compiled code loads meanwhile; Spark runs the Ibis rules.
    early = start_early_work(staging_dir, params) if kernels else None
    streamed = set(KERNEL_RECORDS) if early is not None else set()
    names = [name for name in SCHEMAS if name not in streamed]
    # Staged files have the record types' schemas exactly (ingestion writes them).
    raw = {
        name: runner.read(
            staging_dir / f"{name}.parquet", SCHEMAS[name].arrow_schema(with_source=True)
        )
        for name in names
    }
    categories = runner.read(categories_path)
    offsets = runner.read(offsets_path)
    _step(on_step, "identity")
    cache = runner.materialize
    tables, dedup = apply_identity_rules(raw, params, cache)
    all_vehicle_ids = dedup["vehicles"].vehicle_id
    span = (first_day, end_day)
    if early is not None:
        places = (staging_dir, scratch)
        keep_days = detail_dir is not None
        steps = _by_kernels(
            runner, places, tables, dedup, categories, params, span, keep_days, early, on_step
        )
    else:
        steps = _by_ibis(runner, tables, dedup, categories, offsets, params, span, on_step)
    energy, vintage = steps.energy, steps.vintage
    _step(on_step, "vehicles")
    vehicle_year = runner.materialize(
        _vehicle_year(vintage.totals, tables.vehicles, categories, first_day, end_day, params),
        "vehicle_year",
    )
    sampled = apply_sampling(
        runner,
        vehicle_year,
        dedup["odometer_surveys"],
        tables,
        all_vehicle_ids,
        first_day,
        end_day,
        params,
        scratch,
    )
    vehicle_year = sampled.vehicle_year
    stations = energy.stations
    _step(on_step, "segments")
    segments = runner.materialize(_segments(vehicle_year, stations, energy.segments), "segments")
    vehicles_final = _vehicle_be(vehicle_year, segments)
    stations_final = _station_pe(stations, params, year)
    segments_final = _segment_pe(segments, params, year)
    _step(on_step, "collect")
    rejected = union_all([*steps.rejected, energy.rejected, sampled.rejected])
    rejected_days = vintage.rejected_days
    if detail_dir is not None and vintage.days is not None:
        detail_dir.mkdir(parents=True, exist_ok=True)
        days = vintage.days
        runner.write_parquet(days.order_by(["vehicle_id", "day"]), detail_dir / "daily.parquet")
        runner.write_parquet(
            rejected.order_by(["record_type", "source_file", "source_row"]),
            detail_dir / "quarantine.parquet",
        )
    rejected_counts = rejected.group_by(["record_type", "reason"]).aggregate(rows=rejected.count())
    day_counts = rejected_days.group_by("reason").aggregate(
        days=rejected_days.count(), distance_km=rejected_days.distance_km.sum()
    )
    result = PipelineResult(
        year=year,
        engine=runner.name,
        vehicles=runner.to_arrow(vehicles_final.order_by("vehicle_id")),
        stations=runner.to_arrow(stations_final.order_by("station_id")),
        segments=runner.to_arrow(segments_final.order_by("segment")),
        rejected=runner.to_arrow(rejected_counts.order_by(["record_type", "reason"])),
        rejected_days=runner.to_arrow(day_counts.order_by("reason")),
        sampling=sampled.categories,
    )
    runner.settle()  # a table that failed to build fails the run, read or not
    return result


@dataclass(frozen=True)
class _DailySteps:
    """Station energy, the vintage's credited days and the quarantine so far."""

    energy: EnergyTables
    vintage: VintageDays
    rejected: list[ir.Table]


def _by_kernels(
    runner: Engine,
    places: tuple[Path, Path],
    tables: QualityTables,
    dedup: dict[str, ir.Table],
    categories: ir.Table,
    params: ParameterSet,
    span: tuple[int, int],
    keep_days: bool,
    early: EarlyWork,
    on_step: StepCallback | None,
) -> _DailySteps:
    """Energy and distance on DuckDB: the kernels, while the engine builds the rest.

    `places`: the staged dataset and the run's scratch folder.
    """
    staging_dir, scratch = places
    first_day, end_day = span
    collect = start_kernels(
        runner,
        staging_dir,
        tables,
        dedup["vehicles"].vehicle_id,
        dedup["stations"].station_id,
        dedup["meters"].meter_id,
        categories,
        params,
        (first_day, end_day, keep_days),
        scratch,
        early,
    )
    rejected = [runner.materialize(tables.rejected, "identity_rejected")]  # meanwhile
    _step(on_step, "energy")
    _step(on_step, "distance")
    results = collect()
    # Asked for before waiting on the daily kernel, so the engine builds it meanwhile.
    energy = station_energy(
        results.meters, tables, results.activity, first_day, end_day, params, runner.materialize
    )
    vintage = load_vintage_days(runner, results.daily.result())
    return _DailySteps(energy, vintage, rejected + results.rejected)


def _by_ibis(
    runner: Engine,
    tables: QualityTables,
    dedup: dict[str, ir.Table],
    categories: ir.Table,
    offsets: ir.Table,
    params: ParameterSet,
    span: tuple[int, int],
    on_step: StepCallback | None,
) -> _DailySteps:
    """Energy and distance by the Ibis rules (Spark, or DuckDB to check the kernels)."""
    first_day, end_day = span
    cache = runner.materialize
    evidence = cache(activity_evidence(tables, first_day, end_day), "evidence")
    activity = station_activity(tables, dedup["vehicles"].vehicle_id, first_day, end_day)
    rejected = [cache(tables.rejected, "identity_rejected")]
    _step(on_step, "energy")
    meters = metered_energy(
        dedup["meter_readings"],
        tables,
        dedup["meters"].meter_id,
        first_day,
        end_day,
        params,
        cache,
    )
    _step(on_step, "distance")
    gps = gps_daily(dedup["gps_pings"], tables, params, cache)
    odometer = odometer_step(dedup["odometer_readings"], tables, offsets, params, cache)
    dist = daily_distance(odometer, gps, evidence, tables, categories, params, cache)
    # The credited days are read once (by the vehicle totals; a detail folder
    # reads them again): stored, they would cost more than they save.
    vintage = vintage_days(dist, tables.vehicles, first_day, end_day)
    energy = station_energy(meters, tables, activity, first_day, end_day, params, cache)
    return _DailySteps(energy, vintage, [*rejected, dist.rejected])


def _vehicle_year(
    totals: ir.Table,
    vehicles: ir.Table,
    categories: ir.Table,
    first_day: int,
    end_day: int,
    params: ParameterSet,
) -> ir.Table:
    """Per accepted vehicle in service during the vintage: distance, evidence, flags.

    The imputed share is imputed km over all valid km of the vehicle-year; a
    vehicle without any swap or charge in its credited window is not operating.
    """
    v = vehicles.mutate(
        _er=vehicles.er_rights_signed_date.epoch_days().cast("int64"),
        _start=vehicles.commission_date.epoch_days().cast("int64"),
        _stop=vehicles.decommission_date.epoch_days().cast("int64"),
    )
    v = v.filter(
        (v._er < end_day) & (v._start < end_day) & (v._stop.isnull() | (v._stop > first_day))
    )
    base = v.select("vehicle_id", "category", "battery_mode")
    out = base.left_join(totals, "vehicle_id").drop("vehicle_id_right")
    out = out.mutate(
        distance_km=out.distance_km.fill_null(0.0),
        imputed_km=out.imputed_km.fill_null(0.0),
        distance_days=out.distance_days.fill_null(0),
        gps_mismatch_days=out.gps_mismatch_days.fill_null(0),
        evidence_days=out.evidence_days.fill_null(0),
        has_telematics=out.has_telematics.fill_null(False),
    )
    share = ibis.ifelse(out.distance_km > 0, out.imputed_km / out.distance_km, 0.0)
    out = out.mutate(imputed_share=share)
    no_evidence = (out.distance_km > 0) & (out.evidence_days == 0)
    zeroed = out.imputed_share > params.imputed_zero_share
    high = (out.imputed_share > params.imputed_flag_share) & ~zeroed
    out = out.mutate(
        flag_no_evidence=no_evidence,
        flag_imputed_zeroed=zeroed,
        flag_imputed_high=high,
        credited_km=ibis.ifelse(no_evidence | zeroed, 0.0, out.distance_km),
    )
    cats = categories.rename(_cat="category")
    out = out.join(cats, out.category == cats._cat).drop("_cat")
    return out.mutate(segment=out.battery_mode)


def _segments(vehicle_year: ir.Table, stations: ir.Table, shares: ir.Table) -> ir.Table:
    """Per segment: energy, credited distance, SEC bounds and the E2 scale factor."""
    st = stations.select(_sid=stations.station_id, _kwh=stations.energy_kwh)
    attributed = shares.join(st, shares.station_id == st._sid)
    seg_energy = attributed.group_by("segment").aggregate(
        energy_kwh=(attributed._kwh * attributed.share).sum()
    )
    driving = vehicle_year.filter(vehicle_year.credited_km > 0)
    seg_distance = driving.group_by("segment").aggregate(
        distance_km=driving.credited_km.sum(),
        sec_min_kwh_per_km=driving.sec_min_kwh_per_km.min(),
        sec_max_kwh_per_km=driving.sec_max_kwh_per_km.max(),
        vehicles=driving.count(),
    )
    seg = seg_distance.outer_join(seg_energy, seg_distance.segment == seg_energy.segment)
    seg = seg.select(
        segment=seg.segment.fill_null(seg.segment_right),
        distance_km=seg.distance_km.fill_null(0.0),
        energy_kwh=seg.energy_kwh.fill_null(0.0),
        sec_min_kwh_per_km=seg.sec_min_kwh_per_km,
        sec_max_kwh_per_km=seg.sec_max_kwh_per_km,
        vehicles=seg.vehicles.fill_null(0),
    )
    metered = seg.energy_kwh > 0
    cap_km = seg.energy_kwh / seg.sec_min_kwh_per_km
    binding = metered & (seg.distance_km > cap_km)
    implied = ibis.ifelse(
        seg.distance_km > 0, seg.energy_kwh / seg.distance_km, ibis.null("float64")
    )
    return seg.mutate(
        implied_sec_kwh_per_km=implied,
        metered=metered,
        flag_sec_below_min=binding,
        flag_sec_above_max=metered & (implied > seg.sec_max_kwh_per_km).fill_null(False),
        scale=ibis.ifelse(binding, cap_km / seg.distance_km, 1.0),
        unmetered_km=ibis.ifelse(metered, 0.0, seg.distance_km),
    )


def _vehicle_be(vehicle_year: ir.Table, segments: ir.Table) -> ir.Table:
    """(E2, E4) distance after the segment cap and baseline emissions per vehicle."""
    seg = segments.select(_seg=segments.segment, _scale=segments.scale)
    out = vehicle_year.left_join(seg, vehicle_year.segment == seg._seg).drop("_seg")
    final_km = out.credited_km * out._scale.fill_null(1.0)
    out = out.mutate(scale=out._scale.fill_null(1.0), final_km=final_km).drop("_scale")
    be = out.ef_bl_g_per_km * out.final_km * out.displacement_ratio / methodology.GRAMS_PER_TONNE
    return out.mutate(be_t=be, operating=out.final_km > 0)


def _station_pe(stations: ir.Table, params: ParameterSet, year: int) -> ir.Table:
    """(E5) project emissions per station by supply; metered solar counts zero."""
    grid = methodology.vintage_grid_factor_t_per_mwh(params, year)
    factor = ibis.cases(
        (stations.supply.isin(["grid", "grid_pv"]), grid),
        (stations.supply == "diesel", params.captive_fossil_ef_t_per_mwh),
        else_=0.0,
    )
    return stations.mutate(
        factor_t_per_mwh=factor,
        pe_t=stations.energy_kwh / methodology.KWH_PER_MWH * factor,
    )


def _segment_pe(segments: ir.Table, params: ParameterSet, year: int) -> ir.Table:
    """(E5, unmetered term) distance charged off-meter at SEC_max on the grid."""
    grid = methodology.vintage_grid_factor_t_per_mwh(params, year)
    unmetered_kwh = segments.unmetered_km * segments.sec_max_kwh_per_km.fill_null(0.0)
    return segments.mutate(
        unmetered_kwh=unmetered_kwh,
        unmetered_pe_t=unmetered_kwh / methodology.KWH_PER_MWH * grid,
    )

"""From a pipeline result to the figures of a monitoring report.

The pipeline returns per-vehicle baseline emissions, per-station project
emissions and per-segment totals. A report also wants per-vehicle and
per-segment project emissions and monthly series; these are allocations, not
new calculations: station emissions are shared between segments in proportion
to the segment's attributed energy, and a segment's emissions between its
vehicles in proportion to credited distance. Monthly reductions are the
vintage's reductions spread by monthly distance. Totals per vintage come from
the methodology's E7 on the unallocated sums, so the allocation can never
change the issued quantity.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import duckdb
import pyarrow as pa

from article6.mrv.methodology import emission_reductions, vintage_baseline_ef_g_per_km
from article6.mrv.params import ParameterSet
from article6.mrv.pipeline import PipelineResult
from article6.mrv.report import (
    MonthLine,
    ParameterLine,
    QualityLine,
    ReportData,
    SegmentLine,
    VehicleLine,
    VintageTotal,
)


def parameter_lines(params: ParameterSet, year: int) -> list[ParameterLine]:
    """Every parameter that enters the vintage's figures, with where it comes from."""
    source = f"parameter set {params.set_id} v{params.version}"
    lines = [
        ParameterLine("Gasoline density rho", f"{params.density_kg_per_l}", "kg/L", source),
        ParameterLine("Gasoline NCV", f"{params.ncv_mj_per_kg}", "MJ/kg", source),
        ParameterLine("Gasoline CO2 factor", f"{params.ef_co2_g_per_mj}", "gCO2/MJ", source),
        ParameterLine("Technology improvement IR", f"{params.ir}", "-", source),
        ParameterLine(
            f"Grid emission factor {year}", f"{params.ef_grid_t_per_mwh(year)}", "tCO2/MWh", source
        ),
        ParameterLine("Network losses TDL", f"{params.tdl(year)}", "fraction", source),
        ParameterLine("Loss multiplier form", params.tdl_form, "option", source),
        ParameterLine("IR exponent", params.ir_exponent, "option", source),
        ParameterLine("Leakage LE", f"{params.leakage_t}", "t", source),
        ParameterLine("Small-scale cap", f"{params.small_scale_cap_t:g}", "t/yr (0 = off)", source),
    ]
    for item in params.categories:
        ef = vintage_baseline_ef_g_per_km(params, item.name, year)
        lines += [
            ParameterLine(f"SFC {item.name}", f"{item.sfc_l_per_100km}", "L/100 km", source),
            ParameterLine(f"EF_BL {item.name} {year}", f"{ef:.3f}", "gCO2/km", "E3"),
            ParameterLine(
                f"SEC range {item.name}",
                f"{item.sec_min_kwh_per_km}-{item.sec_max_kwh_per_km}",
                "kWh/km",
                source,
            ),
            ParameterLine(f"Max daily km {item.name}", f"{item.max_daily_km:g}", "km/day", source),
            ParameterLine(
                f"Displacement ratio {item.name}", f"{item.displacement_ratio}", "-", source
            ),
        ]
    return lines


def _monthly_energy_kwh(staging_dir: Path, year: int) -> dict[str, float]:
    """Station energy per local month from the cumulative meter readings."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"""
            WITH r AS (
              SELECT meter_id, ts, cumulative_kwh
                     - lag(cumulative_kwh) OVER (PARTITION BY meter_id ORDER BY ts) AS kwh
              FROM read_parquet('{staging_dir / "meter_readings.parquet"}')
            )
            SELECT strftime(ts + INTERVAL 7 HOUR - INTERVAL 1 SECOND, '%Y-%m') AS month,
                   sum(kwh)
            FROM r WHERE kwh >= 0
              AND year(ts + INTERVAL 7 HOUR - INTERVAL 1 SECOND) = {year}
            GROUP BY ALL ORDER BY month
            """
        ).fetchall()
    finally:
        con.close()
    return {str(month): float(kwh) for month, kwh in rows}


def _monthly_distance_km(daily: pa.Table, vehicles: pa.Table) -> dict[str, float]:
    """Credited distance per local month.

    The daily table (epoch days) holds valid distance before the vehicle-level
    rules (activity evidence, imputed share, E2 cap); each vehicle's days are
    scaled by its credited share so the months add up to the credited total.
    """
    con = duckdb.connect()
    try:
        con.register("daily", daily)
        con.register("credited", vehicles.select(["vehicle_id", "distance_km", "final_km"]))
        rows = con.execute(
            """
            SELECT strftime(DATE '1970-01-01' + CAST(d.day AS INTEGER), '%Y-%m') AS month,
                   sum(d.distance_km * c.final_km / c.distance_km)
            FROM daily d JOIN credited c USING (vehicle_id)
            WHERE c.distance_km > 0
            GROUP BY ALL ORDER BY month
            """
        ).fetchall()
    finally:
        con.close()
    return {str(month): float(km) for month, km in rows}


def report_data_from_pipeline(
    result: PipelineResult,
    params: ParameterSet,
    *,
    run_id: str,
    project: str,
    input_hash: str,
    code_version: str,
    staging_dir: Path,
    daily: pa.Table,
    rows_read: int,
    rows_accepted: int,
) -> ReportData:
    """Assemble the report of one vintage from the pipeline's outputs."""
    year = result.year
    vehicles = result.vehicles.to_pylist()
    stations = result.stations.to_pylist()
    segments = result.segments.to_pylist()
    station_pe_t = sum(float(s["pe_t"] or 0.0) for s in stations)
    segment_energy = {s["segment"]: float(s["energy_kwh"] or 0.0) for s in segments}
    total_energy = sum(segment_energy.values())
    segment_pe: dict[str, float] = {}
    for s in segments:
        share = segment_energy[s["segment"]] / total_energy if total_energy > 0 else 0.0
        segment_pe[s["segment"]] = station_pe_t * share + float(s["unmetered_pe_t"] or 0.0)
    segment_km: dict[str, float] = defaultdict(float)
    segment_be: dict[str, float] = defaultdict(float)
    for v in vehicles:
        segment_km[v["segment"]] += float(v["final_km"])
        segment_be[v["segment"]] += float(v["be_t"])
    vehicle_lines = []
    for v in vehicles:
        km = float(v["final_km"])
        seg_km = segment_km[v["segment"]]
        pe = segment_pe.get(v["segment"], 0.0) * km / seg_km if seg_km > 0 else 0.0
        vehicle_lines.append(
            VehicleLine(
                vehicle_id=v["vehicle_id"],
                category=v["category"],
                segment=v["segment"],
                vintage=year,
                distance_km=km,
                imputed_share=float(v["imputed_share"]),
                be_t=float(v["be_t"]),
                pe_t=pe,
                er_t=float(v["be_t"]) - pe,
            )
        )
    segment_lines = [
        SegmentLine(
            segment=s["segment"],
            vintage=year,
            vehicles=int(s["vehicles"]),
            distance_km=segment_km.get(s["segment"], 0.0),
            energy_kwh=segment_energy[s["segment"]],
            be_t=segment_be.get(s["segment"], 0.0),
            pe_t=segment_pe[s["segment"]],
            er_t=segment_be.get(s["segment"], 0.0) - segment_pe[s["segment"]],
        )
        for s in segments
    ]
    be_t = sum(segment_be.values())
    pe_t = station_pe_t + sum(float(s["unmetered_pe_t"] or 0.0) for s in segments)
    outcome = emission_reductions(be_t, pe_t, params.leakage_t, params.small_scale_cap_t)
    distance = _monthly_distance_km(daily, result.vehicles)
    energy = _monthly_energy_kwh(staging_dir, year)
    total_km = sum(distance.values())
    months = [
        MonthLine(
            month=month,
            distance_km=distance.get(month, 0.0),
            energy_kwh=energy.get(month, 0.0),
            er_t=outcome.er_t * distance.get(month, 0.0) / total_km if total_km > 0 else 0.0,
        )
        for month in sorted(set(distance) | set(energy))
    ]
    quality = [
        QualityLine(str(r["record_type"]), str(r["reason"]), int(r["rows"]))
        for r in result.rejected.to_pylist()
    ] + [
        QualityLine("daily_distance", str(r["reason"]), int(r["days"]))
        for r in result.rejected_days.to_pylist()
    ]
    return ReportData(
        run_id=run_id,
        project=project,
        monitoring_period=f"{year}-01-01 to {year}-12-31",
        input_hash=input_hash,
        parameter_set=f"{params.set_id} v{params.version}",
        parameter_set_hash=params.hash(),
        code_version=code_version,
        placeholder_parameters=params.placeholder,
        parameters=parameter_lines(params, year),
        quality=quality,
        segments=segment_lines,
        vehicles=vehicle_lines,
        months=months,
        totals=[
            VintageTotal(
                vintage=year,
                be_t=outcome.be_t,
                pe_t=outcome.pe_t,
                le_t=outcome.le_t,
                er_t=outcome.er_t,
                cap_excess_t=outcome.cap_excess_t,
                issued_t=outcome.issued_t,
            )
        ],
        rows_read=rows_read,
        rows_accepted=rows_accepted,
        parameter_sources=tuple(params.sources),
        notes=(
            "Project emissions per segment and per vehicle are allocated from station "
            "emissions by attributed energy and credited distance; monthly reductions are "
            "spread by monthly distance. Totals are computed before allocation.",
        ),
    )

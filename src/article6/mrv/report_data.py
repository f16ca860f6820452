"""Report figures derived from a calculation's result tables.

The pipeline returns per-vehicle baseline emissions, per-station project
emissions and per-segment totals. A report also wants per-vehicle and
per-segment project emissions and monthly series; these are allocations, not
new calculations: station emissions are shared between segments in proportion
to the segment's attributed energy, and a segment's emissions between its
vehicles in proportion to credited distance. Monthly reductions are the
vintage's reductions spread by monthly distance. The vintage totals stay
those of the calculation, so the allocation can never change the issued
quantity.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from article6.mrv.methodology import vintage_baseline_ef_g_per_km
from article6.mrv.params import ParameterSet
from article6.mrv.report import ParameterLine, SegmentLine, VehicleLine


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


def monthly_distance_km(daily: pa.Table, vehicles: pa.Table) -> dict[str, float]:
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


def allocate_emissions(
    year: int, vehicles: pa.Table, stations: pa.Table, segments: pa.Table
) -> tuple[list[VehicleLine], list[SegmentLine]]:
    """Per-vehicle and per-segment lines, with project emissions allocated (see module doc)."""
    vehicle_rows = vehicles.to_pylist()
    station_rows = stations.to_pylist()
    segment_rows = segments.to_pylist()
    station_pe_t = sum(float(s["pe_t"] or 0.0) for s in station_rows)
    segment_energy = {s["segment"]: float(s["energy_kwh"] or 0.0) for s in segment_rows}
    total_energy = sum(segment_energy.values())
    segment_pe: dict[str, float] = {}
    for s in segment_rows:
        share = segment_energy[s["segment"]] / total_energy if total_energy > 0 else 0.0
        segment_pe[s["segment"]] = station_pe_t * share + float(s["unmetered_pe_t"] or 0.0)
    segment_km: dict[str, float] = defaultdict(float)
    segment_be: dict[str, float] = defaultdict(float)
    for v in vehicle_rows:
        segment_km[v["segment"]] += float(v["final_km"])
        segment_be[v["segment"]] += float(v["be_t"])
    vehicle_lines = []
    for v in vehicle_rows:
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
        for s in segment_rows
    ]
    return vehicle_lines, segment_lines

"""The monitoring report of a frozen calculation run.

A frozen run (``runs.py``) keeps its figures, flags and rejection counts in
``run.json`` and its per-vehicle, per-station, per-segment and per-day tables
beside it, so the report needs nothing else, except for one series: station
energy per month, which only the meter readings hold. When the dataset the
run was calculated from is given (and its hash matches the run's input hash)
monthly energy comes from its cumulative meter readings; otherwise the run's
annual station energy is spread by monthly distance and the report says so.
The issued figures are the run's own, never recomputed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from article6.mrv.ingest import find_sources, input_hash
from article6.mrv.params import CategoryParams, ParameterSet, load_parameter_set
from article6.mrv.report import MonthLine, QualityLine, ReportData, VintageTotal
from article6.mrv.report_data import allocate_emissions, monthly_distance_km, parameter_lines
from article6.mrv.runs import RunError, load_run
from article6.settings import DEFAULT_RUNS_DIR

DEFAULT_PROJECT = "Korea-Cambodia e-motorcycles (VeryWords), Phnom Penh and Siem Reap"


def run_parameters(run_dir: Path, expected_hash: str) -> ParameterSet:
    """The run's parameter set, from its TOML copy or its canonical JSON; hash-checked."""
    toml = run_dir / "params.toml"
    if toml.is_file():
        params = load_parameter_set(toml)
    else:
        raw: dict[str, Any] = json.loads((run_dir / "params.json").read_text(encoding="utf-8"))
        raw["categories"] = tuple(CategoryParams(**item) for item in raw["categories"])
        raw["sources"] = tuple(raw["sources"])
        for key in ("tdl_by_year", "ef_grid_t_per_mwh_by_year"):
            raw[key] = tuple((int(year), float(value)) for year, value in raw[key])
        params = ParameterSet(**raw)
    if params.hash() != expected_hash:
        raise RunError(f"{run_dir}: stored parameters do not match the run's parameter hash")
    return params


def monthly_energy_from_dataset(data_dir: Path, year: int) -> dict[str, float]:
    """Station energy per local month from a dataset's cumulative meter readings."""
    sources = find_sources(data_dir, "meter_readings")
    if not sources:
        raise RunError(f"{data_dir}: no meter_readings in the dataset")
    readers = []
    for path in sources:
        if path.suffix == ".csv":
            readers.append(
                f"SELECT meter_id, CAST(ts AS TIMESTAMPTZ) AS ts, cumulative_kwh "
                f"FROM read_csv('{path}', header = true, all_varchar = false)"
            )
        else:
            readers.append(f"SELECT meter_id, ts, cumulative_kwh FROM read_parquet('{path}')")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        rows = con.execute(
            f"""
            WITH raw AS ({" UNION ALL ".join(readers)}),
            r AS (
              SELECT ts, cumulative_kwh
                     - lag(cumulative_kwh) OVER (PARTITION BY meter_id ORDER BY ts) AS kwh
              FROM raw
            )
            SELECT strftime(CAST(ts AS TIMESTAMP) + INTERVAL 7 HOUR - INTERVAL 1 SECOND, '%Y-%m'),
                   sum(kwh)
            FROM r
            WHERE kwh >= 0
              AND year(CAST(ts AS TIMESTAMP) + INTERVAL 7 HOUR - INTERVAL 1 SECOND) = {year}
            GROUP BY ALL ORDER BY 1
            """
        ).fetchall()
    finally:
        con.close()
    return {str(month): float(kwh) for month, kwh in rows}


def _quality_lines(document: dict[str, Any]) -> list[QualityLine]:
    lines = [
        QualityLine(record_type, reason, int(count))
        for record_type, reasons in sorted(document.get("quarantine", {}).items())
        for reason, count in sorted(reasons.items())
    ]
    lines += [
        QualityLine("daily_distance", reason, int(days))
        for reason, days in sorted(document.get("rejected_days", {}).items())
    ]
    lines += [
        QualityLine("flag", reason, int(count))
        for reason, count in sorted(document.get("flags", {}).items())
    ]
    return lines


def sampling_notes(document: dict[str, Any]) -> list[str]:
    """What the survey samples (E9) credited, per category, for the report's notes."""
    notes = []
    for item in document.get("sampling", []):
        if not item["sample_n"]:
            continue
        precision = item["precision"]
        achieved = "not estimable" if precision is None else f"{precision:.1%}"
        basis = "the sample mean" if item["precision_met"] else "the lower bound (E9 not met)"
        notes.append(
            f"Sampling (E9), {item['category']}: {item['sample_n']} of {item['population']} "
            f"vehicles without telematics surveyed (E9 size {item['required_n']}, achieved "
            f"precision {achieved}); each credited {item['credit_km_per_year']:,.0f} km a year, "
            f"{basis}, prorated to its days in service."
        )
    if float(document.get("sampling_credited_km", 0.0)) > 0:
        notes.append(
            "Distance credited from survey samples has no dates: it is in the totals but not "
            "in the monthly series."
        )
    return notes


def report_data_from_run(
    run_id: str,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    data_dir: Path | None = None,
    project: str = DEFAULT_PROJECT,
) -> ReportData:
    """Everything the report of run `run_id` shows, read from its frozen files."""
    run_dir = Path(runs_dir) / run_id
    document = load_run(run_dir)
    year = int(document["year"])
    params = run_parameters(run_dir, str(document["params_hash"]))
    vehicles = pq.read_table(run_dir / "vehicles.parquet")
    vehicle_lines, segment_lines = allocate_emissions(
        year,
        vehicles,
        pq.read_table(run_dir / "stations.parquet"),
        pq.read_table(run_dir / "segments.parquet"),
    )
    distance = monthly_distance_km(pq.read_table(run_dir / "daily.parquet"), vehicles)
    total_km = sum(distance.values())
    notes = [
        "Project emissions per segment and per vehicle are allocated from station emissions "
        "by attributed energy and credited distance; monthly reductions are spread by monthly "
        "distance. Totals are the run's own figures."
    ]
    if data_dir is not None:
        if input_hash(Path(data_dir)) != document["input_hash"]:
            raise RunError(f"{data_dir}: not the dataset of run {run_id} (input hash differs)")
        energy = monthly_energy_from_dataset(Path(data_dir), year)
    else:
        annual_kwh = float(document["energy_kwh"])
        energy = {
            month: annual_kwh * km / total_km if total_km > 0 else 0.0
            for month, km in distance.items()
        }
        notes.append(
            "Monthly station energy is the run's annual energy spread by monthly distance "
            "(the meter readings were not supplied)."
        )
    notes += sampling_notes(document)
    er_t = float(document["er_t"])
    months = [
        MonthLine(
            month=month,
            distance_km=distance.get(month, 0.0),
            energy_kwh=energy.get(month, 0.0),
            er_t=er_t * distance.get(month, 0.0) / total_km if total_km > 0 else 0.0,
        )
        for month in sorted(set(distance) | set(energy))
    ]
    ingest = document.get("ingest", [])
    return ReportData(
        run_id=run_id,
        project=project,
        monitoring_period=f"{year}-01-01 to {year}-12-31",
        input_hash=str(document["input_hash"]),
        parameter_set=f"{document['params_id']} v{document['params_version']}",
        parameter_set_hash=str(document["params_hash"]),
        code_version=str(document["code_version"]),
        placeholder_parameters=params.placeholder,
        parameters=parameter_lines(params, year),
        quality=_quality_lines(document),
        segments=segment_lines,
        vehicles=vehicle_lines,
        months=months,
        totals=[
            VintageTotal(
                vintage=year,
                be_t=float(document["be_t"]),
                pe_t=float(document["pe_t"]),
                le_t=float(document["le_t"]),
                er_t=er_t,
                cap_excess_t=float(document["cap_excess_t"]),
                issued_t=int(document["issued_t"]),
            )
        ],
        rows_read=sum(int(item["rows_read"]) for item in ingest),
        rows_accepted=sum(int(item["rows_accepted"]) for item in ingest),
        notes=tuple(notes),
        parameter_sources=tuple(params.sources),
    )

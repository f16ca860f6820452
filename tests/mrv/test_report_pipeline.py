"""The pipeline over a simulated fleet: every injected fault is caught, and the report shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from article6.mrv.distance import gps_daily
from article6.mrv.engine import Engine
from article6.mrv.ingest import IngestReport, ingest_dataset
from article6.mrv.params import ParameterSet, load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.quality import apply_identity_rules, union_all
from article6.mrv.report import write_report
from article6.mrv.report_data import report_data_from_pipeline
from article6.mrv.schema import SCHEMAS
from article6.mrv.sim_faults import GPS_FAULT_KINDS, STATION_FAULT_KINDS, VEHICLE_FAULT_KINDS
from article6.mrv.simulator import SimulationConfig, read_manifest, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
EPOCH = date(1970, 1, 1)

# Row-level faults and the reason codes under which the quarantine may hold their row.
ROW_REASONS = {
    "duplicate_vin": {"duplicate_vin"},
    "duplicate_plate": {"duplicate_plate"},
    "device_on_two_vehicles": {"device_overlap"},
    "odometer_decrease": {"odometer_decrease"},
    "implied_speed": {"implausible_speed"},
    "readings_after_decommission": {"unassigned_device", "outside_service_window"},
    "other_programme_station": {"other_programme"},
    "duplicate_battery_id": {"duplicate_key"},
    "meter_decrease": {"meter_decrease"},
}


@dataclass(frozen=True)
class Run:
    data_dir: Path
    staging: Path
    detail: Path
    params: ParameterSet
    ingest: IngestReport
    result: PipelineResult


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("pipeline")
    data_dir, staging, detail = root / "data", root / "staging", root / "detail"
    simulate_fleet(SimulationConfig(70, date(2025, 1, 1), 45, data_dir, seed=4, fault_rate=0.2))
    ingest = ingest_dataset(data_dir, staging)
    params = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
    result = run_pipeline(staging, params, 2025, detail_dir=detail)
    return Run(data_dir, staging, detail, params, ingest, result)


def _local_day(ts: str) -> int:
    return ((pd.Timestamp(ts) + timedelta(hours=7)).date() - EPOCH).days


def test_every_injected_fault_is_caught(run: Run) -> None:
    entries = read_manifest(run.data_dir)
    kinds = {entry.kind for entry in entries}
    assert kinds == set(VEHICLE_FAULT_KINDS) | set(STATION_FAULT_KINDS)
    quarantine = pq.read_table(run.detail / "quarantine.parquet").to_pandas()
    rows = quarantine.groupby(["record_type", "source_row"]).reason.agg(set)
    rejected_days = {r["reason"]: r["days"] for r in run.result.rejected_days.to_pylist()}
    vehicles = run.result.vehicles.to_pandas().set_index("vehicle_id")
    stations = run.result.stations.to_pandas().set_index("station_id")
    meters = pd.read_parquet(run.data_dir / "meters.parquet").set_index("meter_id")
    daily = pq.read_table(run.detail / "daily.parquet").to_pandas()
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.kind] = counts.get(entry.kind, 0) + 1
        if entry.kind in ROW_REASONS:
            found = rows.get((entry.record_type, entry.row + 1), set())
            assert found & ROW_REASONS[entry.kind], entry
        elif entry.kind == "no_activity_evidence":
            assert bool(vehicles.flag_no_evidence[entry.key["vehicle_id"]]), entry
        elif entry.kind == "invoice_mismatch":
            assert bool(stations.invoice_mismatch[entry.key["station_id"]]), entry
        elif entry.kind == "calibration_failed":
            station = meters.station_id[entry.key["meter_id"]]
            flagged = stations.calibration_adjusted[station] or stations.uncalibrated_days[station]
            assert flagged, entry
        elif entry.kind in ("gap_short", "gap_long"):
            length = 3 if entry.kind == "gap_short" else 8
            after = _local_day(entry.key["ts"])
            days = daily[
                (daily.vehicle_id == entry.key["vehicle_id"])
                & daily.day.between(after - length, after - 1)
            ]
            assert not days.empty and bool(days.imputed.all()), entry
    assert rejected_days.get("daily_km_exceeded", 0) >= counts["excessive_daily_km"]
    assert rejected_days.get("before_er_rights", 0) >= counts["before_er_rights_date"]


def test_gps_faults_are_caught_by_the_gps_rules(tmp_path: Path) -> None:
    data_dir, staging = tmp_path / "data", tmp_path / "staging"
    simulate_fleet(
        SimulationConfig(
            50, date(2025, 2, 1), 25, data_dir, seed=9, fault_rate=0.3, gps=True, ping_interval_s=90
        )
    )
    ingest_dataset(data_dir, staging)
    params = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
    engine = Engine("duckdb")
    try:
        raw = {name: engine.read(staging / f"{name}.parquet") for name in SCHEMAS}
        tables, dedup = apply_identity_rules(raw, params)
        _, _, rejects = gps_daily(dedup["gps_pings"], tables, params)
        rejected: pa.Table = engine.to_arrow(union_all(rejects))
    finally:
        engine.close()
    reasons = rejected.to_pandas().groupby("source_row").reason.agg(set)
    expected = {"gps_jump": {"gps_jump"}, "outside_cambodia": {"outside_boundary"}}
    entries = [e for e in read_manifest(data_dir) if e.kind in GPS_FAULT_KINDS]
    assert {e.kind for e in entries} == set(GPS_FAULT_KINDS)
    for entry in entries:
        assert reasons.get(entry.row + 1, set()) & expected[entry.kind], entry


def test_report_of_a_pipeline_run_carries_its_figures(run: Run, tmp_path: Path) -> None:
    read, accepted, _ = run.ingest.totals()
    data = report_data_from_pipeline(
        run.result,
        run.params,
        run_id="sim-4",
        project="Korea-Cambodia e-motorcycles",
        input_hash=run.ingest.input_hash,
        code_version="test",
        staging_dir=run.staging,
        daily=pq.read_table(run.detail / "daily.parquet"),
        rows_read=read,
        rows_accepted=accepted,
    )
    total = data.totals[0]
    # Allocation of project emissions to segments and vehicles conserves the totals.
    assert sum(v.er_t for v in data.vehicles) == pytest.approx(total.be_t - total.pe_t)
    assert sum(s.pe_t for s in data.segments) == pytest.approx(total.pe_t)
    assert sum(m.distance_km for m in data.months) == pytest.approx(
        sum(v.distance_km for v in data.vehicles)
    )
    assert len(data.vehicles) == run.result.vehicles.num_rows
    reasons = {line.reason for line in data.quality}
    assert {"duplicate_vin", "odometer_decrease", "other_programme"} <= reasons

    files = write_report(data, tmp_path / "report")
    book = load_workbook(files.xlsx)
    quality = list(book["Data quality"].iter_rows(min_row=2, values_only=True))
    assert sum(row[2] for row in quality) == data.quarantined
    summary = [row for row in book["Summary"].iter_rows(values_only=True) if row[0] == 2025]
    assert summary[0][6] == total.issued_t
    text = "\n".join(page.extract_text() for page in PdfReader(files.pdf).pages)
    assert "sim-4" in text and run.ingest.input_hash in text and "duplicate_vin" in text

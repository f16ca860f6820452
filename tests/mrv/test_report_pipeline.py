"""A frozen run over a simulated fleet: every injected fault is caught; the report shows the run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import typer
from openpyxl import load_workbook
from pypdf import PdfReader
from typer.testing import CliRunner

from article6.cli.mrv_planning import register
from article6.mrv.distance import gps_daily
from article6.mrv.engine import Engine
from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.quality import apply_identity_rules, union_all
from article6.mrv.report_run import report_data_from_run
from article6.mrv.runs import calculate, load_run
from article6.mrv.schema import SCHEMAS
from article6.mrv.sim_faults import (
    GPS_FAULT_KINDS,
    STATION_FAULT_KINDS,
    SURVEY_FAULT_KINDS,
    VEHICLE_FAULT_KINDS,
)
from article6.mrv.simulator import SimulationConfig, read_manifest, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params" / "khm-emoto-v1.toml"
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
    "other_programme_vehicle": {"other_programme"},
    "no_er_rights": {"no_er_rights"},
    "unknown_vehicle": {"unknown_vehicle"},
    "survey_duplicate_key": {"duplicate_key"},
    "survey_unknown_vehicle": {"unknown_vehicle"},
    "survey_decrease": {"odometer_decrease"},
}


@dataclass(frozen=True)
class Run:
    data_dir: Path
    runs_dir: Path
    run_id: str
    document: dict[str, Any]

    @property
    def run_dir(self) -> Path:
        return self.runs_dir / self.run_id


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("pipeline")
    data_dir, runs_dir = root / "data", root / "runs"
    config = SimulationConfig(
        70, date(2025, 1, 1), 45, data_dir, seed=4, fault_rate=0.2, untracked_share=0.2
    )
    simulate_fleet(config)
    frozen = calculate(data_dir, PARAMS, 2025, freeze=True, runs_dir=runs_dir)
    return Run(data_dir, runs_dir, frozen.run_id, load_run(runs_dir / frozen.run_id))


def _local_day(ts: str) -> int:
    return ((pd.Timestamp(ts) + timedelta(hours=7)).date() - EPOCH).days


def test_every_injected_fault_is_caught(run: Run) -> None:
    entries = read_manifest(run.data_dir)
    kinds = {entry.kind for entry in entries}
    assert kinds == set(VEHICLE_FAULT_KINDS) | set(STATION_FAULT_KINDS) | set(SURVEY_FAULT_KINDS)
    quarantine = pd.concat(
        [
            pd.read_parquet(run.run_dir / "quarantine.parquet"),
            pd.read_parquet(run.run_dir / "ingest_quarantine.parquet"),
        ]
    )
    rows = quarantine.groupby(["record_type", "source_row"]).reason.agg(set)
    rejected_days = run.document["rejected_days"]
    vehicles = pd.read_parquet(run.run_dir / "vehicles.parquet").set_index("vehicle_id")
    stations = pd.read_parquet(run.run_dir / "stations.parquet").set_index("station_id")
    meters = pd.read_parquet(run.data_dir / "meters.parquet").set_index("meter_id")
    daily = pd.read_parquet(run.run_dir / "daily.parquet")
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
        elif entry.kind == "meter_interval_mismatch":
            station = meters.station_id[entry.key["meter_id"]]
            assert stations.interval_mismatch_days[station] > 0, entry
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
    assert run.document["flags"]["meter_interval_mismatch"] >= counts["meter_interval_mismatch"]
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
    params = load_parameter_set(PARAMS)
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


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def group() -> None:
        """MRV."""

    register(app)
    return app


def test_report_command_renders_a_frozen_run(run: Run, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["report", "--run", run.run_id, "--runs-dir", str(run.runs_dir), "--out", str(out)]
    result = CliRunner().invoke(_app(), [*args, "--data", str(run.data_dir), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["issued_t"] == run.document["issued_t"]

    book = load_workbook(summary["xlsx"])
    totals = [row for row in book["Summary"].iter_rows(values_only=True) if row[0] == 2025]
    assert totals[0][1] == pytest.approx(run.document["be_t"])
    assert totals[0][6] == run.document["issued_t"]
    quality = {
        (row[0], row[1]): row[2]
        for row in book["Data quality"].iter_rows(min_row=2, values_only=True)
    }
    for record_type, reasons in run.document["quarantine"].items():
        for reason, count in reasons.items():
            assert quality[(record_type, reason)] == count
    assert run.document["flags"]["meter_interval_mismatch"] > 0
    for reason, count in run.document["flags"].items():
        assert quality[("flag", reason)] == count
    vehicles = list(book["Vehicles"].iter_rows(min_row=2, values_only=True))
    assert len(vehicles) == run.document["vehicles_eligible"]
    # Allocated per-vehicle reductions add up to the run's BE - PE.
    assert sum(row[8] for row in vehicles) == pytest.approx(
        run.document["be_t"] - run.document["pe_t"]
    )
    monthly = list(book["Monthly"].iter_rows(min_row=2, values_only=True))
    assert [row[0] for row in monthly] == ["2025-01", "2025-02"]
    # Surveyed distance (E9) has no dates: the months hold the distance measured by telematics.
    credited = pd.read_parquet(run.run_dir / "vehicles.parquet")
    dated_km = credited.final_km[credited.distance_km > 0].sum()
    assert run.document["sampling_credited_km"] > 0 and dated_km < run.document["distance_km"]
    assert sum(row[1] for row in monthly) == pytest.approx(dated_km)
    assert any("no dates" in note for note in report_data_from_run(run.run_id, run.runs_dir).notes)
    assert sum(row[2] for row in monthly) > 0
    assert sum(row[3] for row in monthly) == pytest.approx(run.document["er_t"])

    text = "\n".join(page.extract_text() for page in PdfReader(summary["pdf"]).pages)
    assert run.run_id in text and run.document["input_hash"] in text
    assert "duplicate_vin" in text and "other_programme" in text
    assert f"{run.document['be_t']:,.3f}" in text


def test_report_without_the_dataset_spreads_energy_and_says_so(run: Run, tmp_path: Path) -> None:
    data = report_data_from_run(run.run_id, run.runs_dir)
    assert sum(m.energy_kwh for m in data.months) == pytest.approx(run.document["energy_kwh"])
    assert any("not supplied" in note for note in data.notes)
    args = ["report", "--run", "no-such-run", "--runs-dir", str(run.runs_dir)]
    failed = CliRunner().invoke(_app(), [*args, "--out", str(tmp_path)])
    assert failed.exit_code == 2
    wrong_data = CliRunner().invoke(
        _app(),
        [
            *("report", "--run", run.run_id, "--runs-dir", str(run.runs_dir)),
            *("--out", str(tmp_path), "--data", str(tmp_path)),
        ],
    )
    assert wrong_data.exit_code != 0

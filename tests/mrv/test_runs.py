"""Calculation runs: figures by hand, freezing, reproduction to 1e-9, refusals, CLI.

Dataset: the basic fleet (V1 40 km/day and V2 30 km/day through January 2025,
swap station S1 metering 100 kWh) plus VF, a fixed-battery vehicle driving
30 km/day that charges at a charger without a meter (unmetered charging).

By hand, vintage 2025 (first crediting year, t = 1):
  EF_BL = 2.2/100 × 0.74 × 44.3 × 69.3 × 0.99 g/km
  BE = EF_BL × (1200 + 900 + 900) km / 1e6
  PE = 0.1 MWh × 0.75 + 900 km × 0.09 kWh/km / 1000 × 0.75
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from mrv_builder import DatasetBuilder, basic_fleet
from typer.testing import CliRunner

from article6.cli.main import app
from article6.mrv.params import parse_parameter_set
from article6.mrv.runs import (
    RunError,
    calculate,
    compare_tables,
    load_run,
    reproduce_run,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "params" / "khm-emoto-v1.toml"
PLACEHOLDER = ROOT / "params" / "ams-iii-c-default.toml"
EF_BL = 0.022 * 0.74 * 44.3 * 69.3 * 0.99
GRID = 0.60 / 0.8


def run_fleet() -> DatasetBuilder:
    b = basic_fleet()
    b.station("S9", kind="ac_charger")
    b.vehicle("VF", battery_mode="fixed")
    b.daily_odometer("D-VF", "2025-01-01", 31, 30.0)
    for day in range(2, 32, 3):
        b.charge(f"C-VF-{day}", "S9", "VF", f"2025-01-{day:02d}", 3.0)
    return b


@pytest.fixture(scope="module")
def frozen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("runs")
    data = run_fleet().write(tmp / "data")
    result = CliRunner().invoke(
        app,
        [
            "mrv",
            "calculate",
            "--data",
            str(data),
            "--params",
            str(EXAMPLE),
            "--year",
            "2025",
            "--freeze",
            "--runs-dir",
            str(tmp / "runs"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return {"doc": document, "data": data, "runs": tmp / "runs"}


def test_figures_by_hand(frozen: dict[str, Any]) -> None:
    doc = frozen["doc"]
    for key in ("year", "vehicles_operating", "distance_km", "energy_kwh", "be_t", "pe_t"):
        assert key in doc
    assert doc["year"] == 2025
    assert doc["vehicles_operating"] == 3
    assert doc["distance_km"] == pytest.approx(3000.0)
    assert doc["energy_kwh"] == pytest.approx(100.0)
    assert doc["unmetered_energy_kwh"] == pytest.approx(81.0)
    be = EF_BL * 3000.0 / 1e6
    pe = 0.1 * GRID + 0.081 * GRID
    assert doc["be_t"] == pytest.approx(be)
    assert doc["pe_t"] == pytest.approx(pe)
    assert doc["le_t"] == 0.0
    assert doc["er_t"] == pytest.approx(be - pe)
    assert doc["issued_t"] == 0
    assert doc["flags"] == {}
    assert doc["telematics_coverage"] == 1.0
    assert len(doc["input_hash"]) == 64 and len(doc["params_hash"]) == 64
    assert doc["code_version"].startswith("0.1.0+")


def test_frozen_run_is_stored(frozen: dict[str, Any]) -> None:
    run_dir = frozen["runs"] / frozen["doc"]["run_id"]
    stored = load_run(run_dir)
    assert stored["be_t"] == frozen["doc"]["be_t"]
    assert stored["frozen"] is True
    for name in ("vehicles", "stations", "segments", "daily", "quarantine"):
        assert pq.read_table(run_dir / f"{name}.parquet").num_rows >= 0
    assert pq.read_table(run_dir / "vehicles.parquet").num_rows == 3
    assert (
        tomllib.loads((run_dir / "params.toml").read_text())["parameter_set"]["id"] == "khm-emoto"
    )


def test_rerun_reproduces_every_figure(frozen: dict[str, Any]) -> None:
    outcome = reproduce_run(frozen["runs"] / frozen["doc"]["run_id"], frozen["data"])
    assert outcome.input_hash_matches
    assert outcome.code_version_matches
    assert outcome.differences == ()
    assert outcome.reproduced


def test_comparison_catches_a_changed_value(frozen: dict[str, Any]) -> None:
    run_dir = frozen["runs"] / frozen["doc"]["run_id"]
    vehicles = pq.read_table(run_dir / "vehicles.parquet")
    be = vehicles.column("be_t").to_pylist()
    changed = vehicles.set_column(
        vehicles.schema.get_field_index("be_t"), "be_t", pa.array([be[0] + 1e-6, *be[1:]])
    )
    assert compare_tables("vehicles", vehicles, vehicles) == []
    (difference,) = compare_tables("vehicles", vehicles, changed)
    assert difference.startswith("vehicles row 1")


def test_freezing_twice_is_refused(frozen: dict[str, Any]) -> None:
    with pytest.raises(RunError, match="already frozen"):
        calculate(frozen["data"], EXAMPLE, 2025, freeze=True, runs_dir=frozen["runs"])


def test_placeholder_parameters_cannot_freeze(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="placeholder"):
        calculate(tmp_path, PLACEHOLDER, 2025, freeze=True, runs_dir=tmp_path / "runs")


def test_vintage_outside_crediting_period_refused(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="outside the crediting period"):
        calculate(tmp_path, EXAMPLE, 2024, runs_dir=tmp_path / "runs")


def test_small_scale_cap_reports_excess(frozen: dict[str, Any]) -> None:
    from article6.mrv.pipeline import PipelineResult
    from article6.mrv.runs import DETAIL_TABLES, summarise

    run_dir = frozen["runs"] / frozen["doc"]["run_id"]
    tables = {name: pq.read_table(run_dir / f"{name}.parquet") for name in DETAIL_TABLES}
    empty = pa.table({"reason": pa.array([], pa.string())})
    result = PipelineResult(
        year=2025, engine="duckdb", rejected=empty, rejected_days=empty, **tables
    )
    raw = tomllib.loads(EXAMPLE.read_text())
    raw["methodology"]["small_scale_cap_t"] = 0.01
    figures, flags = summarise(result, parse_parameter_set(raw))
    assert figures.er_t == 0.01
    assert figures.cap_excess_t == pytest.approx(frozen["doc"]["er_t"] - 0.01)
    assert flags["small_scale_cap"] == 1


def test_cli_errors_name_the_problem(frozen: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.read_text().replace("ir = 0.99\n", ""))
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["mrv", "calculate", "--data", str(frozen["data"]), "--params", str(bad), "--year", "2025"],
    )
    assert result.exit_code == 2
    assert "missing key: fuel.ir" in result.output
    data = run_fleet().write(tmp_path / "data")
    (data / "meters.csv").write_text("meter_id,station_id\nM1,S1\n")
    result = runner.invoke(app, ["mrv", "validate", "--data", str(data), "--json"])
    assert result.exit_code == 2
    assert "meters.csv" in result.output and "accuracy_class_pct" in result.output


def test_cli_validate_reports_counts(tmp_path: Path) -> None:
    data = run_fleet().write(tmp_path / "data")
    path = data / "odometer_readings.csv"
    lines = path.read_text().splitlines()
    lines.append(lines[2])
    lines[1] = lines[1].replace("1000.0", "abc")
    path.write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["mrv", "validate", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rows_read"] == doc["rows_accepted"] + doc["rows_quarantined"]
    assert doc["rows_quarantined"] == 1
    assert doc["quarantine_by_reason"] == {"bad_type": 1}
    assert doc["duplicate_keys"] == {"odometer_readings": 1}
    # vehicles 3, assignments 3, readings 93 + 1 repeated, stations 2, meters 1,
    # meter readings 2, calibrations 1, batteries 2, swaps 20, charges 10.
    assert doc["rows_read"] == 3 + 3 + 94 + 2 + 1 + 2 + 1 + 2 + 20 + 10


def test_low_telematics_coverage_flags_and_sizes_sample(frozen: dict[str, Any]) -> None:
    from article6.mrv.methodology import sample_size
    from article6.mrv.params import load_parameter_set
    from article6.mrv.pipeline import PipelineResult
    from article6.mrv.runs import DETAIL_TABLES, summarise

    run_dir = frozen["runs"] / frozen["doc"]["run_id"]
    tables = {name: pq.read_table(run_dir / f"{name}.parquet") for name in DETAIL_TABLES}
    vehicles = tables["vehicles"]
    index = vehicles.schema.get_field_index("has_telematics")
    tables["vehicles"] = vehicles.set_column(index, "has_telematics", pa.array([True, True, False]))
    empty = pa.table({"reason": pa.array([], pa.string())})
    result = PipelineResult(
        year=2025, engine="duckdb", rejected=empty, rejected_days=empty, **tables
    )
    figures, flags = summarise(result, load_parameter_set(EXAMPLE))
    assert figures.telematics_coverage == pytest.approx(2 / 3)
    assert flags["telematics_coverage_low"] == 1
    # CV of the telematics vehicles' distances (1200 and 900 km) sizes the sample.
    cv = 150.0 / 1050.0
    assert figures.sampling_required_n == sample_size(1, cv, 0.10, 1.645)
    assert figures.sampling_required_n == 1

"""The benchmark's pandas reference computes the same vintage figures as the pipeline.

`benchmarks/pandas_reference.py` re-implements the whole calculation in plain
pandas, independently of the pipeline's modules; on simulated faulty fleets
every figure and every quarantine count of the two must agree (floats to
1e-9, the reproduction tolerance of frozen runs, integers exactly).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.runs import summarise
from article6.mrv.schema import SCHEMAS
from article6.mrv.simulator import SimulationConfig, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "plans" / "khm-emoto-exante-params.toml")
YEAR = 2025


def _load_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pandas_reference", ROOT / "benchmarks" / "pandas_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference = _load_reference()


def pipeline_figures(result: PipelineResult) -> dict[str, Any]:
    """The pipeline's figures in the reference's layout."""
    figures: dict[str, Any] = asdict(summarise(result, PARAMS)[0])
    for row in result.rejected.to_pylist():
        figures[f"quarantine.{row['record_type']}.{row['reason']}"] = int(row["rows"])
    for row in result.rejected_days.to_pylist():
        figures[f"rejected_days.{row['reason']}"] = int(row["days"])
        figures[f"rejected_km.{row['reason']}"] = float(row["distance_km"])
    return figures


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    out = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key), actual.get(key)
        if isinstance(want, float) and isinstance(got, int | float):
            same = math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9)
        else:
            same = type(want) is type(got) and want == got
        if not same:
            out.append(f"{key}: pipeline {want!r}, pandas {got!r}")
    return out


@pytest.mark.parametrize(
    ("vehicles", "start", "days", "seed", "fault_rate", "untracked_share"),
    [
        pytest.param(300, date(2025, 1, 1), 365, 11, 0.05, 0.0, id="300-vehicles-a-year"),
        # Begins in the year before the vintage (earlier observed days, window
        # rules at the year's start), with many faults and surveyed vehicles.
        pytest.param(100, date(2024, 10, 1), 400, 12, 0.3, 0.2, id="high-fault-rate-sampled"),
    ],
)
def test_pandas_reference_agrees_with_pipeline(
    tmp_path: Path,
    vehicles: int,
    start: date,
    days: int,
    seed: int,
    fault_rate: float,
    untracked_share: float,
) -> None:
    data, staging = tmp_path / "data", tmp_path / "staging"
    simulate_fleet(
        SimulationConfig(
            vehicles,
            start,
            days,
            data,
            seed=seed,
            fault_rate=fault_rate,
            untracked_share=untracked_share,
        )
    )
    ingest_dataset(data, staging)
    expected = pipeline_figures(run_pipeline(staging, PARAMS, YEAR))
    actual = reference.pandas_vintage(staging, PARAMS, YEAR)
    assert differences(expected, actual) == []
    # The comparison is only worth something if the rules had work to do.
    assert expected["vehicles_operating"] > 0.8 * vehicles
    assert expected["quarantine.odometer_readings.odometer_decrease"] > 0
    assert expected["quarantine.vehicles.duplicate_vin"] > 0
    if untracked_share:
        assert expected["sampled_vehicles"] > 0 < expected["sampling_credited_km"]


def test_pandas_reference_leaves_gps_datasets_out(tmp_path: Path) -> None:
    schema = SCHEMAS["gps_pings"].arrow_schema(with_source=True)
    ping: dict[str, Any] = {name: None for name in schema.names}
    ping.update(device_id="D1", lat=11.5, lon=104.9, _source_file="gps.csv", _source_row=2)
    pq.write_table(pa.Table.from_pylist([ping], schema=schema), tmp_path / "gps_pings.parquet")
    with pytest.raises(ValueError, match="without GPS pings"):
        reference.pandas_vintage(tmp_path, PARAMS, YEAR)

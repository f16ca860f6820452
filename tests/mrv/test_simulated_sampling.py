"""A simulated year with vehicles sold without telematics, run end to end through (E9).

The simulator knows what every untracked vehicle really drove, so the test can
hold the survey-based credit against the truth: the precise category within
the E9 precision, the deliberately undersampled one at its lower bound. The
same clean year also shows that the meter interval rule raises no false flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from article6.mrv.ingest import input_hash
from article6.mrv.params import load_parameter_set
from article6.mrv.runs import calculate, load_run, reproduce_run
from article6.mrv.simulator import SimulationConfig, read_untracked_truth, simulate_fleet

ROOT = Path(__file__).resolve().parents[2]
PARAMS = ROOT / "params" / "khm-emoto-v1.toml"
YEAR = 2025
PRECISE, UNDERSAMPLED = "e_scooter", "e_motorcycle"


def _config(out_dir: Path, **overrides: Any) -> SimulationConfig:
    settings: dict[str, Any] = {
        "vehicles": 400,
        "start": date(YEAR, 1, 1),
        "days": 365,
        "out_dir": out_dir,
        "seed": 5,
        "untracked_share": 0.3,
        "undersampled": (UNDERSAMPLED,),
    }
    settings.update(overrides)
    return SimulationConfig(**settings)


@dataclass(frozen=True)
class Run:
    data_dir: Path
    run_dir: Path
    document: dict[str, Any]
    vehicles: pd.DataFrame
    truth: pd.DataFrame

    def sample(self, category: str) -> dict[str, Any]:
        return next(s for s in self.document["sampling"] if s["category"] == category)

    def credited(self, category: str) -> tuple[float, float]:
        """Surveyed distance credited to the category and what those vehicles truly drove."""
        credited = self.vehicles[(self.vehicles.sampled_km > 0)]
        credited = credited[credited.category == category]
        joined = credited.merge(self.truth, on="vehicle_id", how="left")
        assert not joined.true_km.isna().any()
        return float(credited.sampled_km.sum()), float(joined.true_km.sum())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("sampled-year")
    data_dir = root / "data"
    simulate_fleet(_config(data_dir))
    frozen = calculate(data_dir, PARAMS, YEAR, freeze=True, runs_dir=root / "runs")
    run_dir = root / "runs" / frozen.run_id
    truth = pd.DataFrame(read_untracked_truth(data_dir))
    truth = truth[truth.year == YEAR][["vehicle_id", "true_km"]]
    return Run(
        data_dir,
        run_dir,
        load_run(run_dir),
        pd.read_parquet(run_dir / "vehicles.parquet"),
        truth,
    )


def test_untracked_vehicles_bring_coverage_below_the_threshold(run: Run) -> None:
    operating = run.vehicles[run.vehicles.operating]
    untracked = operating[~operating.has_telematics]
    assert run.document["telematics_coverage"] < 0.95
    assert run.document["telematics_coverage"] == pytest.approx(1 - len(untracked) / len(operating))
    assert run.document["flags"]["telematics_coverage_low"] == 1
    # Every untracked vehicle is in the truth, every one with activity evidence is credited.
    assert set(untracked.vehicle_id) <= set(run.truth.vehicle_id)
    assert (untracked.sampled_km > 0).all()
    assert run.document["sampling_credited_vehicles"] == len(untracked) > 0


def test_precise_sample_credits_the_true_distance_within_the_e9_precision(run: Run) -> None:
    params = load_parameter_set(PARAMS)
    sample = run.sample(PRECISE)
    assert sample["precision_met"] and sample["sample_n"] >= sample["required_n"]
    assert sample["precision"] <= params.sampling_precision
    assert sample["credit_km_per_year"] == sample["mean_km"]
    credited_km, true_km = run.credited(PRECISE)
    assert true_km > 0
    assert abs(credited_km - true_km) <= params.sampling_precision * true_km


def test_undersampled_category_is_credited_its_lower_bound(run: Run) -> None:
    params = load_parameter_set(PARAMS)
    sample = run.sample(UNDERSAMPLED)
    assert not sample["precision_met"]
    assert 2 <= sample["sample_n"] < sample["required_n"]
    lower = sample["mean_km"] - params.sampling_z * sample["standard_error_km"]
    assert sample["credit_km_per_year"] == pytest.approx(lower)
    assert run.document["flags"]["sampling_precision_not_met"] == 1
    credited_km, true_km = run.credited(UNDERSAMPLED)
    assert (1 - 2 * sample["precision"]) * true_km <= credited_km < true_km


def test_credited_figures_are_reproducible(run: Run, tmp_path: Path) -> None:
    again = tmp_path / "again"
    simulate_fleet(_config(again))
    assert input_hash(again) == run.document["input_hash"]
    assert read_untracked_truth(again) == read_untracked_truth(run.data_dir)
    outcome = reproduce_run(run.run_dir, again)
    assert outcome.differences == ()
    assert outcome.reproduced


def test_clean_year_raises_no_meter_interval_flags_nor_implausible_days(
    run: Run, tmp_path: Path
) -> None:
    stations = pd.read_parquet(run.run_dir / "stations.parquet")
    assert (stations.interval_mismatch_days == 0).all()
    assert "meter_interval_mismatch" not in run.document["flags"]
    assert run.document["quarantine"] == {}
    assert run.document["rejected_days"] == {}  # no clean day is called implausible
    # The same for a fully tracked fleet of another seed, as the benchmarks simulate it.
    data_dir = tmp_path / "tracked"
    simulate_fleet(_config(data_dir, seed=8, untracked_share=0.0, undersampled=()))
    tracked = calculate(data_dir, PARAMS, YEAR, runs_dir=tmp_path / "runs")
    assert tracked.figures.telematics_coverage == 1.0
    assert tracked.figures.energy_kwh > 0
    assert "meter_interval_mismatch" not in tracked.flags
    assert tracked.rejected_days == {}

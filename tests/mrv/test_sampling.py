"""(E9) Sampling: vehicles without telematics credited from odometer survey samples.

Hand calculation (vintage 2025, 365 days, z = 1.645, precision 10 %):

- e_motorcycle: VA, VB, VC surveyed 10 Jan and 10 Jul (181 days) at annual
  rates of 10,000, 10,200 and 9,800 km; VD not surveyed; VN has no swap or
  charge, so it is outside the population (N = 4). Mean 10,000, SD 200,
  SE 115.47, precision 1.9 %; E9 size 1: the mean is credited, for the span
  each vehicle's swaps cover: VD entered service on 2 July (10,000 × 183 /
  365 km), VC's swaps stop on 30 June (10,000 × 181 / 365 km).
  VB's reading of 1 April below its January one is rejected; VC's reading of
  December 2024 is outside the vintage; VT has telematics, so its survey is
  not part of the sample.
- e_scooter: VS1, VS2 at 6,000 and 8,000 km: mean 7,000, SE 1,000,
  precision 23.5 %: the lower bound 7,000 - 1.645 × 1,000 = 5,355 km each.
- the swap cabinet meters 2,500 kWh: the cap 2,500 / 0.03 = 83,333 km is not
  reached; at 500 kWh (a second dataset) it is, and scales survey km too.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mrv_builder import DatasetBuilder, d, drive

from article6.mrv.ingest import ingest_dataset
from article6.mrv.methodology import sample_size
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.report_run import report_data_from_run
from article6.mrv.runs import calculate, compare_tables, reproduce_run, summarise, values_match

ROOT = Path(__file__).resolve().parents[2]
PARAMS_PATH = ROOT / "params" / "khm-emoto-v1.toml"
PARAMS = load_parameter_set(PARAMS_PATH)
SPAN_DAYS = 181  # 10 January to 10 July 2025


def survey(b: DatasetBuilder, vehicle_id: str, day: str, km: float) -> None:
    b.rows["odometer_surveys"].append({"vehicle_id": vehicle_id, "date": d(day), "odometer_km": km})


def surveyed(b: DatasetBuilder, vehicle_id: str, annual_km: float, start_km: float = 500.0) -> None:
    survey(b, vehicle_id, "2025-01-10", start_km)
    survey(b, vehicle_id, "2025-07-10", start_km + annual_km * SPAN_DAYS / 365)


def sampling_fleet(energy_kwh: float = 2500.0, with_surveys: bool = True) -> DatasetBuilder:
    b = DatasetBuilder()
    b.battery("B-IN").battery("B-OUT")
    b.station("S1").meter("M1", "S1")
    b.meter_reading("M1", "2024-12-31", 0.0).meter_reading("M1", "2025-12-31", energy_kwh)
    b.vehicle("VT")
    drive(b, "VT")
    for vehicle in ("VA", "VB", "VC", "VN"):
        b.vehicle(vehicle, with_device=False)
    b.vehicle("VD", with_device=False, commission="2025-07-02")
    b.vehicle("VS1", category="e_scooter", with_device=False)
    b.vehicle("VS2", category="e_scooter", with_device=False)
    # Swaps bound the span a vehicle's own records cover: the whole year for
    # most, the first half for VC, from entry into service for VD.
    spans = {"VC": ("2025-01-01", "2025-06-30"), "VD": ("2025-07-02", "2025-12-31")}
    for vehicle in ("VA", "VB", "VC", "VD", "VS1", "VS2"):
        first, last = spans.get(vehicle, ("2025-01-01", "2025-12-31"))
        b.swap(f"E-{vehicle}-1", "S1", vehicle, first).swap(f"E-{vehicle}-2", "S1", vehicle, last)
    if with_surveys:
        surveyed(b, "VA", 10_000.0)
        surveyed(b, "VB", 10_200.0)
        survey(b, "VB", "2025-04-01", 400.0)  # below January: rejected
        surveyed(b, "VC", 9_800.0)
        survey(b, "VC", "2024-12-15", 0.0)  # before the vintage
        surveyed(b, "VS1", 6_000.0)
        surveyed(b, "VS2", 8_000.0)
        surveyed(b, "VT", 50_000.0)  # telematics vehicle: not in the sample
        survey(b, "VX", "2025-02-01", 10.0)  # unknown vehicle
        b.rows["odometer_surveys"].append(dict(b.rows["odometer_surveys"][0]))  # repeated key
    return b


def _stage(tmp: Path, builder: DatasetBuilder) -> Path:
    builder.write(tmp / "data")
    ingest_dataset(tmp / "data", tmp / "stage")
    return tmp


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _stage(tmp_path_factory.mktemp("sampling"), sampling_fleet())


@pytest.fixture(scope="module")
def result(staged: Path) -> PipelineResult:
    return run_pipeline(staged / "stage", PARAMS, 2025, detail_dir=staged / "detail")


def vehicles(result: PipelineResult) -> dict[str, dict[str, Any]]:
    return {row["vehicle_id"]: row for row in result.vehicles.to_pylist()}


def categories(result: PipelineResult) -> dict[str, dict[str, Any]]:
    return {row["category"]: row for row in result.sampling.to_pylist()}


def test_precise_sample_credits_its_mean_prorated(result: PipelineResult) -> None:
    moto = categories(result)["e_motorcycle"]
    assert (moto["population"], moto["sample_n"]) == (4, 3)
    assert moto["mean_km"] == pytest.approx(10_000.0)
    assert moto["standard_deviation_km"] == pytest.approx(200.0)
    assert moto["standard_error_km"] == pytest.approx(200.0 / math.sqrt(3))
    assert moto["precision"] == pytest.approx(1.645 * 200.0 / math.sqrt(3) / 10_000.0)
    assert moto["required_n"] == sample_size(4, 0.02, 0.10, 1.645) == 1
    assert moto["precision_met"] is True
    assert moto["credit_km_per_year"] == pytest.approx(10_000.0)
    by_id = vehicles(result)
    for vehicle in ("VA", "VB"):
        assert by_id[vehicle]["sampled_km"] == pytest.approx(10_000.0)
        assert by_id[vehicle]["final_km"] == pytest.approx(10_000.0)
        assert by_id[vehicle]["operating"] is True
        assert by_id[vehicle]["be_t"] > 0
    # Records for the first half of the year only credit the first half.
    assert by_id["VC"]["sampled_km"] == pytest.approx(10_000.0 * 181 / 365)
    assert by_id["VD"]["final_km"] == pytest.approx(10_000.0 * 183 / 365)
    assert by_id["VN"]["final_km"] == 0.0
    assert by_id["VT"]["sampled_km"] == 0.0
    assert by_id["VT"]["final_km"] == pytest.approx(1200.0)


def test_imprecise_sample_credits_the_lower_bound(result: PipelineResult) -> None:
    scooter = categories(result)["e_scooter"]
    sd = statistics.stdev([6_000.0, 8_000.0])
    assert scooter["sample_n"] == 2
    assert scooter["precision"] == pytest.approx(1.645 * 1_000.0 / 7_000.0)
    assert scooter["required_n"] == sample_size(2, sd / 7_000.0, 0.10, 1.645) == 2
    assert scooter["precision_met"] is False
    assert scooter["credit_km_per_year"] == pytest.approx(7_000.0 - 1.645 * 1_000.0)
    assert vehicles(result)["VS1"]["final_km"] == pytest.approx(5_355.0)


def test_survey_quality_rules(staged: Path) -> None:
    rows = pq.read_table(staged / "detail" / "quarantine.parquet").to_pylist()
    found = sorted(
        (r["reason"], r["detail"]) for r in rows if r["record_type"] == "odometer_surveys"
    )
    assert [reason for reason, _ in found] == [
        "duplicate_key",
        "odometer_decrease",
        "unknown_vehicle",
    ]
    assert ("odometer_decrease", "400.0") in found


def test_figures_and_flags(result: PipelineResult) -> None:
    figures, flags = summarise(result, PARAMS)
    assert figures.sampled_vehicles == 5
    assert figures.sampling_credited_vehicles == 6
    expected_km = 2 * 10_000.0 + 10_000.0 * (181 + 183) / 365 + 2 * 5_355.0
    assert figures.sampling_credited_km == pytest.approx(expected_km)
    assert figures.distance_km == pytest.approx(expected_km + 1200.0)
    assert flags["sampling_precision_not_met"] == 1
    # Survey-credited vehicles count as credited without telematics.
    assert figures.telematics_coverage == pytest.approx(1 / 7)
    assert flags["telematics_coverage_low"] == 1


def test_energy_cap_scales_surveyed_distance(tmp_path: Path) -> None:
    _stage(tmp_path, sampling_fleet(energy_kwh=500.0))
    capped = run_pipeline(tmp_path / "stage", PARAMS, 2025)
    (segment,) = capped.segments.to_pylist()
    assert segment["flag_sec_below_min"] is True
    scale = (500.0 / 0.03) / segment["distance_km"]
    assert segment["scale"] == pytest.approx(scale)
    va = vehicles(capped)["VA"]
    assert va["sampled_km"] == pytest.approx(10_000.0)
    assert va["final_km"] == pytest.approx(10_000.0 * scale)


def test_without_surveys_vehicles_without_telematics_stay_at_zero(tmp_path: Path) -> None:
    _stage(tmp_path, sampling_fleet(with_surveys=False))
    plain = run_pipeline(tmp_path / "stage", PARAMS, 2025)
    by_id = vehicles(plain)
    assert all(row["final_km"] == 0.0 for vid, row in by_id.items() if vid != "VT")
    assert all(row["sample_n"] == 0 for row in plain.sampling.to_pylist())
    figures, flags = summarise(plain, PARAMS)
    assert figures.sampling_credited_km == 0.0
    assert "sampling_precision_not_met" not in flags


def test_frozen_run_records_and_reproduces_the_sampling(staged: Path, tmp_path: Path) -> None:
    run = calculate(staged / "data", PARAMS_PATH, 2025, freeze=True, runs_dir=tmp_path)
    document = run.to_json()
    assert [item["category"] for item in document["sampling"]] == ["e_motorcycle", "e_scooter"]
    assert pq.read_table(tmp_path / run.run_id / "sampling.parquet").num_rows == 2
    assert reproduce_run(tmp_path / run.run_id, staged / "data").reproduced
    notes = report_data_from_run(run.run_id, tmp_path).notes
    assert any("e_scooter: 2 of 2" in note and "lower bound" in note for note in notes)
    assert any("e_motorcycle: 3 of 4" in note and "sample mean" in note for note in notes)


@pytest.mark.spark
def test_spark_gives_the_same_sampling(staged: Path, result: PipelineResult, spark: Any) -> None:
    sparked = run_pipeline(staged / "stage", PARAMS, 2025, engine="spark", spark_session=spark)
    for name in ("vehicles", "segments", "sampling", "rejected"):
        left, right = getattr(result, name), getattr(sparked, name)
        assert left.schema.names == right.schema.names, name
        assert compare_tables(name, left, right) == []
    duck_figures, duck_flags = summarise(result, PARAMS)
    spark_figures, spark_flags = summarise(sparked, PARAMS)
    assert values_match(asdict(duck_figures), asdict(spark_figures))
    assert duck_flags == spark_flags

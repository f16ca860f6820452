"""Meter interval rule: interval energy against register increases per meter and local day.

Hand calculation (January 2025, tolerance 0.5 %, grid 0.60 × 1/(1-0.20) = 0.75 t/MWh):

- SA: register 0 → 100 (10 Jan) → 200 (20 Jan) → 250 (25 Jan) → 300 (31 Jan);
  intervals -, 100.4 (0.4 %: inside), 101.0 (1 %: mismatch, the higher 101
  counts), 45 (10 % low: mismatch, the register's 50 counts), none (not
  checked). Energy 100 + 101 + 50 + 50 = 301 kWh, two mismatching days.
- SB: 40 (5 Jan) → 30 (6 Jan, a decrease, rejected) → 60 (7 Jan); the rejected
  reading's interval 10 and the next one's 10 span the 20 kWh increase: no
  mismatch although 10 ≠ 20 on 7 January.
- SC: three readings on 15 January (08:00, 16:00, 23:00 local) of 10 kWh each
  with intervals 10.6, 9.4 and none: each interval is 6 % off, the day's 20
  against the 20 it covers is not; the third increase is not checked.
- SD: readings at 23:00 local on 9 January and at 00:30 and 23:00 local on 10
  January (both 10 January locally, but 9 and 10 January in UTC): intervals
  6 and 19 against increases of 5 and 20 match per local day (25 = 25), not
  per UTC day.
- SE: 0 → 100 on 10 January with interval 110 (mismatch: 110), and a
  calibration on 5 February failing by 3 % (class 1 %): 110 × 1.03 = 113.3.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mrv_builder import DatasetBuilder, drive, utc

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline
from article6.mrv.runs import compare_tables, summarise

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
GRID_T_PER_MWH = 0.60 / 0.8


def interval_fleet() -> DatasetBuilder:
    b = DatasetBuilder()
    b.battery("B-IN").battery("B-OUT")
    b.station("SA").meter("MA", "SA")
    b.meter_reading("MA", "2024-12-31", 0.0)
    b.meter_reading("MA", "2025-01-10", 100.0, interval_kwh=100.4)
    b.meter_reading("MA", "2025-01-20", 200.0, interval_kwh=101.0)
    b.meter_reading("MA", "2025-01-25", 250.0, interval_kwh=45.0)
    b.meter_reading("MA", "2025-01-31", 300.0)
    b.station("SB").meter("MB", "SB")
    b.meter_reading("MB", "2024-12-31", 0.0)
    b.meter_reading("MB", "2025-01-05", 40.0, interval_kwh=40.0)
    b.meter_reading("MB", "2025-01-06", 30.0, interval_kwh=10.0)
    b.meter_reading("MB", "2025-01-07", 60.0, interval_kwh=10.0)
    b.station("SC").meter("MC", "SC")
    b.meter_reading("MC", "2025-01-14", 0.0)
    b.meter_reading("MC", "2025-01-15", 10.0, hour=8, interval_kwh=10.6)
    b.meter_reading("MC", "2025-01-15", 20.0, hour=16, interval_kwh=9.4)
    b.meter_reading("MC", "2025-01-15", 30.0, hour=23)
    b.station("SD").meter("MD", "SD")
    b.meter_reading("MD", "2025-01-09", 0.0)
    b.rows["meter_readings"].append(
        {
            "meter_id": "MD",
            "ts": utc("2025-01-10", 0, 30),
            "cumulative_kwh": 5.0,
            "interval_kwh": 6.0,
        }
    )
    b.meter_reading("MD", "2025-01-10", 25.0, interval_kwh=19.0)
    b.station("SE").meter("ME", "SE")
    b.calibration("ME", "2025-02-05", 3.0, False)
    b.meter_reading("ME", "2024-12-31", 0.0)
    b.meter_reading("ME", "2025-01-10", 100.0, interval_kwh=110.0)
    b.vehicle("VS")
    drive(b, "VS", km_per_day=20.0, swap_days=())
    for number, station in enumerate(("SA", "SB", "SC", "SD", "SE")):
        b.swap(f"E-{station}", station, "VS", f"2025-01-{number + 3:02d}")
    return b


def _run(tmp: Path, params: Any = PARAMS, **engine: Any) -> PipelineResult:
    data = tmp / "data"
    if not data.exists():
        interval_fleet().write(data)
        ingest_dataset(data, tmp / "stage")
    return run_pipeline(tmp / "stage", params, 2025, **engine)


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("interval")
    _run(tmp)
    return tmp


@pytest.fixture(scope="module")
def result(staged: Path) -> PipelineResult:
    return _run(staged)


def stations(result: PipelineResult) -> dict[str, dict[str, Any]]:
    return {row["station_id"]: row for row in result.stations.to_pylist()}


def test_mismatching_days_flagged_and_the_higher_value_counts(result: PipelineResult) -> None:
    sa = stations(result)["SA"]
    assert sa["metered_raw_kwh"] == pytest.approx(300.0)
    assert sa["interval_mismatch_days"] == 2
    assert sa["interval_excess_kwh"] == pytest.approx(1.0)
    assert sa["metered_kwh"] == pytest.approx(301.0)
    assert sa["energy_kwh"] == pytest.approx(301.0)
    assert sa["pe_t"] == pytest.approx(0.301 * GRID_T_PER_MWH)


def test_rejected_reading_interval_belongs_to_the_spanning_increase(
    result: PipelineResult,
) -> None:
    sb = stations(result)["SB"]
    assert sb["metered_raw_kwh"] == pytest.approx(60.0)
    assert sb["interval_mismatch_days"] == 0
    assert sb["energy_kwh"] == pytest.approx(60.0)


def test_sums_per_day_only_where_intervals_are_present(result: PipelineResult) -> None:
    sc = stations(result)["SC"]
    assert sc["interval_mismatch_days"] == 0
    assert sc["energy_kwh"] == pytest.approx(30.0)


def test_days_are_local_days(result: PipelineResult) -> None:
    sd = stations(result)["SD"]
    assert sd["interval_mismatch_days"] == 0
    assert sd["energy_kwh"] == pytest.approx(25.0)


def test_calibration_adjustment_applies_to_the_higher_value(result: PipelineResult) -> None:
    se = stations(result)["SE"]
    assert se["metered_raw_kwh"] == pytest.approx(100.0)
    assert se["interval_mismatch_days"] == 1
    assert se["calibration_adjusted"] is True
    assert se["metered_kwh"] == pytest.approx(110.0 * 1.03)


def test_run_flags_count_mismatching_meter_days(result: PipelineResult) -> None:
    _, flags = summarise(result, PARAMS)
    assert flags["meter_interval_mismatch"] == 3


def test_tolerance_is_a_parameter(staged: Path) -> None:
    loose = _run(staged, replace(PARAMS, meter_interval_tolerance_pct=1.5))
    sa = stations(loose)["SA"]
    assert sa["interval_mismatch_days"] == 1  # only the 10 % day
    assert sa["energy_kwh"] == pytest.approx(300.0)
    _, flags = summarise(loose, PARAMS)
    assert flags["meter_interval_mismatch"] == 2


def test_files_without_intervals_are_not_checked(tmp_path: Path) -> None:
    builder = interval_fleet()
    for row in builder.rows["meter_readings"]:
        row["interval_kwh"] = None
    builder.write(tmp_path / "data")
    ingest_dataset(tmp_path / "data", tmp_path / "stage")
    plain = run_pipeline(tmp_path / "stage", PARAMS, 2025)
    by_id = stations(plain)
    assert by_id["SA"]["energy_kwh"] == pytest.approx(300.0)
    assert all(row["interval_mismatch_days"] == 0 for row in by_id.values())
    assert "meter_interval_mismatch" not in summarise(plain, PARAMS)[1]


@pytest.mark.spark
def test_spark_gives_the_same_stations(staged: Path, result: PipelineResult, spark: Any) -> None:
    sparked = _run(staged, engine="spark", spark_session=spark)
    assert sparked.stations.schema.names == result.stations.schema.names
    assert compare_tables("stations", result.stations, sparked.stations) == []
    assert summarise(sparked, PARAMS)[1] == summarise(result, PARAMS)[1]

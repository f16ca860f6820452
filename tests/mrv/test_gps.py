"""GPS distance: haversine, boundary, jumps, implausible speed, odometer cross-check.

VG reads its odometer at 40 km a day on 1-5 January. Pings move north by
0.005° of latitude a minute (about 0.556 km, 33 km/h):

- 3 January, 10 pings: 5.0 km by GPS against 40 km by odometer, beyond the
  5 % tolerance, so the lower (GPS) wins and the day is flagged;
- 4 January, 73 pings: 40.03 km, within tolerance of the odometer (40 km);
  plus a 10 km jump within a minute, a ping outside Cambodia and a 3 km hop in
  two minutes (90 km/h on an 80 km/h model), all rejected;
- 6 January: pings only (no reading), so GPS gives the day's distance.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mrv_builder import DatasetBuilder, drive, utc

from article6.mrv.distance import EARTH_RADIUS_KM
from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
STEP_DEG = 0.005
LAT0, LON0 = 11.5, 104.9
Outcome = tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]


def step_km() -> float:
    dlat = math.radians(STEP_DEG)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(math.sin(dlat / 2) ** 2))


def track(b: DatasetBuilder, day: str, count: int) -> None:
    start = utc(day, 9)
    for index in range(count):
        b.ping("D-VG", start + timedelta(minutes=index), LAT0 + STEP_DEG * index, LON0)


def gps_fleet() -> DatasetBuilder:
    b = DatasetBuilder()
    b.station("S1").meter("M1", "S1").battery("B-IN").battery("B-OUT")
    b.meter_reading("M1", "2024-12-31", 0.0).meter_reading("M1", "2025-01-31", 10.0)
    b.vehicle("VG")
    drive(b, "VG", days=range(1, 6), swap_days=(2, 6))
    track(b, "2025-01-03", 10)
    track(b, "2025-01-04", 73)
    last = utc("2025-01-04", 9) + timedelta(minutes=72)
    b.ping("D-VG", utc("2025-01-04", 9, 30, 30), LAT0 + 0.09 + STEP_DEG * 30, LON0)
    b.ping("D-VG", last + timedelta(minutes=2), LAT0 + STEP_DEG * 72 + 0.027, LON0)
    b.ping("D-VG", utc("2025-01-04", 23), 20.0, LON0)
    track(b, "2025-01-06", 10)
    return b


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    tmp = tmp_path_factory.mktemp("gps")
    data = gps_fleet().write(tmp / "data", "parquet")
    ingest_dataset(data, tmp / "stage")
    run_pipeline(tmp / "stage", PARAMS, 2025, detail_dir=tmp / "detail")
    daily = pq.read_table(tmp / "detail" / "daily.parquet").to_pylist()
    days = {int(r["day"]) - 20088: r for r in daily}
    rejected = pq.read_table(tmp / "detail" / "quarantine.parquet").to_pylist()
    return days, rejected


def test_lower_wins_beyond_tolerance(outcome: Outcome) -> None:
    days, _ = outcome
    assert days[3]["distance_km"] == pytest.approx(9 * step_km())
    assert days[3]["gps_mismatch"] is True
    assert days[3]["source"] == "gps"


def test_odometer_kept_within_tolerance_after_rejections(outcome: Outcome) -> None:
    days, rejected = outcome
    assert 72 * step_km() == pytest.approx(40.03, abs=0.01)
    assert days[4]["distance_km"] == pytest.approx(40.0)
    assert days[4]["gps_mismatch"] is False
    reasons = sorted(r["reason"] for r in rejected if r["record_type"] == "gps_pings")
    # The jump ping and the ping right after it (back, within a minute) are both jumps.
    assert reasons == ["gps_jump", "gps_jump", "implausible_speed", "outside_boundary"]


def test_gps_only_day_uses_gps(outcome: Outcome) -> None:
    days, _ = outcome
    assert days[6]["distance_km"] == pytest.approx(9 * step_km())
    assert days[6]["source"] == "gps"
    assert days[2]["source"] == "odometer" and days[5]["distance_km"] == pytest.approx(40.0)

"""Station energy rules (meters, calibration E10, invoices, non-project sessions),
segment attribution, the energy-consistency cap (E2) and project emissions (E5).

Hand calculation (January 2025, grid factor 0.60 × 1/(1-0.20) = 0.75 t/MWh):

- S1 swap cabinet: 0 → 15 → (12 rejected) → 30 kWh; invoice 36 kWh is 16.7 % off,
  so the higher 36 kWh counts: PE 0.027 t.
- S2 charger: 0 → 200 kWh; calibration on 5 Feb finds +3 % (class 1 %), so
  206 kWh; a 50 kWh session of a non-project vehicle is taken out: 156 kWh, 0.117 t.
- S3 diesel cabinet: 4 kWh × 1.3 t/MWh = 0.0052 t. S6 off-grid solar: 2 kWh, 0 t.
- S7 cabinet never calibrated: 5 kWh, 0.00375 t, one uncalibrated day.
- S4 is under another programme (excluded), S5 served no project vehicle (0).
- Swap segment: 36 + 4 + 2 + 5 = 47 kWh caps distance at 47 / 0.03 = 1,566.67 km
  while VS drove 30 × 55 = 1,650 km: scale 0.9495. Fixed segment: 156 kWh over
  900 km is 0.173 kWh/km, above SEC_max: flagged.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mrv_builder import DatasetBuilder, drive

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")
GRID_T_PER_MWH = 0.60 / 0.8
Result = tuple[PipelineResult, Path]


def energy_fleet() -> DatasetBuilder:
    b = DatasetBuilder()
    b.battery("B-IN").battery("B-OUT")
    b.station("S1").meter("M1", "S1").meter("M1PV", "S1", role="pv_generation")
    for meter, day, kwh in [
        ("M1", "2024-12-31", 0.0),
        ("M1", "2025-01-15", 15.0),
        ("M1", "2025-01-20", 12.0),
        ("M1", "2025-01-31", 30.0),
        ("M1PV", "2024-12-31", 0.0),
        ("M1PV", "2025-01-31", 1000.0),
    ]:
        b.meter_reading(meter, day, kwh)
    b.invoice("S1", "2025-01-01", "2025-01-31", 36.0)
    b.station("S2", kind="ac_charger", serves_non_project=True).meter("M2", "S2")
    b.calibration("M2", "2025-02-05", 3.0, False)
    b.meter_reading("M2", "2024-12-31", 0.0).meter_reading("M2", "2025-01-31", 200.0)
    b.invoice("S2", "2025-01-01", "2025-01-31", 205.0)
    b.charge("C-NP", "S2", None, "2025-01-10", 50.0)
    b.station("S3", supply="diesel").meter("M3", "S3")
    b.meter_reading("M3", "2024-12-31", 0.0).meter_reading("M3", "2025-01-31", 4.0)
    b.station("S4", other_programme_id="VCS-1").meter("M4", "S4")
    b.meter_reading("M4", "2024-12-31", 0.0).meter_reading("M4", "2025-01-31", 999.0)
    b.station("S5").meter("M5", "S5")
    b.meter_reading("M5", "2024-12-31", 0.0).meter_reading("M5", "2025-01-31", 80.0)
    b.station("S6", supply="offgrid_pv").meter("M6", "S6")
    b.meter_reading("M6", "2024-12-31", 0.0).meter_reading("M6", "2025-01-31", 2.0)
    b.station("S7").meter("M7", "S7", calibrated=None)
    b.meter_reading("M7", "2024-12-31", 0.0).meter_reading("M7", "2025-01-31", 5.0)
    b.meter_reading("M-GHOST", "2025-01-31", 5.0)
    b.vehicle("VS")
    drive(b, "VS", km_per_day=55.0)
    b.swap("E-S3", "S3", "VS", "2025-01-03").swap("E-S6", "S6", "VS", "2025-01-04")
    b.swap("E-S7", "S7", "VS", "2025-01-06").swap("E-S4", "S4", "VS", "2025-01-07")
    b.vehicle("VF", battery_mode="fixed")
    drive(b, "VF", km_per_day=30.0, swap_days=())
    for day in range(2, 32, 3):
        b.charge(f"C-VF-{day}", "S2", "VF", f"2025-01-{day:02d}", 4.0)
    return b


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Result:
    tmp = tmp_path_factory.mktemp("energy")
    data = energy_fleet().write(tmp / "data")
    ingest_dataset(data, tmp / "stage")
    return run_pipeline(tmp / "stage", PARAMS, 2025, detail_dir=tmp / "detail"), tmp / "detail"


def stations(result: Result) -> dict[str, dict[str, object]]:
    return {row["station_id"]: row for row in result[0].stations.to_pylist()}


def quarantine(result: Result) -> list[tuple[str, str]]:
    rows = pq.read_table(result[1] / "quarantine.parquet").to_pylist()
    return sorted((r["record_type"], r["reason"]) for r in rows)


def test_meter_decrease_rejected_and_invoice_higher_wins(result: Result) -> None:
    s1 = stations(result)["S1"]
    assert s1["metered_kwh"] == pytest.approx(30.0)
    assert s1["invoice_mismatch"] is True
    assert s1["energy_kwh"] == pytest.approx(36.0)
    assert s1["pe_t"] == pytest.approx(0.036 * GRID_T_PER_MWH)
    assert ("meter_readings", "meter_decrease") in quarantine(result)


def test_calibration_error_raises_energy_and_non_project_sessions_removed(result: Result) -> None:
    s2 = stations(result)["S2"]
    assert s2["metered_raw_kwh"] == pytest.approx(200.0)
    assert s2["metered_kwh"] == pytest.approx(206.0)
    assert s2["calibration_adjusted"] is True
    assert s2["invoice_mismatch"] is False
    assert s2["non_project_kwh"] == pytest.approx(50.0)
    assert s2["energy_kwh"] == pytest.approx(156.0)


def test_supply_decides_the_factor(result: Result) -> None:
    by_id = stations(result)
    assert by_id["S3"]["pe_t"] == pytest.approx(0.004 * 1.3)
    assert by_id["S6"]["energy_kwh"] == pytest.approx(2.0)
    assert by_id["S6"]["pe_t"] == 0.0


def test_uncalibrated_days_counted(result: Result) -> None:
    by_id = stations(result)
    assert by_id["S7"]["uncalibrated_days"] == 1
    assert by_id["S1"]["uncalibrated_days"] == 0


def test_other_programme_station_and_idle_station_excluded(result: Result) -> None:
    by_id = stations(result)
    assert "S4" not in by_id
    assert by_id["S5"]["serves_project"] is False
    assert by_id["S5"]["energy_kwh"] == 0.0
    rejected = quarantine(result)
    assert ("stations", "other_programme") in rejected
    assert ("meters", "station_excluded") in rejected
    assert rejected.count(("meter_readings", "meter_excluded")) == 2
    assert ("meter_readings", "unknown_meter") in rejected
    assert ("swap_events", "station_excluded") in rejected


def test_energy_cap_scales_swap_segment(result: Result) -> None:
    segments = {row["segment"]: row for row in result[0].segments.to_pylist()}
    swap = segments["swap"]
    assert swap["energy_kwh"] == pytest.approx(47.0)
    assert swap["distance_km"] == pytest.approx(1650.0)
    assert swap["flag_sec_below_min"] is True
    assert swap["scale"] == pytest.approx((47.0 / 0.03) / 1650.0)
    vehicles = {row["vehicle_id"]: row for row in result[0].vehicles.to_pylist()}
    assert vehicles["VS"]["final_km"] == pytest.approx(47.0 / 0.03)
    fixed = segments["fixed"]
    assert fixed["energy_kwh"] == pytest.approx(156.0)
    assert fixed["flag_sec_above_max"] is True
    assert fixed["scale"] == 1.0
    assert vehicles["VF"]["final_km"] == pytest.approx(900.0)


def test_project_emissions_total(result: Result) -> None:
    total = sum(row["pe_t"] for row in result[0].stations.to_pylist())
    expected = (36 + 156 + 5) / 1000 * GRID_T_PER_MWH + 0.004 * 1.3
    assert total == pytest.approx(expected)

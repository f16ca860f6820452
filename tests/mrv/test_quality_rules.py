"""Every quality rule of the methodology, each broken by one vehicle of a small fleet.

The fleet (``faulty_fleet``) drives 40 km a day through January 2025 with a
reading at 20:00 local each day and a swap every third day; each vehicle other
than V_OK breaks one rule. Expected distances are counted by hand from that
pattern: 30 daily deltas (2-31 January) of 40 km = 1,200 km for a clean vehicle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from mrv_builder import faulty_fleet

from article6.mrv.ingest import ingest_dataset
from article6.mrv.params import load_parameter_set
from article6.mrv.pipeline import PipelineResult, run_pipeline

ROOT = Path(__file__).resolve().parents[2]
PARAMS = load_parameter_set(ROOT / "params" / "khm-emoto-v1.toml")


class Outcome:
    def __init__(self, result: PipelineResult, detail: Path) -> None:
        self.result = result
        self.vehicles = {row["vehicle_id"]: row for row in result.vehicles.to_pylist()}
        self.quarantine = pq.read_table(detail / "quarantine.parquet").to_pylist()
        self.daily = pq.read_table(detail / "daily.parquet").to_pylist()
        self.rejected_days = {
            row["reason"]: row["days"] for row in result.rejected_days.to_pylist()
        }

    def rejected(self, record_type: str, reason: str) -> list[dict[str, Any]]:
        return [
            r for r in self.quarantine if r["record_type"] == record_type and r["reason"] == reason
        ]

    def days(self, vehicle_id: str) -> dict[int, dict[str, Any]]:
        return {r["day"] - 20088: r for r in self.daily if r["vehicle_id"] == vehicle_id}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    tmp = tmp_path_factory.mktemp("faulty")
    data = faulty_fleet().write(tmp / "data")
    ingest_dataset(data, tmp / "stage")
    result = run_pipeline(tmp / "stage", PARAMS, 2025, detail_dir=tmp / "detail")
    return Outcome(result, tmp / "detail")


def test_clean_vehicle_hand_calculated(outcome: Outcome) -> None:
    v = outcome.vehicles["V_OK"]
    assert v["distance_km"] == pytest.approx(1200.0)
    assert v["final_km"] == pytest.approx(1200.0)
    assert v["imputed_km"] == 0.0
    assert v["operating"]
    ef = 0.022 * 0.74 * 44.3 * 69.3 * 0.99
    assert v["be_t"] == pytest.approx(ef * 1200.0 / 1e6)
    assert sorted(outcome.days("V_OK")) == list(range(2, 32))


def test_duplicate_vin_rejects_both(outcome: Outcome) -> None:
    rows = outcome.rejected("vehicles", "duplicate_vin")
    assert sorted(r["source_row"] for r in rows) == [3, 4]
    assert "V_VIN_A" not in outcome.vehicles and "V_VIN_B" not in outcome.vehicles
    assert len(outcome.rejected("swap_events", "vehicle_excluded")) >= 20


def test_duplicate_plate_rejects_both(outcome: Outcome) -> None:
    assert len(outcome.rejected("vehicles", "duplicate_plate")) == 2
    assert "V_PLATE_A" not in outcome.vehicles


def test_other_programme_vehicle_excluded(outcome: Outcome) -> None:
    (row,) = outcome.rejected("vehicles", "other_programme")
    assert row["column"] == "vin"
    assert "V_OTHER" not in outcome.vehicles


def test_unknown_category_rejected(outcome: Outcome) -> None:
    (row,) = outcome.rejected("vehicles", "unknown_category")
    assert row["detail"] == "e_truck"


def test_vehicle_without_er_rights_never_credits(outcome: Outcome) -> None:
    assert len(outcome.rejected("vehicles", "no_er_rights")) == 1
    assert "V_NORIGHTS" not in outcome.vehicles


def test_credit_only_from_er_rights_date(outcome: Outcome) -> None:
    # Days 16-31 count: 16 × 40 km; days 2-15 are rejected.
    assert outcome.vehicles["V_LATE"]["distance_km"] == pytest.approx(640.0)
    assert min(outcome.days("V_LATE")) == 16


def test_decommissioned_vehicle_zero_from_that_date(outcome: Outcome) -> None:
    # Stolen on 21 January: days 2-20 count (19 × 40 km).
    assert outcome.vehicles["V_STOLEN"]["distance_km"] == pytest.approx(760.0)
    assert max(outcome.days("V_STOLEN")) == 20


def test_no_credit_before_commissioning(outcome: Outcome) -> None:
    assert outcome.vehicles["V_NEW"]["distance_km"] == pytest.approx(840.0)
    # Window rejections: 14 (late rights) + 11 (stolen) + 9 (new) days.
    assert outcome.rejected_days["before_er_rights"] == 14
    assert outcome.rejected_days["outside_service_window"] == 11 + 9


def test_device_on_two_vehicles_voids_both_assignments(outcome: Outcome) -> None:
    rows = outcome.rejected("device_assignments", "device_overlap")
    assert len(rows) == 2
    unassigned = outcome.rejected("odometer_readings", "unassigned_device")
    devices = [r["detail"] for r in unassigned]
    assert devices.count("D-OVL") == 31
    assert devices.count("D-NOBODY") == 1
    # Readings of devices of rejected vehicles (7 vehicles × 31) have no assignment either.
    assert len(unassigned) == 31 + 1 + 7 * 31
    assert outcome.vehicles["V_OVL1"]["distance_km"] == 0.0
    assert not outcome.vehicles["V_OVL1"]["operating"]


def test_device_swap_with_offset_is_continuous(outcome: Outcome) -> None:
    v = outcome.vehicles["V_SWAP"]
    assert v["distance_km"] == pytest.approx(1200.0)
    assert outcome.days("V_SWAP")[16]["distance_km"] == pytest.approx(40.0)


def test_odometer_decrease_rejected_and_gap_bridged(outcome: Outcome) -> None:
    (row,) = outcome.rejected("odometer_readings", "odometer_decrease")
    assert row["detail"] == "100.0"
    v = outcome.vehicles["V_RESET"]
    assert v["distance_km"] == pytest.approx(1200.0)
    assert v["imputed_km"] == pytest.approx(40.0)
    days = outcome.days("V_RESET")
    assert days[10]["imputed"] and days[10]["source"] == "odometer_gap"
    assert not days[11]["imputed"]


def test_implausible_speed_rejected(outcome: Outcome) -> None:
    (row,) = outcome.rejected("odometer_readings", "implausible_speed")
    assert row["detail"] == "1260.0"
    assert outcome.vehicles["V_FAST"]["distance_km"] == pytest.approx(1200.0)


def test_daily_km_above_category_max_rejected(outcome: Outcome) -> None:
    assert outcome.rejected_days["daily_km_exceeded"] == 1
    assert outcome.vehicles["V_MAX"]["distance_km"] == pytest.approx(29 * 40.0)
    assert 15 not in outcome.days("V_MAX")


def test_operating_requires_activity_evidence(outcome: Outcome) -> None:
    v = outcome.vehicles["V_NOEV"]
    assert v["distance_km"] == pytest.approx(1200.0)
    assert v["flag_no_evidence"]
    assert v["credited_km"] == 0.0 and not v["operating"] and v["be_t"] == 0.0


def test_bracketed_gaps_imputed_and_flagged_above_ten_percent(outcome: Outcome) -> None:
    v = outcome.vehicles["V_GAPS"]
    assert v["distance_km"] == pytest.approx(1200.0)
    assert v["imputed_km"] == pytest.approx(240.0)
    assert v["imputed_share"] == pytest.approx(0.2)
    assert v["flag_imputed_high"] and not v["flag_imputed_zeroed"]
    assert v["final_km"] == pytest.approx(1200.0)


def test_evidence_fill_takes_lower_of_p10_and_energy(outcome: Outcome) -> None:
    # Swap on the 25th: 2 kWh × (100 % - 20 %) = 1.6 kWh at SEC_max 0.09 = 17.78 km,
    # lower than the 10th percentile of the previous observed days (40 km).
    fill_km = 1.6 / 0.09
    day = outcome.days("V_FILL")[25]
    assert day["source"] == "evidence_fill"
    assert day["distance_km"] == pytest.approx(fill_km)
    v = outcome.vehicles["V_FILL"]
    assert v["distance_km"] == pytest.approx(19 * 40.0 + fill_km)
    assert 23 not in outcome.days("V_FILL")


def test_imputed_share_above_thirty_percent_zeroed(outcome: Outcome) -> None:
    v = outcome.vehicles["V_ZERO"]
    fill_km = 1.6 / 0.09
    assert v["distance_km"] == pytest.approx(4 * 40.0 + 8 * fill_km)
    assert v["flag_imputed_zeroed"]
    assert v["credited_km"] == 0.0 and v["be_t"] == 0.0


def test_duplicate_keys_quarantined(outcome: Outcome) -> None:
    assert len(outcome.rejected("odometer_readings", "duplicate_key")) == 1
    (battery,) = outcome.rejected("batteries", "duplicate_key")
    assert battery["column"] == "battery_id"


def test_segment_energy_and_totals(outcome: Outcome) -> None:
    (segment,) = outcome.result.segments.to_pylist()
    credited = sum(v["credited_km"] for v in outcome.vehicles.values())
    assert segment["distance_km"] == pytest.approx(credited)
    assert segment["energy_kwh"] == pytest.approx(500.0)
    assert segment["scale"] == 1.0
    assert not segment["flag_sec_below_min"]
    (station,) = outcome.result.stations.to_pylist()
    assert station["pe_t"] == pytest.approx(0.5 * 0.60 / 0.8)

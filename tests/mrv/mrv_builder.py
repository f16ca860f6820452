"""A small hand-built monitoring dataset for MRV tests.

Tests describe a fleet in a few readable lines (a vehicle, its device, a
handful of odometer readings, a swap, a meter) and write it as CSV or Parquet
in the layout the ingestion expects. Defaults are chosen so that an added
vehicle is valid and credited unless the test breaks one rule on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from article6.mrv.schema import SCHEMAS

LOCAL_OFFSET = timedelta(hours=7)


def utc(day: date | str, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """A UTC instant for a local calendar day (hour in local time, UTC+7)."""
    local_day = date.fromisoformat(day) if isinstance(day, str) else day
    local = datetime(local_day.year, local_day.month, local_day.day, hour, minute, second)
    return (local - LOCAL_OFFSET).replace(tzinfo=UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


@dataclass
class DatasetBuilder:
    """Rows per record type, written in one call."""

    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in SCHEMAS}
    )

    def vehicle(
        self,
        vehicle_id: str,
        *,
        category: str = "e_motorcycle",
        battery_mode: str = "swap",
        vin: str | None = None,
        plate: str | None = None,
        top_speed_kmh: float = 80.0,
        er_rights: str | None = "2024-12-01",
        commission: str = "2024-12-01",
        decommission: str | None = None,
        reason: str | None = None,
        device_id: str | None = None,
        with_device: bool = True,
        offset_km: float = 0.0,
    ) -> DatasetBuilder:
        """A vehicle and (by default) a device assigned from commissioning on."""
        self.rows["vehicles"].append(
            {
                "vehicle_id": vehicle_id,
                "vin": vin or f"VIN-{vehicle_id}",
                "plate": plate or f"PP-{vehicle_id}",
                "model": "EM-1",
                "category": category,
                "rated_power_kw": 5.0,
                "top_speed_kmh": top_speed_kmh,
                "battery_mode": battery_mode,
                "owner_type": "private_sale",
                "er_rights_signed_date": d(er_rights) if er_rights else None,
                "commission_date": d(commission),
                "decommission_date": d(decommission) if decommission else None,
                "decommission_reason": reason,
                "province": "Phnom Penh",
            }
        )
        if with_device:
            self.assign(device_id or f"D-{vehicle_id}", vehicle_id, "2024-11-01", None, offset_km)
        return self

    def assign(
        self,
        device_id: str,
        vehicle_id: str,
        valid_from: str,
        valid_to: str | None,
        offset_km: float = 0.0,
    ) -> DatasetBuilder:
        self.rows["device_assignments"].append(
            {
                "device_id": device_id,
                "vehicle_id": vehicle_id,
                "valid_from": utc(valid_from, 0),
                "valid_to": utc(valid_to, 0) if valid_to else None,
                "odometer_offset_km": offset_km,
            }
        )
        return self

    def odometer(self, device_id: str, day: str, km: float, hour: int = 20) -> DatasetBuilder:
        self.rows["odometer_readings"].append(
            {"device_id": device_id, "ts": utc(day, hour), "odometer_km": km}
        )
        return self

    def daily_odometer(
        self, device_id: str, start: str, days: int, km_per_day: float, start_km: float = 0.0
    ) -> DatasetBuilder:
        """One reading at 20:00 local on each of `days` days, the first at `start_km`."""
        first = d(start)
        for index in range(days):
            self.odometer(device_id, (first + timedelta(days=index)).isoformat(), start_km)
            start_km += km_per_day
        return self

    def ping(
        self, device_id: str, ts: datetime, lat: float, lon: float, speed_kmh: float = 30.0
    ) -> DatasetBuilder:
        self.rows["gps_pings"].append(
            {
                "device_id": device_id,
                "ts": ts,
                "lat": lat,
                "lon": lon,
                "speed_kmh": speed_kmh,
                "soc_pct": 50.0,
            }
        )
        return self

    def battery(self, battery_id: str, capacity_kwh: float = 2.0) -> DatasetBuilder:
        self.rows["batteries"].append(
            {
                "battery_id": battery_id,
                "capacity_kwh": capacity_kwh,
                "commission_date": d("2024-11-01"),
                "status": "in_service",
            }
        )
        return self

    def station(
        self,
        station_id: str,
        *,
        kind: str = "swap_cabinet",
        supply: str = "grid",
        serves_non_project: bool = False,
        other_programme_id: str | None = None,
        lat: float = 11.55,
        lon: float = 104.92,
    ) -> DatasetBuilder:
        self.rows["stations"].append(
            {
                "station_id": station_id,
                "kind": kind,
                "lat": lat,
                "lon": lon,
                "supply": supply,
                "commission_date": d("2024-11-01"),
                "decommission_date": None,
                "serves_non_project": serves_non_project,
                "other_programme_id": other_programme_id,
            }
        )
        return self

    def meter(
        self,
        meter_id: str,
        station_id: str,
        role: str = "grid_import",
        accuracy_class_pct: float = 1.0,
        calibrated: str | None = "2024-11-15",
    ) -> DatasetBuilder:
        self.rows["meters"].append(
            {
                "meter_id": meter_id,
                "station_id": station_id,
                "role": role,
                "accuracy_class_pct": accuracy_class_pct,
            }
        )
        if calibrated:
            self.calibration(meter_id, calibrated, 0.2, True)
        return self

    def calibration(
        self, meter_id: str, day: str, error_pct: float, passed: bool
    ) -> DatasetBuilder:
        self.rows["meter_calibrations"].append(
            {"meter_id": meter_id, "date": d(day), "error_pct": error_pct, "passed": passed}
        )
        return self

    def meter_reading(
        self,
        meter_id: str,
        day: str,
        kwh: float,
        hour: int = 23,
        interval_kwh: float | None = None,
    ) -> DatasetBuilder:
        """A cumulative register reading, optionally with the meter's own interval energy."""
        self.rows["meter_readings"].append(
            {
                "meter_id": meter_id,
                "ts": utc(day, hour),
                "cumulative_kwh": kwh,
                "interval_kwh": interval_kwh,
            }
        )
        return self

    def swap(
        self,
        event_id: str,
        station_id: str,
        vehicle_id: str,
        day: str,
        soc_out_pct: float = 20.0,
        soc_in_pct: float = 100.0,
        battery_in_id: str = "B-IN",
        hour: int = 9,
    ) -> DatasetBuilder:
        self.rows["swap_events"].append(
            {
                "event_id": event_id,
                "station_id": station_id,
                "vehicle_id": vehicle_id,
                "battery_out_id": "B-OUT",
                "battery_in_id": battery_in_id,
                "ts": utc(day, hour),
                "soc_out_pct": soc_out_pct,
                "soc_in_pct": soc_in_pct,
            }
        )
        return self

    def charge(
        self,
        session_id: str,
        station_id: str,
        vehicle_id: str | None,
        day: str,
        energy_kwh: float,
    ) -> DatasetBuilder:
        self.rows["charge_sessions"].append(
            {
                "session_id": session_id,
                "station_id": station_id,
                "vehicle_id": vehicle_id,
                "ts_start": utc(day, 8),
                "ts_end": utc(day, 10),
                "energy_kwh": energy_kwh,
            }
        )
        return self

    def invoice(self, station_id: str, start: str, end: str, kwh: float) -> DatasetBuilder:
        self.rows["utility_invoices"].append(
            {
                "station_id": station_id,
                "period_start": d(start),
                "period_end": d(end),
                "kwh_billed": kwh,
            }
        )
        return self

    def other_programme(
        self, programme_id: str, vin: str | None = None, plate: str | None = None
    ) -> DatasetBuilder:
        self.rows["other_programme_vehicles"].append(
            {"programme_id": programme_id, "vin": vin, "plate": plate}
        )
        return self

    def table(self, record_type: str) -> pa.Table:
        schema = SCHEMAS[record_type]
        arrow = pa.schema(
            [
                pa.field(
                    c.name,
                    pa.timestamp("us", tz="UTC") if c.kind == "timestamp" else c.arrow_type,
                )
                for c in schema.columns
            ]
        )
        return pa.Table.from_pylist(self.rows[record_type], schema=arrow)

    def write(self, out_dir: Path, fmt: str = "csv", skip_empty: bool = True) -> Path:
        """Write one file per record type; empty optional types are left out."""
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, schema in SCHEMAS.items():
            if skip_empty and not self.rows[name] and not schema.required:
                continue
            table = self.table(name)
            if fmt == "parquet":
                pq.write_table(table, out_dir / f"{name}.parquet")
            else:
                (out_dir / f"{name}.csv").write_text(to_csv(table), encoding="utf-8")
        return out_dir


def to_csv(table: pa.Table) -> str:
    """CSV text with ISO 8601 UTC timestamps (`Z`), ISO dates and lower-case booleans."""
    lines = [",".join(table.column_names)]
    for row in table.to_pylist():
        cells = []
        for value in row.values():
            if value is None:
                cells.append("")
            elif isinstance(value, datetime):
                cells.append(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            else:
                cells.append(str(value))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def basic_fleet() -> DatasetBuilder:
    """Two swap vehicles driving 40 and 30 km/day through January 2025, one station.

    V1 drives 40 km/day and V2 30 km/day for 31 days of readings (30 daily
    deltas each in January, the first reading is on 1 January). The station
    meter reads 0 kWh on 31 Dec 2024 and 100 kWh on 31 Jan 2025.
    """
    builder = DatasetBuilder()
    builder.vehicle("V1").vehicle("V2")
    builder.daily_odometer("D-V1", "2025-01-01", 31, 40.0, start_km=1000.0)
    builder.daily_odometer("D-V2", "2025-01-01", 31, 30.0, start_km=500.0)
    builder.station("S1").meter("M1", "S1")
    builder.meter_reading("M1", "2024-12-31", 0.0).meter_reading("M1", "2025-01-31", 100.0)
    builder.battery("B-IN").battery("B-OUT")
    for day in range(2, 32, 3):
        builder.swap(f"E1-{day}", "S1", "V1", f"2025-01-{day:02d}")
        builder.swap(f"E2-{day}", "S1", "V2", f"2025-01-{day:02d}")
    return builder


SWAP_DAYS = tuple(range(2, 32, 3))


def drive(
    builder: DatasetBuilder,
    vehicle_id: str,
    days: range = range(1, 32),
    km_per_day: float = 40.0,
    swap_days: tuple[int, ...] = SWAP_DAYS,
    device_id: str | None = None,
    start_km: float = 1000.0,
) -> DatasetBuilder:
    """January 2025 readings at 20:00 local (km grows by km_per_day a day) and swaps."""
    device = device_id or f"D-{vehicle_id}"
    for day in days:
        builder.odometer(device, f"2025-01-{day:02d}", start_km + km_per_day * (day - 1))
    for day in swap_days:
        builder.swap(f"E-{vehicle_id}-{day}", "S1", vehicle_id, f"2025-01-{day:02d}")
    return builder


def faulty_fleet() -> DatasetBuilder:
    """One vehicle per quality rule, next to a clean vehicle (see test_quality_rules)."""
    b = DatasetBuilder()
    b.station("S1").meter("M1", "S1").battery("B-IN").battery("B-OUT")
    b.meter_reading("M1", "2024-12-31", 0.0).meter_reading("M1", "2025-01-31", 500.0)
    b.vehicle("V_OK")
    drive(b, "V_OK")
    b.vehicle("V_VIN_A", vin="VIN-SAME").vehicle("V_VIN_B", vin="VIN-SAME")
    drive(drive(b, "V_VIN_A"), "V_VIN_B")
    b.vehicle("V_PLATE_A", plate="PP-SAME").vehicle("V_PLATE_B", plate="PP-SAME")
    drive(drive(b, "V_PLATE_A"), "V_PLATE_B")
    b.vehicle("V_OTHER", vin="VIN-ELSEWHERE").other_programme("GCC-42", vin="VIN-ELSEWHERE")
    drive(b, "V_OTHER")
    b.vehicle("V_CAT", category="e_truck")
    drive(b, "V_CAT")
    b.vehicle("V_NORIGHTS", er_rights=None)
    drive(b, "V_NORIGHTS")
    b.vehicle("V_LATE", er_rights="2025-01-16")
    drive(b, "V_LATE")
    b.vehicle("V_STOLEN", decommission="2025-01-21", reason="stolen")
    drive(b, "V_STOLEN")
    b.vehicle("V_NEW", commission="2025-01-11")
    drive(b, "V_NEW")
    # One device on two vehicles at once: both assignments are void.
    b.vehicle("V_OVL1", device_id="D-OVL").vehicle("V_OVL2", with_device=False)
    b.assign("D-OVL", "V_OVL2", "2025-01-10", None)
    drive(b, "V_OVL1", device_id="D-OVL")
    # Device swap on 16 January: the new device starts at 0, offset 5600 km.
    b.vehicle("V_SWAP", with_device=False)
    b.assign("D-A", "V_SWAP", "2024-11-01", "2025-01-16").assign(
        "D-B", "V_SWAP", "2025-01-16", None, offset_km=5600.0
    )
    drive(b, "V_SWAP", days=range(1, 16), device_id="D-A", start_km=5000.0)
    drive(b, "V_SWAP", days=range(16, 32), device_id="D-B", start_km=-600.0, swap_days=())
    # A reset to 100 km on 10 January is rejected; the gap is bridged.
    b.vehicle("V_RESET")
    drive(b, "V_RESET", days=range(1, 10))
    b.odometer("D-V_RESET", "2025-01-10", 100.0)
    drive(b, "V_RESET", days=range(11, 32), swap_days=())
    # A reading 100 km further 30 minutes later: 200 km/h on an 80 km/h model.
    b.vehicle("V_FAST")
    drive(b, "V_FAST")
    b.rows["odometer_readings"].append(
        {"device_id": "D-V_FAST", "ts": utc("2025-01-05", 20, 30), "odometer_km": 1260.0}
    )
    # 350 km on 15 January on a scooter (max 300 km/day).
    b.vehicle("V_MAX", category="e_scooter")
    drive(b, "V_MAX", days=range(1, 15))
    drive(b, "V_MAX", days=range(15, 32), start_km=1310.0, swap_days=())
    b.vehicle("V_NOEV")
    drive(b, "V_NOEV", swap_days=())
    # Two 3-day gaps bracketed by readings: 240 of 1200 km imputed (20 %).
    b.vehicle("V_GAPS")
    drive(b, "V_GAPS", days=range(1, 11))
    drive(b, "V_GAPS", days=range(14, 21), swap_days=())
    drive(b, "V_GAPS", days=range(24, 32), swap_days=())
    # Readings stop after 20 January; a swap on the 25th is evidence only.
    b.vehicle("V_FILL")
    drive(b, "V_FILL", days=range(1, 21), swap_days=(2, 5, 8, 11, 14, 17, 20, 25))
    # Readings stop after 5 January; eight later swaps: imputed share > 30 %.
    b.vehicle("V_ZERO")
    drive(b, "V_ZERO", days=range(1, 6), swap_days=(2, 5, 8, 11, 14, 17, 20, 23, 26, 29))
    # A reading whose device has no assignment, and a duplicate reading.
    b.odometer("D-NOBODY", "2025-01-03", 10.0)
    b.rows["odometer_readings"].append(dict(b.rows["odometer_readings"][0]))
    # Battery IDs must be unique.
    b.battery("B-IN", capacity_kwh=9.0)
    return b

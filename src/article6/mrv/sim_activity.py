"""Daily activity of a chunk of simulated vehicles, as whole-array operations.

For a chunk of `n` vehicles and `D` days the generator holds `n × D` arrays:
true daily distance, energy drawn from the battery and the cumulative
odometer. Battery swaps and charging sessions follow from the energy: a swap
happens each time the cumulative energy crosses another multiple of the
battery's usable energy, so swap counts are a difference of floors and need no
loop over days. Station energy is accumulated per station and day, which later
drives the cumulative meter readings, so meters, swaps and distance agree.

Faults of the plan are applied to the reported odometer, never to the true
distance: a glitching device does not make the battery drain faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from article6.mrv.sim_faults import NO_FAULT, FaultPlan
from article6.mrv.sim_fleet import (
    FIXED_BATTERY_CAPACITY_KWH,
    MODELS,
    SWAP_BATTERY_CAPACITY_KWH,
    Fleet,
    Stations,
)

LOCAL_UTC_OFFSET_S = 7 * 3600  # Asia/Phnom_Penh has no daylight saving time
US_PER_S = 1_000_000
# Per owner type (private, private, commercial): a clean day stays below 80 % of
# it, and so below the 300 km plausibility limit of every category.
MAX_DAILY_KM = (300.0, 300.0, 375.0)
SOC_IN_MEAN_PCT = 97.5
SOC_OUT_MEAN_PCT = 18.0
STATION_CHARGE_EFFICIENCY = 0.90
SHARE_CHARGED_AT_PROJECT_CHARGERS = 0.85
CHARGER_POWER_KW = (0.0, 3.3, 20.0)  # per station kind


@dataclass
class ChunkTable:
    """A table for one record type plus the rows in it that carry injected faults."""

    record_type: str
    table: pa.Table
    fault_rows: list[tuple[str, int, str]] = field(default_factory=list)  # kind, row, vehicle


def day0_local_midnight_us(start: date) -> int:
    """UTC microseconds of local midnight at the start of day 0."""
    midnight = datetime(start.year, start.month, start.day, tzinfo=UTC)
    return int(midnight.timestamp()) * US_PER_S - LOCAL_UTC_OFFSET_S * US_PER_S


def id_array(prefix: str, numbers: NDArray[np.int64], width: int) -> pa.Array:
    """Identifiers like `D0000042` for millions of rows at C speed."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def timestamps(values_us: NDArray[np.int64]) -> pa.Array:
    return pa.array(values_us, pa.timestamp("us", tz="UTC"))


class VehicleChunk:
    """Distance, energy and devices of vehicles `lo .. hi-1` over the whole window."""

    def __init__(
        self,
        rng: np.random.Generator,
        fleet: Fleet,
        stations: Stations,
        plan: FaultPlan,
        lo: int,
        hi: int,
        start: date,
        days: int,
    ) -> None:
        self.rng, self.fleet, self.stations, self.plan = rng, fleet, stations, plan
        self.lo, self.hi, self.days, self.start = lo, hi, days, start
        self.index = np.arange(lo, hi)
        self.day0_us = day0_local_midnight_us(start)
        self.fault = plan.vehicle_fault[lo:hi]
        self.fault_day = plan.vehicle_fault_day[lo:hi]
        n = hi - lo
        day = np.arange(days)[None, :]
        self.commission = fleet.commission_day[lo:hi]
        self.decommission = fleet.decommission_day[lo:hi]
        self.active = (day >= self.commission[:, None]) & (day < self.decommission[:, None])
        self.tracked = fleet.tracked[lo:hi]

        owner = fleet.owner_index[lo:hi]
        weekday = (start.weekday() + np.arange(days)) % 7
        sunday_factor = np.where(weekday == 6, 0.75, 1.0)[None, :]
        km = fleet.median_daily_km[lo:hi, None] * rng.lognormal(0.0, 0.35, size=(n, days))
        km *= sunday_factor
        km[rng.random((n, days)) < 0.06] = 0.0
        km = np.minimum(km, 0.8 * np.asarray(MAX_DAILY_KM)[owner][:, None])
        km[~self.active] = 0.0
        # Faults that live in a day's readings or pings need the vehicle to move that day.
        for kind, least_km in (
            ("implied_speed", 15.0),
            ("gps_jump", 5.0),
            ("outside_cambodia", 5.0),
        ):
            rows = self.rows_with(kind)
            strikes = self.fault_day[rows]
            km[rows, strikes] = np.maximum(km[rows, strikes], least_km)
        self.km = np.round(km, 2)
        initial_km = np.where(
            self.commission < 0,
            -self.commission * fleet.median_daily_km[lo:hi] * 0.94,
            rng.uniform(0.0, 5.0, size=n),
        )
        self.vehicle_km = initial_km[:, None] + np.cumsum(self.km, axis=1)
        self.consumption = fleet.consumption_kwh_per_km[lo:hi]
        self.battery_kwh = self.km * self.consumption[:, None]
        self.swap_mode = fleet.battery_mode_index[lo:hi] == 0
        usable = np.where(
            self.swap_mode,
            SWAP_BATTERY_CAPACITY_KWH * (SOC_IN_MEAN_PCT - SOC_OUT_MEAN_PCT) / 100.0,
            FIXED_BATTERY_CAPACITY_KWH * 0.6,
        )
        self.usable_kwh = usable
        self.capacity_kwh = np.where(
            self.swap_mode, SWAP_BATTERY_CAPACITY_KWH, FIXED_BATTERY_CAPACITY_KWH
        )
        phase = rng.random(n) * usable
        self.energy_before_day = phase[:, None] + np.cumsum(self.battery_kwh, axis=1)
        self.energy_before_day -= self.battery_kwh
        crossings = np.floor((self.energy_before_day + self.battery_kwh) / usable[:, None])
        previous = np.floor(self.energy_before_day / usable[:, None])
        self.refills = (crossings - previous).astype(np.int64)
        self.refills[self.rows_with("no_activity_evidence")] = 0

        # Device event: a swap moves the vehicle to a new device; a reset restarts the old one.
        event = fleet.device_event_day[lo:hi]
        self.event_day = np.where(
            (event > self.commission) & (event < self.decommission) & (event < days), event, -1
        )
        self.event_is_swap = fleet.device_event_is_swap[lo:hi] & (self.event_day >= 0)
        has_event = self.event_day >= 0
        after_event = has_event[:, None] & (day >= self.event_day[:, None])
        self.primary_device = self.index + 1
        self.secondary_device = fleet.size + self.index + 1
        self.device_number = np.where(
            after_event & self.event_is_swap[:, None],
            self.secondary_device[:, None],
            self.primary_device[:, None],
        )
        km_before_event = np.where(
            has_event,
            self.vehicle_km[np.arange(n), np.maximum(self.event_day - 1, 0)],
            0.0,
        )
        self.event_offset_km = np.round(km_before_event, 1)
        self.offset_km = np.where(after_event, self.event_offset_km[:, None], 0.0)

    def rows_with(self, kind: str) -> NDArray[np.int64]:
        """Chunk rows (vehicles) that carry the planned fault `kind`."""
        return np.flatnonzero(self.fault == self.plan.code(kind))

    def day_us(self, day: NDArray[np.int64] | int) -> NDArray[np.int64]:
        """UTC microseconds of local midnight starting each given day."""
        return np.asarray(self.day0_us + np.asarray(day, dtype=np.int64) * 86_400 * US_PER_S)

    # -- vehicles and devices -------------------------------------------------------

    def vehicles(self) -> ChunkTable:
        fleet, lo, hi = self.fleet, self.lo, self.hi
        vins = fleet.vins[lo:hi].copy()
        plates = fleet.plates[lo:hi].copy()
        faults: list[tuple[str, int, str]] = []
        vehicle_ids = fleet.vehicle_ids[lo:hi]
        for kind, values, source in (
            ("duplicate_vin", vins, fleet.vins),
            ("duplicate_plate", plates, fleet.plates),
        ):
            for row in self.rows_with(kind):
                values[row] = source[self.plan.vehicle_partner[lo + row]]
                faults.append((kind, int(row), str(vehicle_ids[row])))
        for kind in (
            "before_er_rights_date",
            "no_activity_evidence",
            "no_er_rights",
            "other_programme_vehicle",
        ):
            faults += [(kind, int(r), str(vehicle_ids[r])) for r in self.rows_with(kind)]
        start_ordinal = self.start.toordinal()
        epoch_ordinal = date(1970, 1, 1).toordinal()

        def as_dates(days: NDArray[np.int64]) -> pa.Array:
            return pa.array(days + start_ordinal - epoch_ordinal, pa.int32()).cast(pa.date32())

        decommissioned = self.decommission < self.days + 5_000
        reasons = np.asarray(("stolen", "exported", "scrapped"))[
            fleet.decommission_reason_index[lo:hi]
        ]
        models = np.asarray([m[0] for m in MODELS])[fleet.model_index[lo:hi]]
        table = pa.table(
            {
                "vehicle_id": fleet.vehicle_ids[lo:hi],
                "vin": vins,
                "plate": plates,
                "model": models,
                "category": np.asarray(("e_scooter", "e_motorcycle"))[fleet.category_index[lo:hi]],
                "rated_power_kw": np.asarray([m[2] for m in MODELS])[fleet.model_index[lo:hi]],
                "top_speed_kmh": np.asarray([m[3] for m in MODELS])[fleet.model_index[lo:hi]],
                "battery_mode": np.where(self.swap_mode, "swap", "fixed"),
                "owner_type": np.asarray(("public_donation", "private_sale", "fleet_lease"))[
                    fleet.owner_index[lo:hi]
                ],
                "er_rights_signed_date": pa.array(
                    fleet.er_rights_day[lo:hi] + start_ordinal - epoch_ordinal,
                    pa.int32(),
                    mask=self.fault == self.plan.code("no_er_rights"),
                ).cast(pa.date32()),
                "commission_date": as_dates(self.commission),
                "decommission_date": pa.array(
                    np.where(decommissioned, self.decommission, 0) + start_ordinal - epoch_ordinal,
                    pa.int32(),
                    mask=~decommissioned,
                ).cast(pa.date32()),
                "decommission_reason": pa.array(reasons, pa.string(), mask=~decommissioned),
                "province": np.asarray(("Phnom Penh", "Siem Reap"))[fleet.province_index[lo:hi]],
            }
        )
        return ChunkTable("vehicles", table, faults)

    def device_assignments(self) -> ChunkTable:
        # Fitted before handover: the first trip (from 05:00 local) is tracked.
        commission_us = self.day_us(self.commission)
        decommission_us = self.day_us(self.decommission)
        ended = self.decommission < self.days + 5_000
        has_event = self.event_day >= 0
        event_us = self.day_us(np.maximum(self.event_day, 0)) + 6 * 3600 * US_PER_S
        first_end = np.where(has_event, event_us, decommission_us)
        # Vehicles sold without a device have no assignment (and never a device event).
        tracked = self.tracked
        devices = [
            self.primary_device[tracked],
            self.secondary_device[has_event & self.event_is_swap],
        ]
        devices.append(self.primary_device[has_event & ~self.event_is_swap])
        vehicles = [self.index[tracked], self.index[has_event & self.event_is_swap]]
        vehicles.append(self.index[has_event & ~self.event_is_swap])
        starts = [commission_us[tracked], event_us[has_event & self.event_is_swap]]
        starts.append(event_us[has_event & ~self.event_is_swap])
        ends = [first_end[tracked], decommission_us[has_event & self.event_is_swap]]
        ends.append(decommission_us[has_event & ~self.event_is_swap])
        end_known: list[NDArray[np.bool_]] = [
            (has_event | ended)[tracked],
            ended[has_event & self.event_is_swap],
        ]
        end_known.append(ended[has_event & ~self.event_is_swap])
        offsets: list[NDArray[Any]] = [
            np.zeros(int(tracked.sum())),
            self.event_offset_km[has_event & self.event_is_swap],
        ]
        offsets.append(self.event_offset_km[has_event & ~self.event_is_swap])
        shared = self.rows_with("device_on_two_vehicles")
        partner = self.plan.vehicle_partner[self.lo + shared]
        fault_day = self.fault_day[shared]
        devices.append(partner + 1)
        vehicles.append(self.index[shared])
        starts.append(self.day_us(fault_day) + 9 * 3600 * US_PER_S)
        ends.append(self.day_us(fault_day + 5))
        end_known.append(np.ones(shared.shape[0], dtype=bool))
        offsets.append(np.zeros(shared.shape[0]))
        table = pa.table(
            {
                "device_id": id_array("D", np.concatenate(devices), 8),
                "vehicle_id": self.fleet.vehicle_ids[np.concatenate(vehicles)],
                "valid_from": timestamps(np.concatenate(starts)),
                "valid_to": pa.array(
                    np.concatenate(ends),
                    pa.timestamp("us", tz="UTC"),
                    mask=~np.concatenate(end_known),
                ),
                "odometer_offset_km": np.concatenate(offsets),
            }
        )
        first_shared = table.num_rows - shared.shape[0]
        faults = [
            ("device_on_two_vehicles", first_shared + i, str(self.fleet.vehicle_ids[self.lo + row]))
            for i, row in enumerate(shared)
        ]
        return ChunkTable("device_assignments", table, faults)

    # -- odometer ---------------------------------------------------------------------

    def odometer_readings(self) -> ChunkTable:
        n, days = self.hi - self.lo, self.days
        reported_km = self.vehicle_km.copy()
        has_reading = self.active & self.tracked[:, None]
        tag = np.full((n, days), NO_FAULT, dtype=np.int64)
        kinds: list[str] = []

        def mark(kind: str, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> None:
            kinds.append(kind)
            tag[rows, cols] = len(kinds) - 1

        rows = self.rows_with("odometer_decrease")
        day = self.fault_day[rows]
        reported_km[rows, day] = reported_km[rows, day - 1] - 25.0
        mark("odometer_decrease", rows, day)
        rows = self.rows_with("excessive_daily_km")
        day = self.fault_day[rows]
        jump = np.where(np.arange(days)[None, :] >= day[:, None], 460.0, 0.0)
        reported_km[rows] += jump
        mark("excessive_daily_km", rows, day)
        for kind, length in (("gap_short", 3), ("gap_long", 8)):
            rows = self.rows_with(kind)
            day = self.fault_day[rows]
            for shift in range(length):
                has_reading[rows, day + shift] = False
            mark(kind, rows, day + length)
        rows = self.rows_with("readings_after_decommission")
        day = self.decommission[rows]
        for shift in range(3):
            has_reading[rows, day + shift] = True
            reported_km[rows, day + shift] = reported_km[rows, day - 1] + 20.0 * (shift + 1)
        mark("readings_after_decommission", rows, day)

        vv, dd = np.nonzero(has_reading)
        ts = (
            self.day_us(dd)
            + (23 * 3600 + self.rng.integers(0, 3300, size=int(dd.shape[0]))) * US_PER_S
        )
        value = np.round(reported_km[vv, dd] - self.offset_km[vv, dd], 1)
        device = self.device_number[vv, dd]
        row_tag = tag[vv, dd]
        rows = self.rows_with("implied_speed")
        if len(rows):
            before = self.fault_day[rows] - 1
            position = np.searchsorted(vv * days + dd, rows * days + before)
            kinds.append("implied_speed")
            vv = np.concatenate([vv, rows])
            ts = np.concatenate([ts, ts[position] + 120 * US_PER_S])
            value = np.concatenate([value, value[position] + 8.0])
            device = np.concatenate([device, device[position]])
            row_tag = np.concatenate([row_tag, np.full(rows.shape[0], len(kinds) - 1)])
        order = np.lexsort((ts, vv))
        table = pa.table(
            {
                "device_id": id_array("D", device[order], 8),
                "ts": timestamps(ts[order]),
                "odometer_km": value[order],
            }
        )
        sorted_tag = row_tag[order]
        flagged = np.flatnonzero(sorted_tag >= 0)
        flagged_vehicle = self.fleet.vehicle_ids[self.lo + vv[order[flagged]]]
        faults = [
            (kinds[int(sorted_tag[i])], int(i), str(vehicle))
            for i, vehicle in zip(flagged, flagged_vehicle, strict=True)
        ]
        return ChunkTable("odometer_readings", table, faults)

    # -- swaps and charging ---------------------------------------------------------------

    def _refill_rows(
        self, mode_mask: NDArray[np.bool_]
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        counts = np.where(mode_mask[:, None], self.refills, 0)
        flat = counts.ravel()
        cell = np.repeat(np.arange(flat.shape[0]), flat)
        return cell // self.days, cell % self.days

    def _pick_station(self, vv: NDArray[np.int64], kinds: tuple[int, ...]) -> NDArray[np.int64]:
        stations = self.stations
        home = self.fleet.home_station[self.lo + vv]
        away = self.rng.random(vv.shape[0]) < 0.15
        chosen = home.copy()
        province = self.fleet.province_index[self.lo + vv]
        for p in np.unique(province[away]):
            pool = np.flatnonzero(
                (stations.province_index == p) & np.isin(stations.kind_index, kinds)
            )
            where = away & (province == p)
            chosen[where] = self.rng.choice(pool, size=int(where.sum()))
        return chosen

    def swap_events(
        self, first_event_number: int, station_energy_kwh: NDArray[np.float64]
    ) -> ChunkTable:
        vv, dd = self._refill_rows(self.swap_mode)
        seconds = 6 * 3600 + self.rng.integers(0, 14 * 3600, size=int(vv.shape[0]))
        order = np.lexsort((seconds, dd, vv))
        vv, dd, seconds = vv[order], dd[order], seconds[order]
        station = self._pick_station(vv, (0,))
        soc_out = np.round(self.rng.uniform(12.0, 24.0, size=int(vv.shape[0])), 1)
        soc_in = np.round(self.rng.uniform(95.0, 100.0, size=int(vv.shape[0])), 1)
        delivered = SWAP_BATTERY_CAPACITY_KWH * (soc_in - soc_out) / 100.0
        self._add_station_energy(
            station_energy_kwh, station, dd, delivered / STATION_CHARGE_EFFICIENCY
        )
        battery_in = self.stations.battery_first[station] + (
            self.rng.random(vv.shape[0]) * self.stations.battery_count[station]
        ).astype(np.int64)
        first_of_vehicle = np.ones(vv.shape[0], dtype=bool)
        first_of_vehicle[1:] = vv[1:] != vv[:-1]
        battery_out = np.empty_like(battery_in)
        battery_out[1:] = battery_in[:-1]
        battery_out[first_of_vehicle] = self.fleet.initial_battery[self.lo + vv[first_of_vehicle]]
        numbers = first_event_number + np.arange(vv.shape[0])
        table = pa.table(
            {
                "event_id": id_array("SW", numbers, 10),
                "station_id": self.stations.station_ids[station],
                "vehicle_id": self.fleet.vehicle_ids[self.lo + vv],
                "battery_out_id": id_array("B", battery_out + 1, 8),
                "battery_in_id": id_array("B", battery_in + 1, 8),
                "ts": timestamps(self.day_us(dd) + seconds * US_PER_S),
                "soc_out_pct": soc_out,
                "soc_in_pct": soc_in,
            }
        )
        unknown = self._unknown_vehicle_swaps(
            first_event_number + table.num_rows, station_energy_kwh
        )
        faults = [
            ("unknown_vehicle", table.num_rows + i, str(self.fleet.vehicle_ids[self.lo + row]))
            for i, row in enumerate(self.rows_with("unknown_vehicle"))
        ]
        return ChunkTable("swap_events", pa.concat_tables([table, unknown]), faults)

    def _unknown_vehicle_swaps(
        self, first_event_number: int, station_energy_kwh: NDArray[np.float64]
    ) -> pa.Table:
        """A swap at the faulty vehicle's cabinet by a vehicle id the fleet does not know."""
        rows = self.rows_with("unknown_vehicle")
        province = self.fleet.province_index[self.lo + rows]
        cabinets = [
            int(
                np.flatnonzero(
                    (self.stations.province_index == p) & (self.stations.kind_index == 0)
                )[0]
            )
            for p in province
        ]
        station = np.asarray(cabinets, dtype=np.int64)
        day = self.fault_day[rows]
        self._add_station_energy(
            station_energy_kwh,
            station,
            day,
            np.full(rows.shape[0], SWAP_BATTERY_CAPACITY_KWH * 0.77 / STATION_CHARGE_EFFICIENCY),
        )
        battery = self.stations.battery_first[station]
        return pa.table(
            {
                "event_id": id_array("SW", first_event_number + np.arange(rows.shape[0]), 10),
                "station_id": self.stations.station_ids[station],
                "vehicle_id": id_array("VX", self.lo + rows + 1, 7),
                "battery_out_id": id_array("B", battery + 1, 8),
                "battery_in_id": id_array("B", battery + 2, 8),
                "ts": timestamps(self.day_us(day) + 12 * 3600 * US_PER_S),
                "soc_out_pct": np.full(rows.shape[0], 20.0),
                "soc_in_pct": np.full(rows.shape[0], 97.0),
            }
        )

    def charge_sessions(
        self, first_session_number: int, station_energy_kwh: NDArray[np.float64]
    ) -> ChunkTable:
        vv, dd = self._refill_rows(~self.swap_mode)
        at_project = self.rng.random(vv.shape[0]) < SHARE_CHARGED_AT_PROJECT_CHARGERS
        vv, dd = vv[at_project], dd[at_project]
        seconds = 8 * 3600 + self.rng.integers(0, 10 * 3600, size=int(vv.shape[0]))
        order = np.lexsort((seconds, dd, vv))
        vv, dd, seconds = vv[order], dd[order], seconds[order]
        station = self._pick_station(vv, (1, 2))
        energy = np.round(
            self.usable_kwh[vv]
            * self.rng.uniform(0.9, 1.1, size=int(vv.shape[0]))
            / STATION_CHARGE_EFFICIENCY,
            3,
        )
        self._add_station_energy(station_energy_kwh, station, dd, energy)
        power = np.asarray(CHARGER_POWER_KW)[self.stations.kind_index[station]]
        start_us = self.day_us(dd) + seconds * US_PER_S
        duration_us = (energy / power * 3600 * US_PER_S).astype(np.int64)
        table = pa.table(
            {
                "session_id": id_array("CS", first_session_number + np.arange(vv.shape[0]), 10),
                "station_id": self.stations.station_ids[station],
                "vehicle_id": self.fleet.vehicle_ids[self.lo + vv],
                "ts_start": timestamps(start_us),
                "ts_end": timestamps(start_us + duration_us),
                "energy_kwh": energy,
            }
        )
        return ChunkTable("charge_sessions", table)

    def _add_station_energy(
        self,
        station_energy_kwh: NDArray[np.float64],
        station: NDArray[np.int64],
        day: NDArray[np.int64],
        energy_kwh: NDArray[np.float64],
    ) -> None:
        flat = np.bincount(
            station * self.days + day, weights=energy_kwh, minlength=station_energy_kwh.size
        )
        station_energy_kwh += flat.reshape(station_energy_kwh.shape)

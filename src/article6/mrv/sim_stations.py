"""Stations, meters and bills of a simulated fleet, derived from station energy.

The vehicle chunks leave behind the energy each station delivered per day.
This module adds what a station draws besides (standby load, sessions of
vehicles outside the project), splits it between the grid and on-site solar,
and turns it into what a monitoring plan would collect: cumulative meter
readings at local midnight with the energy of the day just ended beside them
(as smart meters report it; the interval of a meter's first reading lies
before the window and is left empty), periodic calibrations and monthly
utility invoices that agree with the meters within normal billing noise.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv.sim_activity import (
    US_PER_S,
    ChunkTable,
    day0_local_midnight_us,
    id_array,
    timestamps,
)
from article6.mrv.sim_faults import FaultPlan
from article6.mrv.sim_fleet import (
    STATION_KINDS,
    SUPPLIES,
    SWAP_BATTERY_CAPACITY_KWH,
    Stations,
)

STANDBY_KWH_PER_DAY = (1.5, 0.1, 0.3)  # per station kind
PV_YIELD_KWH_PER_KWP_DAY = 4.3
RAINY_SEASON_MONTHS = (5, 6, 7, 8, 9, 10)
# An interval mismatch fault reports 2 % more than the register plus 0.05 kWh:
# beyond the 0.5 % tolerance whatever the day's energy, even on a day with none.
INTERVAL_FAULT_FACTOR = 1.02
INTERVAL_FAULT_OFFSET_KWH = 0.05


def _dates(start: date, days: NDArray[np.int64]) -> pa.Array:
    epoch_days = start.toordinal() - date(1970, 1, 1).toordinal()
    return pa.array(days + epoch_days, pa.int32()).cast(pa.date32())


def non_project_sessions(
    rng: np.random.Generator,
    stations: Stations,
    start: date,
    days: int,
    first_session_number: int,
    station_energy_kwh: NDArray[np.float64],
) -> ChunkTable:
    """Sessions of vehicles outside the project at public chargers, metered per session."""
    serving = np.flatnonzero(stations.serves_non_project)
    counts = rng.poisson(1.2, size=(serving.shape[0], days))
    cell = np.repeat(np.arange(counts.size), counts.ravel())
    station, day = serving[cell // days], cell % days
    energy = np.round(rng.uniform(1.0, 4.0, size=int(station.shape[0])), 3)
    np.add.at(station_energy_kwh, (station, day), energy)
    start_us = (
        day0_local_midnight_us(start)
        + day * 86_400 * US_PER_S
        + (7 * 3600 + rng.integers(0, 14 * 3600, size=int(station.shape[0]))) * US_PER_S
    )
    power = np.asarray((3.3, 3.3, 20.0))[stations.kind_index[station]]
    table = pa.table(
        {
            "session_id": id_array("CS", first_session_number + np.arange(station.shape[0]), 10),
            "station_id": stations.station_ids[station],
            "vehicle_id": id_array("EXT", rng.integers(1, 5000, size=int(station.shape[0])), 5),
            "ts_start": timestamps(start_us),
            "ts_end": timestamps(start_us + (energy / power * 3600 * US_PER_S).astype(np.int64)),
            "energy_kwh": energy,
        }
    )
    return ChunkTable("charge_sessions", table)


def stations_table(stations: Stations, plan: FaultPlan, start: date) -> ChunkTable:
    other = np.full(stations.size, None, dtype=object)
    faulty = plan.station_faults.get("other_programme_station", np.zeros(0, dtype=np.int64))
    other[faulty] = [f"GS-{4100 + i}" for i in range(faulty.shape[0])]
    table = pa.table(
        {
            "station_id": stations.station_ids,
            "kind": np.asarray(STATION_KINDS)[stations.kind_index],
            "lat": np.round(stations.lat_deg, 6),
            "lon": np.round(stations.lon_deg, 6),
            "supply": np.asarray(SUPPLIES)[stations.supply_index],
            "commission_date": _dates(start, stations.commission_day),
            "decommission_date": pa.nulls(stations.size, pa.date32()),
            "serves_non_project": stations.serves_non_project,
            "other_programme_id": pa.array(other, pa.string()),
        }
    )
    return ChunkTable(
        "stations", table, [("other_programme_station", int(i), "") for i in sorted(faulty)]
    )


def batteries_table(
    rng: np.random.Generator, plan: FaultPlan, stations: Stations, pool_size: int, start: date
) -> ChunkTable:
    numbers = np.arange(pool_size, dtype=np.int64)
    duplicated = stations.battery_first[
        plan.station_faults.get("duplicate_battery_id", np.zeros(0, dtype=np.int64))
    ]
    all_numbers = np.concatenate([numbers, duplicated])
    commission_days = -rng.integers(0, 200, size=int(all_numbers.shape[0])).astype(np.int64)
    table = pa.table(
        {
            "battery_id": id_array("B", all_numbers + 1, 8),
            "capacity_kwh": np.full(all_numbers.shape[0], SWAP_BATTERY_CAPACITY_KWH),
            "commission_date": _dates(start, commission_days),
            "status": np.full(all_numbers.shape[0], "in_service"),
        }
    )
    faults = [("duplicate_battery_id", pool_size + i, "") for i in range(duplicated.shape[0])]
    return ChunkTable("batteries", table, faults)


class MeterSet:
    """Meters of every station and the daily energy each one registers."""

    def __init__(
        self,
        rng: np.random.Generator,
        stations: Stations,
        start: date,
        days: int,
        station_energy_kwh: NDArray[np.float64],
    ) -> None:
        self.rng, self.stations, self.start, self.days = rng, stations, start, days
        demand = station_energy_kwh + np.asarray(STANDBY_KWH_PER_DAY)[stations.kind_index][:, None]
        months = np.asarray([(start + timedelta(days=int(d))).month for d in range(days)])
        seasonal = np.where(np.isin(months, RAINY_SEASON_MONTHS), 0.8, 1.0)
        weather = np.clip(rng.normal(seasonal, 0.15, size=demand.shape), 0.2, 1.3)
        pv = stations.pv_peak_kw[:, None] * PV_YIELD_KWH_PER_KWP_DAY * weather
        supply = stations.supply_index[:, None]
        pv_used = np.where(supply == 2, demand, np.where(supply == 1, np.minimum(pv, demand), 0.0))
        grid = demand - pv_used
        has_grid = stations.supply_index < 2
        has_pv = stations.supply_index > 0
        grid_station = np.flatnonzero(has_grid)
        pv_station = np.flatnonzero(has_pv)
        self.station_of_meter = np.concatenate([grid_station, pv_station])
        self.role = np.concatenate(
            [
                np.full(grid_station.shape[0], "grid_import"),
                np.full(pv_station.shape[0], "pv_generation"),
            ]
        )
        self.daily_kwh = np.concatenate([grid[grid_station], pv_used[pv_station]])
        self.meter_ids = id_array("M", np.arange(1, self.station_of_meter.shape[0] + 1), 6)
        self.accuracy_class_pct = np.where(
            (self.role == "grid_import") & (stations.kind_index[self.station_of_meter] == 0),
            0.5,
            1.0,
        )
        self.grid_kwh_by_station = grid

    def meters_table(self) -> ChunkTable:
        table = pa.table(
            {
                "meter_id": self.meter_ids,
                "station_id": self.stations.station_ids[self.station_of_meter],
                "role": self.role,
                "accuracy_class_pct": self.accuracy_class_pct,
            }
        )
        return ChunkTable("meters", table)

    def _first_meter_of(self, stations: NDArray[np.int64]) -> NDArray[np.int64]:
        firsts = [int(np.flatnonzero(self.station_of_meter == s)[0]) for s in stations]
        return np.asarray(firsts, dtype=np.int64)

    def readings_table(self, plan: FaultPlan) -> ChunkTable:
        meters, days = self.daily_kwh.shape
        start_kwh = self.rng.uniform(1_000.0, 50_000.0, size=int(meters))
        cumulative = np.concatenate(
            [start_kwh[:, None], start_kwh[:, None] + np.cumsum(self.daily_kwh, axis=1)], axis=1
        )
        cumulative = np.round(cumulative, 2)
        # The interval channel reports the true energy, also where the register glitches.
        interval = np.concatenate(
            [np.full((meters, 1), np.nan), np.round(np.diff(cumulative, axis=1), 2)], axis=1
        )
        faulty = self._first_meter_of(plan.station_faults.get("meter_decrease", np.zeros(0, int)))
        fault_boundary = self.rng.integers(2, max(days, 3), size=int(faulty.shape[0]))
        cumulative[faulty, fault_boundary] = cumulative[faulty, fault_boundary - 1] - 12.0
        off = self._first_meter_of(
            plan.station_faults.get("meter_interval_mismatch", np.zeros(0, int))
        )
        off_boundary = self.rng.integers(1, days + 1, size=int(off.shape[0]))
        interval[off, off_boundary] = np.round(
            interval[off, off_boundary] * INTERVAL_FAULT_FACTOR + INTERVAL_FAULT_OFFSET_KWH, 2
        )
        boundary_us = day0_local_midnight_us(self.start) + np.arange(days + 1) * 86_400 * US_PER_S
        table = pa.table(
            {
                "meter_id": pa.concat_arrays(
                    [self.meter_ids.take(pa.array(np.repeat(np.arange(meters), days + 1)))]
                ),
                "ts": timestamps(np.tile(boundary_us, meters)),
                "cumulative_kwh": np.round(cumulative.ravel(), 2),
                "interval_kwh": pa.array(interval.ravel(), mask=np.isnan(interval.ravel())),
            }
        )
        faults = [
            ("meter_decrease", int(m * (days + 1) + b), "")
            for m, b in sorted(zip(faulty.tolist(), fault_boundary.tolist(), strict=True))
        ] + [
            ("meter_interval_mismatch", int(m * (days + 1) + b), "")
            for m, b in sorted(zip(off.tolist(), off_boundary.tolist(), strict=True))
        ]
        return ChunkTable("meter_readings", table, faults)

    def calibrations_table(self, plan: FaultPlan) -> ChunkTable:
        commission = self.stations.commission_day[self.station_of_meter]
        meters: list[int] = []
        days: list[int] = []
        for meter, first in enumerate(commission.tolist()):
            day = first
            while day < self.days:
                meters.append(meter)
                days.append(day)
                day += 365
        accuracy = self.accuracy_class_pct[np.asarray(meters, dtype=np.int64)]
        error = np.clip(self.rng.normal(0.0, accuracy / 4), -0.8 * accuracy, 0.8 * accuracy)
        passed = np.ones(len(meters), dtype=bool)
        faulty = self._first_meter_of(
            plan.station_faults.get("calibration_failed", np.zeros(0, int))
        )
        first_fault_row = len(meters)
        meters += faulty.tolist()
        days += [self.days // 2] * faulty.shape[0]
        error = np.concatenate([error, 2.5 * self.accuracy_class_pct[faulty]])
        passed = np.concatenate([passed, np.zeros(faulty.shape[0], dtype=bool)])
        table = pa.table(
            {
                "meter_id": self.meter_ids.take(pa.array(meters, pa.int64())),
                "date": _dates(self.start, np.asarray(days, dtype=np.int64)),
                "error_pct": np.round(error, 3),
                "passed": passed,
            }
        )
        faults = [("calibration_failed", first_fault_row + i, "") for i in range(faulty.shape[0])]
        return ChunkTable("meter_calibrations", table, faults)

    def invoices_table(self, plan: FaultPlan) -> ChunkTable:
        """Monthly bills of grid-connected stations; a mismatch fault overbills one month.

        The overbilled amount is 6 % of the station's grid energy in that calendar year.
        """
        month_starts = [0]
        for day in range(1, self.days):
            if (self.start + timedelta(days=day)).day == 1:
                month_starts.append(day)
        bounds = np.asarray([*month_starts, self.days])
        grid_stations = np.flatnonzero(self.stations.supply_index < 2)
        per_month = np.add.reduceat(self.grid_kwh_by_station[grid_stations], bounds[:-1], axis=1)
        noise = self.rng.normal(1.0, 0.003, size=per_month.shape)
        mismatched = plan.station_faults.get("invoice_mismatch", np.zeros(0, int))
        rows_of = {int(s): i for i, s in enumerate(grid_stations)}
        fault_month = self.rng.integers(0, per_month.shape[1], size=int(mismatched.shape[0]))
        # The rule compares a year's bills with the year's metered energy, so the excess is 6 %
        # of the station's energy in that calendar year: a 6 % excess on one short month could
        # hide below the 2 % tolerance of the annual comparison.
        month_year = np.asarray([(self.start + timedelta(days=int(d))).year for d in bounds[:-1]])
        for station, month in zip(mismatched.tolist(), fault_month.tolist(), strict=True):
            row = rows_of[station]
            year_kwh = per_month[row, month_year == month_year[month]].sum()
            billed_kwh = per_month[row, month]
            if billed_kwh > 0:
                noise[row, month] = 1.0 + 0.06 * max(year_kwh, billed_kwh) / billed_kwh
        months = per_month.shape[1]
        table = pa.table(
            {
                "station_id": np.repeat(self.stations.station_ids[grid_stations], months),
                "period_start": _dates(self.start, np.tile(bounds[:-1], grid_stations.shape[0])),
                "period_end": _dates(self.start, np.tile(bounds[1:] - 1, grid_stations.shape[0])),
                "kwh_billed": np.round((per_month * noise).ravel(), 1),
            }
        )
        faults = sorted(
            ("invoice_mismatch", rows_of[station] * months + month, "")
            for station, month in zip(mismatched.tolist(), fault_month.tolist(), strict=True)
        )
        return ChunkTable("utility_invoices", table, faults)

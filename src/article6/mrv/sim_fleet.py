"""The static side of a simulated fleet: vehicles, stations, meters, batteries.

A fleet is drawn once per seed as numpy arrays (one element per vehicle or
station), so that the activity generator can work on chunks of vehicles with
plain array indexing. The shares below describe the reference case: donated
e-scooters for public institutions that charge at project AC chargers,
privately sold scooters and motorcycles that mostly use battery swapping, and
leased commercial motorcycles (deliveries, ride hailing) with high mileage.
Every vehicle carries a telematics device unless `sim_surveys` marks some
private sales as sold without one.
Days are counted from the first simulated day (day 0); negative days lie
before the simulation window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

CATEGORIES = ("e_scooter", "e_motorcycle")
OWNER_TYPES = ("public_donation", "private_sale", "fleet_lease")
BATTERY_MODES = ("swap", "fixed")
PROVINCES = ("Phnom Penh", "Siem Reap")
PROVINCE_CENTRES_DEG = ((11.5564, 104.9282), (13.3633, 103.8564))
PROVINCE_SPREAD_KM = (5.0, 2.5)
PROVINCE_SHARES = (0.8, 0.2)
STATION_KINDS = ("swap_cabinet", "ac_charger", "dc_charger")
SUPPLIES = ("grid", "grid_pv", "offgrid_pv")
DECOMMISSION_REASONS = ("stolen", "exported", "scrapped")
KM_PER_DEGREE_LAT = 111.32

# model name, category index, rated power kW, top speed km/h, battery-level consumption kWh/km
MODELS = (
    ("VW-S30", 0, 3.0, 55.0, 0.036),
    ("VW-S35", 0, 3.5, 60.0, 0.039),
    ("VW-M50", 1, 5.0, 80.0, 0.046),
    ("VW-M72", 1, 7.2, 95.0, 0.052),
)
MEDIAN_DAILY_KM = (18.0, 32.0, 110.0)  # per owner type
ANNUAL_DECOMMISSION_RATE = 0.03
SWAP_BATTERY_CAPACITY_KWH = 2.2
FIXED_BATTERY_CAPACITY_KWH = 2.6
SWAP_VEHICLES_PER_CABINET = 150
FIXED_VEHICLES_PER_CHARGER = 40
SPARE_BATTERIES_PER_CABINET = 24
SHARE_GRID_PV = 0.15
SHARE_OFFGRID_PV = 0.03


@dataclass(frozen=True)
class Fleet:
    """Per-vehicle attributes as parallel arrays, indexed by vehicle number."""

    vehicle_ids: NDArray[np.str_]
    vins: NDArray[np.str_]
    plates: NDArray[np.str_]
    model_index: NDArray[np.int64]
    category_index: NDArray[np.int64]
    owner_index: NDArray[np.int64]
    battery_mode_index: NDArray[np.int64]
    province_index: NDArray[np.int64]
    commission_day: NDArray[np.int64]
    er_rights_day: NDArray[np.int64]
    decommission_day: NDArray[np.int64]  # a day beyond the window means "still in service"
    decommission_reason_index: NDArray[np.int64]
    median_daily_km: NDArray[np.float64]
    consumption_kwh_per_km: NDArray[np.float64]
    home_station: NDArray[np.int64]
    home_lat_deg: NDArray[np.float64]
    home_lon_deg: NDArray[np.float64]
    initial_battery: NDArray[np.int64]  # battery index carried at the start (swap vehicles)
    device_event_day: NDArray[np.int64]  # day of a device swap or reset; -1 for none
    device_event_is_swap: NDArray[np.bool_]
    tracked: NDArray[np.bool_]  # False for vehicles sold without a telematics device

    @property
    def size(self) -> int:
        return int(self.vehicle_ids.shape[0])


@dataclass(frozen=True)
class Stations:
    """Per-station attributes as parallel arrays, indexed by station number."""

    station_ids: NDArray[np.str_]
    kind_index: NDArray[np.int64]
    province_index: NDArray[np.int64]
    lat_deg: NDArray[np.float64]
    lon_deg: NDArray[np.float64]
    supply_index: NDArray[np.int64]
    commission_day: NDArray[np.int64]
    serves_non_project: NDArray[np.bool_]
    pv_peak_kw: NDArray[np.float64]
    battery_first: NDArray[np.int64]  # first spare battery index of the cabinet's pool
    battery_count: NDArray[np.int64]
    roaming: NDArray[np.bool_]  # a cabinet riders use only away from home; nobody's home cabinet

    @property
    def size(self) -> int:
        return int(self.station_ids.shape[0])


def numbered_ids(prefix: str, count: int, width: int, start: int = 1) -> NDArray[np.str_]:
    """Zero-padded identifiers such as `V0000001`, built without a Python loop per id."""
    numbers = np.arange(start, start + count).astype(f"U{width}")
    return np.char.add(prefix, np.char.zfill(numbers, width))


def _scatter_around(
    rng: np.random.Generator, province_index: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    centres = np.asarray(PROVINCE_CENTRES_DEG)[province_index]
    spread_km = np.asarray(PROVINCE_SPREAD_KM)[province_index]
    north_km = rng.normal(0.0, 1.0, size=province_index.shape) * spread_km
    east_km = rng.normal(0.0, 1.0, size=province_index.shape) * spread_km
    lat = centres[:, 0] + north_km / KM_PER_DEGREE_LAT
    lon = centres[:, 1] + east_km / (KM_PER_DEGREE_LAT * np.cos(np.radians(centres[:, 0])))
    return lat, lon


def draw_stations(
    rng: np.random.Generator, swap_vehicles: NDArray[np.int64], fixed_vehicles: NDArray[np.int64]
) -> Stations:
    """Swap cabinets and chargers per province, sized to the vehicles they serve.

    `swap_vehicles` and `fixed_vehicles` hold vehicle counts per province.
    """
    kinds: list[int] = []
    provinces: list[int] = []
    roaming: list[bool] = []
    for province, (swap_count, fixed_count) in enumerate(
        zip(swap_vehicles, fixed_vehicles, strict=True)
    ):
        cabinets = max(1, int(np.ceil(swap_count / SWAP_VEHICLES_PER_CABINET)))
        ac_chargers = max(1, int(np.ceil(fixed_count / FIXED_VEHICLES_PER_CHARGER)))
        dc_chargers = max(1, ac_chargers // 5)
        # One more cabinet per province that is nobody's home: riders swap there when away.
        kinds += [0] * (cabinets + 1) + [1] * ac_chargers + [2] * dc_chargers
        provinces += [province] * (cabinets + 1 + ac_chargers + dc_chargers)
        roaming += [False] * cabinets + [True] + [False] * (ac_chargers + dc_chargers)
    kind_index = np.asarray(kinds, dtype=np.int64)
    province_index = np.asarray(provinces, dtype=np.int64)
    count = kind_index.shape[0]
    lat, lon = _scatter_around(rng, province_index)
    draw = rng.random(int(count))
    supply_index = np.where(
        draw < SHARE_OFFGRID_PV, 2, np.where(draw < SHARE_OFFGRID_PV + SHARE_GRID_PV, 1, 0)
    ).astype(np.int64)
    # A cabinet serves about 150 vehicles at ~1.5 kWh/day each; PV covers part of it.
    typical_demand_kwh = np.where(kind_index == 0, 230.0, np.where(kind_index == 1, 40.0, 80.0))
    pv_peak_kw = np.where(supply_index > 0, typical_demand_kwh * 0.45 / 4.3, 0.0)
    battery_count = np.where(kind_index == 0, SPARE_BATTERIES_PER_CABINET, 0).astype(np.int64)
    return Stations(
        station_ids=numbered_ids("ST", count, 5),
        kind_index=kind_index,
        province_index=province_index,
        lat_deg=lat,
        lon_deg=lon,
        supply_index=supply_index,
        commission_day=-rng.integers(30, 400, size=int(count)).astype(np.int64),
        serves_non_project=(kind_index > 0) & (rng.random(int(count)) < 0.5),
        pv_peak_kw=pv_peak_kw,
        battery_first=np.zeros(count, dtype=np.int64),
        battery_count=battery_count,
        roaming=np.asarray(roaming, dtype=bool),
    )


def draw_fleet(rng: np.random.Generator, vehicles: int, days: int) -> tuple[Fleet, Stations]:
    """Draw the whole fleet and the station network that serves it."""
    owner_index = rng.choice(3, size=vehicles, p=(0.3, 0.5, 0.2)).astype(np.int64)
    motorcycle_share = np.asarray((0.0, 0.4, 0.8))[owner_index]
    category_index = (rng.random(vehicles) < motorcycle_share).astype(np.int64)
    model_index = (category_index * 2 + rng.integers(0, 2, size=vehicles)).astype(np.int64)
    swap_share = np.asarray((0.0, 0.7, 1.0))[owner_index]
    battery_mode_index = np.where(rng.random(vehicles) < swap_share, 0, 1).astype(np.int64)
    province_index = rng.choice(2, size=vehicles, p=PROVINCE_SHARES).astype(np.int64)

    # Rollout: a quarter already on the road, the rest delivered over three quarters of the window.
    already = rng.random(vehicles) < 0.25
    rollout_days = max(1, int(days * 0.75))
    commission_day = np.where(
        already, -rng.integers(1, 366, size=vehicles), rng.integers(0, rollout_days, size=vehicles)
    ).astype(np.int64)
    er_rights_day = commission_day - rng.integers(0, 31, size=vehicles)
    service_days = rng.exponential(365.0 / ANNUAL_DECOMMISSION_RATE, size=vehicles).astype(np.int64)
    decommission_day = np.where(
        commission_day + service_days < days, commission_day + service_days + 1, days + 10_000
    ).astype(np.int64)

    median_km = np.asarray(MEDIAN_DAILY_KM)[owner_index] * rng.lognormal(0.0, 0.25, size=vehicles)
    base_consumption = np.asarray([model[4] for model in MODELS])[model_index]
    consumption = base_consumption * rng.normal(1.0, 0.05, size=vehicles)

    swap_counts = np.bincount(province_index[battery_mode_index == 0], minlength=2)
    fixed_counts = np.bincount(province_index[battery_mode_index == 1], minlength=2)
    stations = draw_stations(rng, swap_counts.astype(np.int64), fixed_counts.astype(np.int64))

    home_station = np.empty(vehicles, dtype=np.int64)
    for province in range(2):
        for mode, kinds in ((0, (0,)), (1, (1, 2))):
            members = np.flatnonzero((province_index == province) & (battery_mode_index == mode))
            candidates = np.flatnonzero(
                (stations.province_index == province)
                & np.isin(stations.kind_index, kinds)
                & ~stations.roaming
            )
            home_station[members] = rng.choice(candidates, size=int(members.shape[0]))
    home_lat, home_lon = _scatter_around(rng, province_index)

    # Battery pool: one battery in every swap vehicle, then each cabinet's spares.
    swap_vehicle = battery_mode_index == 0
    initial_battery = np.full(vehicles, -1, dtype=np.int64)
    initial_battery[swap_vehicle] = np.arange(int(swap_vehicle.sum()))
    spare_first = int(swap_vehicle.sum()) + np.concatenate(
        ([0], np.cumsum(stations.battery_count)[:-1])
    )
    stations = Stations(**{**stations.__dict__, "battery_first": spare_first.astype(np.int64)})

    event_draw = rng.random(vehicles)
    has_event = event_draw < 0.06 * max(days, 1) / 365.0
    device_event_day = np.where(has_event, rng.integers(1, max(days, 2), size=vehicles), -1)
    vehicle_ids = numbered_ids("V", vehicles, 7)
    fleet = Fleet(
        vehicle_ids=vehicle_ids,
        vins=np.char.add("KH9VW", np.char.zfill(np.arange(vehicles).astype("U12"), 12)),
        plates=_plates(rng, province_index),
        model_index=model_index,
        category_index=category_index,
        owner_index=owner_index,
        battery_mode_index=battery_mode_index,
        province_index=province_index,
        commission_day=commission_day,
        er_rights_day=er_rights_day.astype(np.int64),
        decommission_day=decommission_day,
        decommission_reason_index=rng.integers(0, 3, size=vehicles).astype(np.int64),
        median_daily_km=median_km,
        consumption_kwh_per_km=consumption,
        home_station=home_station,
        home_lat_deg=home_lat,
        home_lon_deg=home_lon,
        initial_battery=initial_battery,
        device_event_day=device_event_day.astype(np.int64),
        device_event_is_swap=event_draw < 0.04 * max(days, 1) / 365.0,
        tracked=np.ones(vehicles, dtype=bool),
    )
    return fleet, stations


def _plates(rng: np.random.Generator, province_index: NDArray[np.int64]) -> NDArray[np.str_]:
    """Plates like `PP-1A-2345`, unique because the serial part is a permutation."""
    count = province_index.shape[0]
    prefix = np.where(province_index == 0, "PP-", "SR-")
    serial = rng.permutation(count) + 1
    series = np.char.add((1 + serial // 100_000).astype("U3"), "A-")
    digits = np.char.zfill((serial % 100_000).astype("U5"), 5)
    return np.char.add(np.char.add(prefix, series), digits)


def total_batteries(fleet: Fleet, stations: Stations) -> int:
    """Size of the swap battery pool (vehicle batteries plus cabinet spares)."""
    return int((fleet.battery_mode_index == 0).sum() + stations.battery_count.sum())

"""GPS pings along plausible tracks for a chunk of simulated vehicles.

Each vehicle-day with distance becomes one track: a correlated random walk
from the rider's home with a turn of a few degrees per ping, equal steps that
add up to the day's odometer distance, a midday break, and a state of charge
that follows the energy drawn. Pings are generated for blocks of days so
that one block never holds more than a few million pings, whatever the fleet.
GPS faults (a jump, a day outside Cambodia) are planted in the tracks here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from article6.mrv.sim_activity import (
    SOC_IN_MEAN_PCT,
    US_PER_S,
    ChunkTable,
    VehicleChunk,
    id_array,
    timestamps,
)
from article6.mrv.sim_faults import NO_FAULT
from article6.mrv.sim_fleet import KM_PER_DEGREE_LAT

BANGKOK_DEG = (13.7563, 100.5018)
MAX_PINGS_PER_BLOCK = 4_000_000


def _segmented_cumsum(
    values: NDArray[np.float64], starts: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Cumulative sum restarting at each segment start (segments are contiguous)."""
    total = np.cumsum(values)
    lengths = np.diff(np.append(starts, values.shape[0]))
    before = np.repeat(total[starts] - values[starts], lengths)
    return np.asarray(total - before, dtype=np.float64)


def gps_blocks(chunk: VehicleChunk, ping_interval_s: int) -> Iterator[ChunkTable]:
    """Pings along correlated random-walk tracks from home, in blocks of days."""
    category = chunk.fleet.category_index[chunk.lo : chunk.hi]
    cruise_kmh = np.where(category == 1, 27.0, 22.0) * chunk.rng.uniform(
        0.9, 1.1, size=category.shape
    )
    step_km_nominal = cruise_kmh * ping_interval_s / 3600.0
    moving = (chunk.km > 0) & chunk.tracked[:, None]  # no device, no pings
    pings = np.where(
        moving, np.maximum(2, np.ceil(chunk.km / step_km_nominal[:, None]) + 1), 0
    ).astype(np.int64)
    per_day = pings.sum(axis=0)
    first = 0
    while first < chunk.days:
        last = first + 1
        budget = per_day[first]
        while last < chunk.days and budget + per_day[last] <= MAX_PINGS_PER_BLOCK:
            budget += per_day[last]
            last += 1
        yield _gps_block(chunk, first, last, pings, ping_interval_s)
        first = last


def _gps_block(
    chunk: VehicleChunk, first: int, last: int, pings: NDArray[np.int64], ping_interval_s: int
) -> ChunkTable:
    rng = chunk.rng
    counts = pings[:, first:last]
    vv, dd = np.nonzero(counts)
    n_seg = counts[vv, dd]
    dd = dd + first
    total = int(n_seg.sum())
    seg_start = np.concatenate(([0], np.cumsum(n_seg)[:-1])).astype(np.int64)
    seg = np.repeat(np.arange(vv.shape[0]), n_seg)
    position = np.arange(total) - seg_start[seg]
    step_km = np.where(position > 0, (chunk.km[vv, dd] / (n_seg - 1))[seg], 0.0)
    turn = rng.normal(0.0, 0.3, size=total)
    turn[seg_start] = rng.uniform(0.0, 2 * np.pi, size=int(vv.shape[0]))
    heading = _segmented_cumsum(turn, seg_start)
    north_km = _segmented_cumsum(step_km * np.cos(heading), seg_start)
    east_km = _segmented_cumsum(step_km * np.sin(heading), seg_start)
    home_lat = chunk.fleet.home_lat_deg[chunk.lo + vv][seg]
    home_lon = chunk.fleet.home_lon_deg[chunk.lo + vv][seg]
    lat = home_lat + north_km / KM_PER_DEGREE_LAT
    lon = home_lon + east_km / (KM_PER_DEGREE_LAT * np.cos(np.radians(home_lat)))
    speed = step_km / (ping_interval_s / 3600.0) * rng.uniform(0.95, 1.05, size=total)
    half = n_seg // 2
    day_start_s = 5 * 3600 + rng.integers(0, 3600, size=int(vv.shape[0]))
    break_s = rng.integers(1800, 5400, size=int(vv.shape[0]))
    offset_s = (
        day_start_s[seg] + position * ping_interval_s + (position >= half[seg]) * break_s[seg]
    )
    ts = chunk.day_us(dd)[seg] + offset_s * US_PER_S
    consumed = (
        chunk.energy_before_day[vv, dd][seg]
        + _segmented_cumsum(step_km, seg_start) * chunk.consumption[vv][seg]
    )
    usable = chunk.usable_kwh[vv][seg]
    soc = SOC_IN_MEAN_PCT - 100.0 * np.mod(consumed, usable) / chunk.capacity_kwh[vv][seg]

    tag = np.full(total, NO_FAULT, dtype=np.int64)
    kinds: list[str] = []
    for kind in ("gps_jump", "outside_cambodia"):
        rows = chunk.rows_with(kind)
        hit = np.flatnonzero(np.isin(vv, rows) & (dd == chunk.fault_day[vv]))
        if not hit.shape[0]:
            continue
        kinds.append(kind)
        if kind == "gps_jump":
            # Eleven km within half a minute: a jump by the rule, whatever the ping rate.
            target = seg_start[hit] + n_seg[hit] // 2
            lat[target] += 0.1
            ts[target] = ts[target - 1] + min(30, ping_interval_s) * US_PER_S
            tag[target] = len(kinds) - 1
        else:
            for segment in hit:
                span = slice(seg_start[segment], seg_start[segment] + n_seg[segment])
                lat[span] += BANGKOK_DEG[0] - home_lat[span]
                lon[span] += BANGKOK_DEG[1] - home_lon[span]
                tag[seg_start[segment]] = len(kinds) - 1
    table = pa.table(
        {
            "device_id": id_array("D", chunk.device_number[vv, dd][seg], 8),
            "ts": timestamps(ts),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "speed_kmh": np.round(speed, 1),
            "soc_pct": np.round(np.clip(soc, 0.0, 100.0), 1),
        }
    )
    ping_vehicle = chunk.lo + vv[seg]
    faults = [
        (kinds[int(tag[i])], int(i), str(chunk.fleet.vehicle_ids[ping_vehicle[i]]))
        for i in np.flatnonzero(tag >= 0)
    ]
    return ChunkTable("gps_pings", table, faults)

"""Compiled loops of the activity kernel (``activity_kernel``).

Two jobs that a hash aggregate over millions of string keys does slowly and
a single pass does fast: finding the few rows whose key may repeat an
earlier one, and summing energy per vehicle and day.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from article6.mrv.gps_numba import compiled, local_day

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
U8 = NDArray[np.uint8]
B = NDArray[np.bool_]


@compiled
def not_above_running_max(offsets: I64, data: U8, highest: int, flags: B) -> tuple[int, int]:
    """Flag each key (UTF-8 bytes between `offsets`) not above every key before it.

    A key that repeats an earlier one is never above it, so every repeat is
    flagged; keys stored in increasing order, as exports usually are, flag
    nothing. `data` starts with the highest key of earlier batches, `highest`
    bytes long (0 for none); where the highest key after this batch lies in
    `data` is returned.
    """
    best_start, best_end = 0, highest
    seen = highest > 0
    for i in range(offsets.shape[0] - 1):
        start, end = offsets[i], offsets[i + 1]
        above = not seen
        if seen:
            n = min(end - start, best_end - best_start)
            k = 0
            while k < n and data[start + k] == data[best_start + k]:
                k += 1
            if k < n:
                above = data[start + k] > data[best_start + k]
            else:
                above = end - start > best_end - best_start
        flags[i] = not above
        if above:
            best_start, best_end, seen = start, end, True
    return best_start, best_end


@compiled
def vehicle_day_sums(
    vehicle: I32, day: I64, energy: F64, vehicles: int, first_day: int, days: int
) -> tuple[I32, I64, F64]:
    """Energy per vehicle and day, ordered by vehicle and day.

    `vehicle` holds codes 0..vehicles-1 and `day` days in [first_day,
    first_day + days). Rows are counted out by vehicle, then each vehicle's
    days summed in a per-day slot: linear in rows and days, with no hashing.
    """
    starts = np.zeros(vehicles + 1, np.int64)
    for v in vehicle:
        starts[v + 1] += 1
    for v in range(vehicles):
        starts[v + 1] += starts[v]
    order = np.empty(vehicle.shape[0], np.int64)
    fill = starts[:-1].copy()
    for i in range(vehicle.shape[0]):
        v = vehicle[i]
        order[fill[v]] = i
        fill[v] += 1
    slot = np.zeros(days, np.float64)
    used = np.zeros(days, np.bool_)
    out_vehicle = np.empty(vehicle.shape[0], np.int32)
    out_day = np.empty(vehicle.shape[0], np.int64)
    out_energy = np.empty(vehicle.shape[0], np.float64)
    n = 0
    for v in range(vehicles):
        if starts[v] == starts[v + 1]:
            continue
        for j in range(starts[v], starts[v + 1]):
            i = order[j]
            d = day[i] - first_day
            slot[d] += energy[i]
            used[d] = True
        for d in range(days):
            if used[d]:
                out_vehicle[n] = v
                out_day[n] = first_day + d
                out_energy[n] = slot[d]
                n += 1
                slot[d] = 0.0
                used[d] = False
    return out_vehicle[:n], out_day[:n], out_energy[:n]


@compiled
def local_days(ts_us: I64) -> I64:
    """``quality.local_day`` of every instant (microseconds since 1970)."""
    out = np.empty(ts_us.shape[0], np.int64)
    for i in range(ts_us.shape[0]):
        out[i] = local_day(ts_us[i])
    return out

"""Compiled per-vehicle day loop of the daily kernel (``daily_kernel``).

For each vehicle in turn its days are laid out in a window of slots, from
``LOOKBACK_DAYS`` before the vintage to its end, and walked in order: the
odometer and GPS distances of a day are combined, checked against the daily
maximum, days with activity evidence but no distance are filled from the
vehicle's earlier observed days, and the vintage's days are checked against
the vehicle's service window and summed. Each step is written as
``distance.daily_distance``, ``distance._evidence_fill`` and the pipeline's
``_vintage_days`` and ``vehicle_totals`` write theirs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from article6.mrv.gps_numba import compiled

I32 = NDArray[np.int32]
I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
F64 = NDArray[np.float64]
B = NDArray[np.bool_]

# Source of a day's distance (indexes ``daily_kernel.SOURCES``).
ODOMETER, ODOMETER_GAP, GPS, EVIDENCE_FILL = range(4)
# Why a day of the vintage was not credited (indexes ``daily_kernel.DAY_REASONS``).
EXCEEDED, BEFORE_ER_RIGHTS, OUTSIDE_WINDOW = range(3)
# Per-vehicle parameters, one row per vehicle: float and integer columns.
MAX_KM, SEC_MAX = range(2)
ER_DAY, START_DAY, STOP_DAY = range(3)
NO_STOP = np.iinfo(np.int64).max
# Per-vehicle totals: float and integer columns.
DISTANCE, IMPUTED_KM = range(2)
DAYS, MISMATCH_DAYS, EVIDENCE_DAYS, EVIDENCE_FIRST, EVIDENCE_LAST = range(5)


@compiled
def by_vehicle(vehicle: I32, vehicles: int) -> tuple[I64, I32]:
    """Rows counted out by vehicle: each vehicle's start in the order, and the order."""
    starts = np.zeros(vehicles + 1, np.int64)
    for v in vehicle:
        starts[v + 1] += 1
    for v in range(vehicles):
        starts[v + 1] += starts[v]
    order = np.empty(vehicle.shape[0], np.int32)
    fill = starts[:-1].copy()
    for i in range(vehicle.shape[0]):
        v = vehicle[i]
        order[fill[v]] = i
        fill[v] += 1
    return starts, order


@compiled
def _grown(values: NDArray[Any], used: int, room: int) -> NDArray[Any]:
    """`values` (its first `used` entries) in an array with room for `room` more."""
    more = np.empty(max(2 * values.shape[0], used + room), values.dtype)
    more[:used] = values[:used]
    return more


@compiled
def vehicle_days(
    steps: tuple[I32, I32, I32, F64],
    gps: tuple[I32, I32, F64],
    evidence: tuple[I32, I32, F64],
    orders: tuple[tuple[I64, I32], tuple[I64, I32], tuple[I64, I32]],
    block: tuple[int, int],
    floats: F64,
    ints: I64,
    first_day: int,
    end_day: int,
    settings: tuple[int, int, int, float, bool],
    totals_f: F64,
    totals_i: I64,
) -> tuple[tuple[I64, I64, F64, B, I8, B], tuple[I64, I64, F64, I8]]:
    """The credited and rejected days of the vehicles of `block` (first code, end
    code) for the vintage; their totals go to their rows of `totals_f` and
    `totals_i` (zeros, and -1 for the first and last evidence day). Blocks
    share nothing else, so they run in threads of their own.

    `steps`: vehicle, day, gap (0 on a vehicle's first day with readings),
    delta_km of the odometer's day steps; `gps`: vehicle, day, gps_km;
    `evidence`: vehicle, day, energy_kwh of each swap or charge; `orders`: of
    each, ``by_vehicle``; `floats`, `ints`: per-vehicle parameters;
    `settings`: gap_fill_max_days, p10 window, lookback days, tolerance, and
    whether to return the credited days.
    """
    gap_fill, window, lookback, tolerance, keep_days = settings
    # Unpacked once: an array taken out of a tuple in the loop costs two atomic
    # reference counts each time, more than the row's arithmetic.
    _, step_day, step_gap, step_delta = steps
    _, gps_day, gps_value = gps
    _, ev_day, ev_energy = evidence
    (step_start, step_order), (gps_start, gps_order), (ev_start, ev_order) = orders
    origin = first_day - lookback
    width = end_day - origin
    odo_km = np.zeros(width)
    odo_imputed = np.zeros(width, np.bool_)
    has_odo = np.zeros(width, np.bool_)
    gps_km = np.zeros(width)
    has_gps = np.zeros(width, np.bool_)
    energy = np.zeros(width)
    has_ev = np.zeros(width, np.bool_)
    obs_day = np.empty(width, np.int64)
    obs_km = np.empty(width)
    low_km = np.empty(window)
    low_day = np.empty(window, np.int64)
    d_veh = np.empty(1024, np.int64)
    d_day = np.empty(1024, np.int64)
    d_km = np.empty(1024)
    d_imputed = np.empty(1024, np.bool_)
    d_source = np.empty(1024, np.int8)
    d_mismatch = np.empty(1024, np.bool_)
    r_veh = np.empty(1024, np.int64)
    r_day = np.empty(1024, np.int64)
    r_km = np.empty(1024)
    r_reason = np.empty(1024, np.int8)
    n_days = 0
    n_rejected = 0
    for v in range(block[0], block[1]):
        lo, hi = width, -1
        for j in range(step_start[v], step_start[v + 1]):
            i = step_order[j]
            gap = step_gap[i]
            # A day closing a gap of more than gap_fill days, or a first day, has none.
            spread = gap if 1 <= gap <= gap_fill + 1 else 0
            for k in range(spread):
                d = step_day[i] - k - origin
                if 0 <= d < width:
                    odo_km[d] = step_delta[i] / np.float64(gap)
                    odo_imputed[d] = k > 0
                    has_odo[d] = True
                    lo, hi = min(lo, d), max(hi, d)
        for j in range(gps_start[v], gps_start[v + 1]):
            i = gps_order[j]
            d = gps_day[i] - origin
            if 0 <= d < width:
                gps_km[d] = gps_value[i]
                has_gps[d] = True
                lo, hi = min(lo, d), max(hi, d)
        for j in range(ev_start[v], ev_start[v + 1]):
            i = ev_order[j]
            d = ev_day[i] - origin
            if 0 <= d < width:
                energy[d] += ev_energy[i]  # one row per swap or charge
                has_ev[d] = True
                lo, hi = min(lo, d), max(hi, d)
        er, start, stop = ints[v, ER_DAY], ints[v, START_DAY], ints[v, STOP_DAY]
        # Room for every day of this vehicle in both outputs, made before its days
        # are walked: an array replaced inside that loop would be reference
        # counted on every day.
        room = hi - lo + 1
        if n_rejected + room > r_veh.shape[0]:
            r_veh, r_day = _grown(r_veh, n_rejected, room), _grown(r_day, n_rejected, room)
            r_km, r_reason = _grown(r_km, n_rejected, room), _grown(r_reason, n_rejected, room)
        if keep_days and n_days + room > d_veh.shape[0]:
            d_veh, d_day = _grown(d_veh, n_days, room), _grown(d_day, n_days, room)
            d_km, d_imputed = _grown(d_km, n_days, room), _grown(d_imputed, n_days, room)
            d_source, d_mismatch = _grown(d_source, n_days, room), _grown(d_mismatch, n_days, room)
        observed = 0
        for d in range(lo, hi + 1):
            day = origin + d
            credited = False
            if has_odo[d] or has_gps[d]:
                km = odo_km[d]
                imputed = odo_imputed[d] and not has_gps[d]
                mismatch = False
                source = ODOMETER_GAP if imputed else ODOMETER
                if has_odo[d] and has_gps[d]:
                    larger = max(odo_km[d], gps_km[d])
                    mismatch = abs(odo_km[d] - gps_km[d]) > tolerance * larger
                    if mismatch:
                        km = min(odo_km[d], gps_km[d])
                        if gps_km[d] < odo_km[d]:
                            source = GPS
                elif has_gps[d]:
                    km = gps_km[d]
                    source = GPS
                if km > floats[v, MAX_KM]:
                    if day >= first_day:
                        r_veh[n_rejected] = v
                        r_day[n_rejected] = day
                        r_km[n_rejected] = km
                        r_reason[n_rejected] = EXCEEDED
                        n_rejected += 1
                else:
                    credited = True
                    if not imputed:
                        obs_day[observed] = day
                        obs_km[observed] = km
                        observed += 1
            elif has_ev[d]:
                # Nearest-rank 10th percentile of the `window` latest observed days
                # in the `lookback` days before this one (ties by day), 0 if none:
                # insertion-sorted by (km, day) as they are taken, latest first.
                n = 0
                i = observed - 1
                while i >= 0 and n < window and obs_day[i] >= day - lookback:
                    j = n
                    while j > 0 and (
                        low_km[j - 1] > obs_km[i]
                        or (low_km[j - 1] == obs_km[i] and low_day[j - 1] > obs_day[i])
                    ):
                        low_km[j], low_day[j] = low_km[j - 1], low_day[j - 1]
                        j -= 1
                    low_km[j], low_day[j] = obs_km[i], obs_day[i]
                    n += 1
                    i -= 1
                p10 = low_km[(n + 9) // 10 - 1] if n > 0 else 0.0
                km = max(min(p10, energy[d] / floats[v, SEC_MAX]), 0.0)
                imputed, mismatch, source = True, False, EVIDENCE_FILL
                credited = True
            if has_ev[d] and day >= first_day and day >= er and day >= start and day < stop:
                totals_i[v, EVIDENCE_DAYS] += 1
                if totals_i[v, EVIDENCE_FIRST] < 0:
                    totals_i[v, EVIDENCE_FIRST] = day
                totals_i[v, EVIDENCE_LAST] = day
            if credited and day >= first_day:
                reason = -1
                if day < er:
                    reason = BEFORE_ER_RIGHTS
                elif day < start or day >= stop:
                    reason = OUTSIDE_WINDOW
                if reason >= 0:
                    r_veh[n_rejected] = v
                    r_day[n_rejected] = day
                    r_km[n_rejected] = km
                    r_reason[n_rejected] = reason
                    n_rejected += 1
                else:
                    if keep_days:
                        d_veh[n_days] = v
                        d_day[n_days] = day
                        d_km[n_days] = km
                        d_imputed[n_days] = imputed
                        d_source[n_days] = source
                        d_mismatch[n_days] = mismatch
                        n_days += 1
                    totals_f[v, DISTANCE] += km
                    if imputed:
                        totals_f[v, IMPUTED_KM] += km
                    totals_i[v, DAYS] += 1
                    if mismatch:
                        totals_i[v, MISMATCH_DAYS] += 1
            has_odo[d] = False
            odo_imputed[d] = False
            has_gps[d] = False
            has_ev[d] = False
            energy[d] = 0.0
    return (
        (
            d_veh[:n_days],
            d_day[:n_days],
            d_km[:n_days],
            d_imputed[:n_days],
            d_source[:n_days],
            d_mismatch[:n_days],
        ),
        (r_veh[:n_rejected], r_day[:n_rejected], r_km[:n_rejected], r_reason[:n_rejected]),
    )

"""Compiled per-row logic of the streaming GPS kernel (``gps_kernel``).

The rules of ``distance.gps_daily`` are sequential per device and per
vehicle: a copy of a key is known only from the row before it, a jump only
from the previous ping inside the boundary, a segment only from the previous
kept ping. Rather than sort the table by vehicle (window functions), rows are
taken in the order they are stored and every device and vehicle carries its
own state from row to row and batch to batch. This module holds that loop,
compiled by numba and cached on disk so a run pays no compilation.

Arithmetic follows the SQL DuckDB runs for the Ibis expressions bit for bit:
epoch seconds are microseconds / 1e6 as a double, the local day floors a
double division of the rounded (half to even) epoch second, and squares are
products, as ``distance.haversine_km`` writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numpy.typing import NDArray

F = TypeVar("F", bound=Callable[..., Any])

# Row status: kept, or the first rule broken (indexes ``gps_kernel.REASONS``),
# or waiting for the vehicle rules (``READY``), or handed over to the
# per-vehicle pass after a sort (``DIVERTED``).
KEPT = 0
DUPLICATE = 1
UNASSIGNED = 2
OUTSIDE = 3
JUMP = 4
SPEED = 5
READY = 8
DIVERTED = 9
# Vehicles are split between threads in blocks of consecutive codes, so two
# threads seldom write to the same cache line of the state arrays.
BLOCK = 16

# Layout of the float parameter vector.
P_LAT_MIN, P_LAT_MAX, P_LON_MIN, P_LON_MAX, P_JUMP_KM, P_JUMP_S = range(6)

EARTH_DIAMETER_KM = 2 * 6371.0088
DEG_TO_RAD = math.pi / 180.0
LOCAL_OFFSET_S = 7 * 3600
SECONDS_PER_DAY = 86400.0
NO_END = np.iinfo(np.int64).max

I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
F64 = NDArray[np.float64]
I8 = NDArray[np.int8]
B = NDArray[np.bool_]
B2 = NDArray[np.bool_]
I64_2 = NDArray[np.int64]
F64_2 = NDArray[np.float64]


def compiled(function: F) -> F:
    """numba's nopython compilation, cached on disk, with the Python signature kept."""
    return cast(F, numba.njit(cache=True, nogil=True)(function))


def inlined(function: F) -> F:
    """``compiled``, and inlined into its callers. Only for scalar arguments:
    an array passed to a function costs two atomic reference counts per call,
    more than the arithmetic of a row."""
    return cast(F, numba.njit(cache=True, nogil=True, inline="always")(function))


@inlined
def haversine(
    lat1: float, lon1: float, cos1: float, lat2: float, lon2: float, cos2: float
) -> float:
    """``distance.haversine_km`` as DuckDB evaluates it.

    ``cos1``, ``cos2`` are the cosines of the latitudes in radians (each
    ping's is computed once).
    """
    sin_dlat = math.sin((lat2 - lat1) * DEG_TO_RAD / 2)
    sin_dlon = math.sin((lon2 - lon1) * DEG_TO_RAD / 2)
    a = sin_dlat * sin_dlat + cos1 * cos2 * (sin_dlon * sin_dlon)
    return math.asin(min(1.0, math.sqrt(a))) * EARTH_DIAMETER_KM


@inlined
def local_day(ts_us: int) -> int:
    """``quality.local_day`` as DuckDB evaluates it: floor((round(epoch) + 7 h) / 1 day)."""
    seconds = np.int64(np.rint(ts_us / 1e6))
    return math.floor((seconds + LOCAL_OFFSET_S) / SECONDS_PER_DAY)


# Per-vehicle state, one row of each array per vehicle code: the last ping
# inside the boundary (``b_*``; ``B_KEPT`` if it was kept too), the last kept
# ping (``k_*``) and the distance of that ping's day so far.
HAS_B, B_KEPT, HAS_K = range(3)
B_TS, K_DAY = range(2)
B_LAT, B_LON, B_COS, K_LAT, K_LON, K_COS, KM = range(7)


@compiled
def device_rows(
    dev: I32,
    dev_code: I64,
    ts: I64,
    lat: F64,
    lon: F64,
    file: I32,
    file_rank: I64,
    row: I64,
    status: I8,
    veh: I64,
    assign: I64,
    d_seen: B,
    d_ts: I64,
    d_rank: I64,
    d_row: I64,
    d_lo: I64,
    d_hi: I64,
    a_from: I64,
    a_to: I64,
    a_veh: I64,
    divert: B,
    params: F64,
) -> int:
    """Duplicate keys, assignment and boundary over a batch in stored order.

    The order must be time order per device. Each row gets its vehicle
    (``veh``) and a status: a rejection, ``READY`` for the vehicle rules, or
    ``DIVERTED`` if its vehicle has several devices (its pings then need a
    sort by vehicle first), and the index of its assignment (``assign``, -1
    for none). Device ids and files come as dictionary indices
    (``dev``, ``file``) with their global codes and ranks (``dev_code``,
    ``file_rank``). Returns 0, or ``-1 - i`` if row ``i`` comes before the
    previous row of its device in (ts, source file, source row) order.
    """
    for i in range(ts.shape[0]):
        t = ts[i]
        d = dev_code[dev[i]]
        rank = file_rank[file[i]]
        duplicate = False
        if d_seen[d]:
            last = d_ts[d]
            if t < last or (
                t == last and (rank < d_rank[d] or (rank == d_rank[d] and row[i] < d_row[d]))
            ):
                return -1 - i
            duplicate = t == last
        d_seen[d] = True
        d_ts[d] = t
        d_rank[d] = rank
        d_row[d] = row[i]
        veh[i] = -1
        assign[i] = -1
        if duplicate:
            status[i] = DUPLICATE
            continue
        v = -1
        for j in range(d_lo[d], d_hi[d]):
            if a_from[j] <= t < a_to[j]:
                v = a_veh[j]
                assign[i] = j
                break
        veh[i] = v
        if v < 0:
            status[i] = UNASSIGNED
        elif not (
            params[P_LAT_MIN] <= lat[i] <= params[P_LAT_MAX]
            and params[P_LON_MIN] <= lon[i] <= params[P_LON_MAX]
        ):
            status[i] = OUTSIDE
        elif divert[v]:
            status[i] = DIVERTED
        else:
            status[i] = READY
    return 0


@compiled
def vehicle_rows(
    part: int,
    parts: int,
    ts: I64,
    lat: F64,
    lon: F64,
    status: I8,
    veh: I64,
    limit: F64,
    params: F64,
    flags: B2,
    ints: I64_2,
    floats: F64_2,
    out_veh: I64,
    out_day: I64,
    out_km: F64,
) -> int:
    """Jump and speed rules, then the daily distance, over the ``READY`` rows.

    Rows of each vehicle must come in (ts, source file, source row) order.
    Only vehicles of block ``part`` of ``parts`` are taken (blocks of
    ``BLOCK`` vehicle codes), so parts run in threads of their own without
    sharing state. Returns the number of closed (vehicle, day) rows written
    to ``out_*``.
    """
    emitted = 0
    for i in range(ts.shape[0]):
        if status[i] != READY:
            continue
        v = veh[i]
        if parts > 1 and (v // BLOCK) % parts != part:
            continue
        t = ts[i]
        y = lat[i]
        x = lon[i]
        # Jump and speed rules, on the step from the last ping inside the boundary.
        code = KEPT
        cos = math.cos(y * DEG_TO_RAD)
        step = 0.0
        if flags[v, HAS_B]:
            step = haversine(floats[v, B_LAT], floats[v, B_LON], floats[v, B_COS], y, x, cos)
            hours = (t / 1e6 - ints[v, B_TS] / 1e6) / 3600.0
            if step > params[P_JUMP_KM] and hours * 3600.0 <= params[P_JUMP_S]:
                code = JUMP
            elif step > 0 and (hours <= 0 or step > limit[v] * hours):
                code = SPEED
        # When the last ping inside the boundary was kept, it is also the last
        # kept ping, and the segment is the step just measured.
        same = flags[v, B_KEPT]
        flags[v, HAS_B] = True
        flags[v, B_KEPT] = code == KEPT
        ints[v, B_TS] = t
        floats[v, B_LAT] = y
        floats[v, B_LON] = x
        floats[v, B_COS] = cos
        status[i] = code
        if code != KEPT:
            continue
        day = local_day(t)
        if flags[v, HAS_K] and ints[v, K_DAY] == day:
            if not same:
                step = haversine(floats[v, K_LAT], floats[v, K_LON], floats[v, K_COS], y, x, cos)
            floats[v, KM] += step
        else:
            if flags[v, HAS_K]:
                out_veh[emitted] = v
                out_day[emitted] = ints[v, K_DAY]
                out_km[emitted] = floats[v, KM]
                emitted += 1
            # The day's first ping adds 0.0, as in the reference sum.
            floats[v, KM] = 0.0
        flags[v, HAS_K] = True
        ints[v, K_DAY] = day
        floats[v, K_LAT] = y
        floats[v, K_LON] = x
        floats[v, K_COS] = cos
    return emitted


@compiled
def flush(flags: B2, ints: I64_2, floats: F64_2, out_veh: I64, out_day: I64, out_km: F64) -> int:
    """Close every vehicle's open day at the end of the input."""
    emitted = 0
    for v in range(flags.shape[0]):
        if flags[v, HAS_K]:
            out_veh[emitted] = v
            out_day[emitted] = ints[v, K_DAY]
            out_km[emitted] = floats[v, KM]
            emitted += 1
    return emitted


def warm_up() -> None:
    """Load the compiled code from the disk cache ahead of the first batch.

    The first compiled function a process loads brings up numba's runtime and
    LLVM, about half a second; the others then load in milliseconds. A run
    does this in a thread of its own while the engine works on earlier steps.
    """
    flags, ints, floats = np.zeros((1, 3), np.bool_), np.zeros((1, 2), np.int64), np.zeros((1, 7))
    flush(flags, ints, floats, np.empty(1, np.int64), np.empty(1, np.int64), np.empty(1))

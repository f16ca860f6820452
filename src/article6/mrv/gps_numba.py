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
products, as ``distance.haversine_km`` writes them. Step lengths are the
exception (``step_km``): for a short step, nearly every one, the sines and
arcsine, and each latitude's cosine, come from series within an ulp or two of
the library functions and several times cheaper. A rule compares a length with
a limit only after computing it exactly whenever the two are close enough for
those ulps to matter, so which pings are kept never differs; a day's sum may
differ in its last bits, as summation order already makes it.
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


def read_only(values: NDArray[Any]) -> NDArray[Any]:
    """`values`, made read-only, as Arrow's arrays viewed without a copy are: numba
    compiles read-only arrays as another type, so a compiled pass whose inputs may
    come from Arrow gets them read-only always (and is compiled once)."""
    values.flags.writeable = False
    return values


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


# Below this (radians), sin x = x - x^3/6 + x^5/120 and asin y = y + y^3/6 + 3y^5/40
# leave out terms under 1e-21 of the result: the series are as exact as the
# library functions, give or take an ulp. 1e-3 rad of half-angle is about 12 km.
SERIES_MAX = 1e-3
# Below this (radians, about 17 degrees of latitude: the whole of Cambodia), the
# cosine series up to x^16 leaves out terms under 1e-24.
COS_SERIES_MAX = 0.3
# Its coefficients (-1)^k / (2k)! from x^16 down to x^2, in the order Horner's rule takes them.
COS_TERMS: tuple[float, ...] = tuple((-1) ** k / math.factorial(2 * k) for k in range(8, 0, -1))
# A length this close (relative) to a rule's limit is computed exactly before
# the comparison: far more than the few ulps between the two computations.
NEAR_LIMIT = 1e-9


@inlined
def sin_series(x: float) -> float:
    x2 = x * x
    return x + x * x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0))


@inlined
def latitude_cos(lat: float) -> float:
    """cos(radians(lat)), by series where it converges fast, else by the library."""
    x = lat * DEG_TO_RAD
    if abs(x) >= COS_SERIES_MAX:
        return math.cos(x)
    x2 = x * x
    c = COS_TERMS[0]
    for term in COS_TERMS[1:]:
        c = term + x2 * c
    return 1.0 + x2 * c


@inlined
def exact_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """``haversine`` with the library's cosines, as the engines compute it."""
    cos1 = math.cos(lat1 * DEG_TO_RAD)
    return haversine(lat1, lon1, cos1, lat2, lon2, math.cos(lat2 * DEG_TO_RAD))


@inlined
def asin_series(y: float) -> float:
    y2 = y * y
    return y + y * y2 * (1.0 / 6.0 + y2 * (3.0 / 40.0))


@inlined
def step_km(lat1: float, lon1: float, cos1: float, lat2: float, lon2: float, cos2: float) -> float:
    """``haversine`` by series for a short step (the common case), else by the
    library's sine and arcsine; the cosines are the caller's (``latitude_cos``)."""
    half_dlat = (lat2 - lat1) * DEG_TO_RAD / 2
    half_dlon = (lon2 - lon1) * DEG_TO_RAD / 2
    if abs(half_dlat) >= SERIES_MAX or abs(half_dlon) >= SERIES_MAX:
        return haversine(lat1, lon1, cos1, lat2, lon2, cos2)
    sin_dlat = sin_series(half_dlat)
    sin_dlon = sin_series(half_dlon)
    root = math.sqrt(sin_dlat * sin_dlat + cos1 * cos2 * (sin_dlon * sin_dlon))
    if root >= SERIES_MAX:
        return math.asin(min(1.0, root)) * EARTH_DIAMETER_KM
    return asin_series(root) * EARTH_DIAMETER_KM


@inlined
def near(length: float, limit: float) -> bool:
    """Whether `length` from ``step_km`` is too close to `limit` to compare as it is."""
    return abs(length - limit) <= NEAR_LIMIT * abs(limit)


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

    As in ``vehicle_rows``, a device's state is held in locals for a run of
    its rows, and so is the assignment last found: the next row, a little
    later, almost always falls in it too.
    """
    lat_min, lat_max = params[P_LAT_MIN], params[P_LAT_MAX]
    lon_min, lon_max = params[P_LON_MIN], params[P_LON_MAX]
    d = -1
    seen = False
    last = last_rank = last_row = 0
    j = -1
    for i in range(ts.shape[0]):
        t = ts[i]
        c = dev_code[dev[i]]
        rank = file_rank[file[i]]
        r = row[i]
        if c != d:
            if d >= 0:
                d_seen[d], d_ts[d], d_rank[d], d_row[d] = seen, last, last_rank, last_row
            d = c
            seen, last, last_rank, last_row = d_seen[d], d_ts[d], d_rank[d], d_row[d]
            j = -1
        duplicate = False
        if seen:
            if t < last or (
                t == last and (rank < last_rank or (rank == last_rank and r < last_row))
            ):
                return -1 - i  # the caller starts over on sorted input: no state to keep
            duplicate = t == last
        seen, last, last_rank, last_row = True, t, rank, r
        veh[i] = -1
        assign[i] = -1
        if duplicate:
            status[i] = DUPLICATE
            continue
        if not (j >= 0 and a_from[j] <= t < a_to[j]):
            j = -1
            for candidate in range(d_lo[d], d_hi[d]):
                if a_from[candidate] <= t < a_to[candidate]:
                    j = candidate
                    break
        if j < 0:
            status[i] = UNASSIGNED
            continue
        v = a_veh[j]
        veh[i] = v
        assign[i] = j
        if not (lat_min <= lat[i] <= lat_max and lon_min <= lon[i] <= lon_max):
            status[i] = OUTSIDE
        elif divert[v]:
            status[i] = DIVERTED
        else:
            status[i] = READY
    if d >= 0:
        d_seen[d], d_ts[d], d_rank[d], d_row[d] = seen, last, last_rank, last_row
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

    A vehicle's pings mostly come in long runs (files are written per
    device), so its state is held in local variables for the length of a run
    and written back when another vehicle's row comes: the compiler keeps
    locals in registers, while every store to the state arrays would be
    loaded again at the next row.
    """
    jump_km = params[P_JUMP_KM]
    jump_s = params[P_JUMP_S]
    emitted = 0
    v = -1
    has_b = b_kept = has_k = False
    b_ts = k_day = 0
    b_lat = b_lon = b_cos = k_lat = k_lon = k_cos = km = top = 0.0
    n = ts.shape[0]
    w = -1
    # One step past the last row writes the last vehicle's state back.
    for i in range(n + 1):
        end = i == n
        if not end:
            if status[i] != READY:
                continue
            w = veh[i]
            if parts > 1 and (w // BLOCK) % parts != part:
                continue
        if end or w != v:
            if v >= 0:
                flags[v, HAS_B], flags[v, B_KEPT], flags[v, HAS_K] = has_b, b_kept, has_k
                ints[v, B_TS], ints[v, K_DAY] = b_ts, k_day
                floats[v, B_LAT], floats[v, B_LON], floats[v, B_COS] = b_lat, b_lon, b_cos
                floats[v, K_LAT], floats[v, K_LON], floats[v, K_COS] = k_lat, k_lon, k_cos
                floats[v, KM] = km
            if end:
                break
            v = w
            has_b, b_kept, has_k = flags[v, HAS_B], flags[v, B_KEPT], flags[v, HAS_K]
            b_ts, k_day = ints[v, B_TS], ints[v, K_DAY]
            b_lat, b_lon, b_cos = floats[v, B_LAT], floats[v, B_LON], floats[v, B_COS]
            k_lat, k_lon, k_cos = floats[v, K_LAT], floats[v, K_LON], floats[v, K_COS]
            km = floats[v, KM]
            top = limit[v]
        t = ts[i]
        y = lat[i]
        x = lon[i]
        # Jump and speed rules, on the step from the last ping inside the boundary.
        code = KEPT
        cos = latitude_cos(y)
        step = 0.0
        if has_b:
            step = step_km(b_lat, b_lon, b_cos, y, x, cos)
            hours = (t / 1e6 - b_ts / 1e6) / 3600.0
            if near(step, jump_km) or near(step, top * hours):
                step = exact_km(b_lat, b_lon, y, x)
            if step > jump_km and hours * 3600.0 <= jump_s:
                code = JUMP
            elif step > 0 and (hours <= 0 or step > top * hours):
                code = SPEED
        # When the last ping inside the boundary was kept, it is also the last
        # kept ping, and the segment is the step just measured.
        same = b_kept
        has_b = True
        b_kept = code == KEPT
        b_ts = t
        b_lat, b_lon, b_cos = y, x, cos
        status[i] = code
        if code != KEPT:
            continue
        day = local_day(t)
        if has_k and k_day == day:
            if not same:
                step = step_km(k_lat, k_lon, k_cos, y, x, cos)
            km += step
        else:
            if has_k:
                out_veh[emitted] = v
                out_day[emitted] = k_day
                out_km[emitted] = km
                emitted += 1
            # The day's first ping adds 0.0, as in the reference sum.
            km = 0.0
        has_k = True
        k_day = day
        k_lat, k_lon, k_cos = y, x, cos
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

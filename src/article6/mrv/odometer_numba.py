"""Compiled per-row logic of the streaming odometer kernel (``odometer_kernel``).

The rules of ``distance.odometer_readings`` and the day ends of
``distance.odometer_daily``, over each vehicle's readings in time order:
a rise faster than the vehicle's top speed × tolerance since its previous
assigned reading is implausible; a reading below an earlier plausible one is
a decrease; a day ends at its last kept reading (kept readings never go
down, so that is the day's highest). Arithmetic is that of the SQL DuckDB
runs for the Ibis expressions (see ``gps_numba``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from article6.mrv.gps_numba import KEPT, READY, SPEED, compiled, inlined, local_day

DECREASE = 6

# Per-vehicle state: the previous assigned reading (``A_*``), the highest
# plausible reading so far (``MAX``), the open day and the day closed before it.
HAS_A, HAS_MAX, HAS_DAY, HAS_PREV = range(4)
A_TS, DAY, PREV_DAY = range(3)
A_KM, MAX_KM, END_KM, PREV_END_KM = range(4)
NO_GAP = -1

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
I8 = NDArray[np.int8]
B2 = NDArray[np.bool_]


@inlined
def _close(
    v: int, flags: B2, ints: I64, floats: F64, out_veh: I64, out_day: I64, out_end: F64,
    out_gap: I64, out_delta: F64, at: int,
) -> None:  # fmt: skip
    """Write vehicle `v`'s open day as row `at`: its end, and the step from the day before.

    For ``flush``; ``vehicle_rows`` has the same lines written out, since even
    an inlined call with array arguments costs their reference counts, more
    than doubling the time per row.
    """
    out_veh[at] = v
    out_day[at] = ints[v, DAY]
    out_end[at] = floats[v, END_KM]
    if flags[v, HAS_PREV]:
        out_gap[at] = ints[v, DAY] - ints[v, PREV_DAY]
        out_delta[at] = floats[v, END_KM] - floats[v, PREV_END_KM]
    else:
        out_gap[at] = NO_GAP
        out_delta[at] = 0.0
    flags[v, HAS_PREV] = True
    ints[v, PREV_DAY] = ints[v, DAY]
    floats[v, PREV_END_KM] = floats[v, END_KM]


@compiled
def vehicle_rows(
    ts: I64, km: F64, status: I8, veh: I64, limit: F64, flags: B2, ints: I64, floats: F64,
    out_veh: I64, out_day: I64, out_end: F64, out_gap: I64, out_delta: F64,
) -> int:  # fmt: skip
    """Speed and decrease rules over the ``READY`` rows, closing days as they end.

    Rows of each vehicle must come in (ts, source file, source row) order;
    ``km`` has the assignment's offset added. Returns the number of closed
    days written to ``out_*`` (a gap of ``NO_GAP`` marks a vehicle's first day).
    """
    emitted = 0
    for i in range(ts.shape[0]):
        if status[i] != READY:
            continue
        v = veh[i]
        t = ts[i]
        x = km[i]
        code = KEPT
        if flags[v, HAS_A]:
            rise = x - floats[v, A_KM]
            hours = (t / 1e6 - ints[v, A_TS] / 1e6) / 3600.0
            if rise > 0 and (hours <= 0 or rise > limit[v] * hours):
                code = SPEED
        flags[v, HAS_A] = True
        ints[v, A_TS] = t
        floats[v, A_KM] = x
        if code == KEPT:
            if flags[v, HAS_MAX] and x < floats[v, MAX_KM]:
                code = DECREASE
            else:
                flags[v, HAS_MAX] = True
                floats[v, MAX_KM] = x
        status[i] = code
        if code != KEPT:
            continue
        day = local_day(t)
        if flags[v, HAS_DAY] and ints[v, DAY] != day:  # as _close(v, ..., emitted)
            out_veh[emitted] = v
            out_day[emitted] = ints[v, DAY]
            out_end[emitted] = floats[v, END_KM]
            if flags[v, HAS_PREV]:
                out_gap[emitted] = ints[v, DAY] - ints[v, PREV_DAY]
                out_delta[emitted] = floats[v, END_KM] - floats[v, PREV_END_KM]
            else:
                out_gap[emitted] = NO_GAP
                out_delta[emitted] = 0.0
            flags[v, HAS_PREV] = True
            ints[v, PREV_DAY] = ints[v, DAY]
            floats[v, PREV_END_KM] = floats[v, END_KM]
            emitted += 1
        flags[v, HAS_DAY] = True
        ints[v, DAY] = day
        floats[v, END_KM] = x
    return emitted


@compiled
def flush(
    flags: B2, ints: I64, floats: F64, out_veh: I64, out_day: I64, out_end: F64,
    out_gap: I64, out_delta: F64,
) -> int:  # fmt: skip
    """Close every vehicle's open day at the end of the input."""
    emitted = 0
    for v in range(flags.shape[0]):
        if flags[v, HAS_DAY]:
            _close(v, flags, ints, floats, out_veh, out_day, out_end, out_gap, out_delta, emitted)
            emitted += 1
            flags[v, HAS_DAY] = False
    return emitted

"""Compiled loops of the activity kernel (``activity_kernel``).

Finding the few rows whose key may repeat an earlier one: a hash aggregate
over millions of string keys does it slowly, a single pass fast. Then one
pass per batch of swaps or charges applies the identity rules and sums the
accepted rows, where a chain of array operations would make a temporary
array per step and hold the interpreter lock throughout.

Ids come as the batch dictionary's entry of each row (-1 for an empty value)
and the lookups as one value per entry.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from article6.mrv.gps_numba import compiled, local_day

I8 = NDArray[np.int8]
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


# Row outcomes, in the order of precedence of ``quality``'s rules (``activity_kernel.REASONS``).
OK, DUPLICATE = 0, 1


@compiled
def swap_rows(
    rows: tuple[B, I32, I32, I32, I64, F64, F64],
    lookups: tuple[I64, I8, I64, I8, F64],
    span: tuple[int, int],
    reason: I8,
    served: B,
    evidence: tuple[I32, I32, F64],
) -> int:
    """Each swap's reason (``OK`` if accepted) and the evidence of accepted swaps in the
    vintage: vehicle code, local day and energy, the battery's capacity times the
    charge gained (none if it fell). Returns the evidence rows written.

    `rows`: duplicate flag, station, vehicle and battery entries, ts (microseconds),
    soc_in_pct, soc_out_pct; `lookups`: station code (-1 if not accepted) and
    outcome, vehicle code and outcome, battery capacity (0 if not accepted).
    """
    duplicate, station_index, vehicle_index, battery_index, ts, soc_in, soc_out = rows
    station_code, station_status, vehicle_code, vehicle_status, capacity = lookups
    out_vehicle, out_day, out_energy = evidence
    kept = 0
    for i in range(ts.shape[0]):
        s, v = station_index[i], vehicle_index[i]
        # An empty id breaks no rule (as in SQL, where a test on NULL is not true).
        if duplicate[i]:
            why = DUPLICATE
        elif s >= 0 and station_status[s] != OK:
            why = station_status[s]
        elif v >= 0 and vehicle_status[v] != OK:
            why = vehicle_status[v]
        else:
            why = OK
        reason[i] = why
        # An event of no vehicle or station (the schema requires both) adds nothing.
        if why != OK or s < 0 or v < 0 or station_code[s] < 0 or vehicle_code[v] < 0:
            continue
        day = local_day(ts[i])
        if day < span[0] or day >= span[1]:
            continue
        b = battery_index[i]
        gained = soc_in[i] - soc_out[i]
        if gained < 0.0:  # NaN stays NaN, as in np.maximum
            gained = 0.0
        out_vehicle[kept] = vehicle_code[v]
        out_day[kept] = day
        out_energy[kept] = (capacity[b] if b >= 0 else 0.0) * gained / 100.0
        served[station_code[s]] = True
        kept += 1
    return kept


@compiled
def charge_rows(
    rows: tuple[B, I32, I32, I64, F64],
    lookups: tuple[I64, I8, I64, B, I64],
    span: tuple[int, int],
    reason: I8,
    sums: tuple[B, F64, I64, F64, I64],
    evidence: tuple[I32, I32, F64],
) -> int:
    """Each charge's reason (``OK`` if accepted); of accepted charges in the vintage,
    the evidence of project vehicles (as ``swap_rows``) and the station sums.

    `rows`: duplicate flag, station and vehicle entries, ts_start (microseconds),
    energy_kwh; `lookups`: station code and outcome, vehicle code (-1 if not
    accepted), whether the vehicle is known at all, and the battery-mode code of
    each accepted vehicle; `sums`, per station: served, non-project kWh and
    sessions, and per station and mode (station * modes + mode) kWh and sessions.
    """
    duplicate, station_index, vehicle_index, ts, energy = rows
    station_code, station_status, vehicle_code, known, vehicle_mode = lookups
    served, non_project_kwh, non_project_rows, mode_kwh, mode_rows = sums
    out_vehicle, out_day, out_energy = evidence
    modes = mode_kwh.shape[0] // max(served.shape[0], 1)
    kept = 0
    for i in range(ts.shape[0]):
        s, v = station_index[i], vehicle_index[i]
        if duplicate[i]:
            why = DUPLICATE
        elif s >= 0 and station_status[s] != OK:
            why = station_status[s]
        else:
            why = OK
        reason[i] = why
        # A session of no station (the schema requires one) adds nothing.
        if why != OK or s < 0 or station_code[s] < 0:
            continue
        day = local_day(ts[i])
        if day < span[0] or day >= span[1]:
            continue
        station = station_code[s]
        vehicle = vehicle_code[v] if v >= 0 else -1
        if vehicle >= 0:
            out_vehicle[kept] = vehicle
            out_day[kept] = day
            out_energy[kept] = energy[i]
            served[station] = True
            slot = station * modes + vehicle_mode[vehicle]
            mode_kwh[slot] += energy[i]
            mode_rows[slot] += 1
            kept += 1
        elif v < 0 or not known[v]:
            non_project_kwh[station] += energy[i]
            non_project_rows[station] += 1
    return kept

"""Compiled loops of the activity kernel (``activity_kernel``).

Finding the few rows whose key may repeat an earlier one: a hash aggregate
over millions of string keys does it slowly, a single pass fast.
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
def local_days(ts_us: I64) -> I64:
    """``quality.local_day`` of every instant (microseconds since 1970)."""
    out = np.empty(ts_us.shape[0], np.int64)
    for i in range(ts_us.shape[0]):
        out[i] = local_day(ts_us[i])
    return out

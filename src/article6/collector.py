"""Pausing Python's cycle collector around work that allocates heavily."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block, and back as it was after.

    For work that creates objects by the hundred thousand: each full
    collection walks every object of the process, so a long run of
    allocations pays for rescanning all it holds. Memory is still freed by
    reference counting; the few cycles left are collected once it is back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

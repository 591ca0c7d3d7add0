"""Keeping the cyclic garbage collector from pausing a run.

A full collection walks every tracked object in the process: the imported
modules, the compiled schemas, the datasets, the plans of every case. With a
few thousand cases that is a pause of 50-100 ms on the event loop, during
which no response is read and no request is sent; the collector's own
heuristics schedule one right after planning, when the run is about to
start. Freezing what exists when the run starts (``gc.freeze``) takes those
objects out of every collection until the run ends; everything the run
creates is collected as usual, and reference counting frees all non-cyclic
garbage immediately either way.

The freeze is process-wide, so it is left alone when someone else (a
pre-forking server, say) has already frozen objects, and nested or
concurrent runs in one process unfreeze only when the last of them ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_owner = False


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Exclude the objects alive now from cyclic collections until the block ends."""
    global _depth, _owner
    with _lock:
        if _depth == 0:
            _owner = gc.isenabled() and gc.get_freeze_count() == 0
            if _owner:
                gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _owner:
                gc.unfreeze()
                _owner = False

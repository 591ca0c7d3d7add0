"""Keeping the cyclic garbage collector from pausing a run.

A full collection walks every tracked object in the process: the imported
modules, the compiled schemas, the datasets, the results of every case so
far. With a few thousand cases that is a pause of 40-100 ms on the event
loop, during which no response is read and no request is sent. Freezing
what exists when the run starts (``gc.freeze``) takes those objects out of
every collection until the run ends, and the engine freezes again as the
run goes (:func:`refreeze`), so the results it keeps for the ``RunResult``
join them instead of growing the heap that a full collection walks. Young
objects are collected as usual, which is where a run's cyclic garbage is
found; reference counting frees all other garbage immediately either way,
and whatever was frozen is collectable again once the run ends.

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


def refreeze() -> None:
    """Inside :func:`frozen_heap`, freeze what has survived since (a run's kept results)."""
    with _lock:
        if _depth > 0 and _owner:
            gc.freeze()

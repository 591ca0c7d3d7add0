"""Worker threads for sync component calls that a run can walk away from.

A sync call cannot be interrupted: when one overruns its timeout, the run
fails that case and goes on, and the call keeps its thread until it returns,
perhaps never. ``asyncio.to_thread`` would then hang the run's end (asyncio
joins its default executor's threads on shutdown) and the interpreter's
exit (executor threads are joined at exit). These threads are daemons that
nobody joins: an abandoned call costs one idle thread, never the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any

_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]]


class DaemonPool:
    """Runs callables on daemon threads, starting one whenever none is idle.

    Idle threads wait for the next job and never end on their own: their
    number is the most calls ever blocked at once (bounded by the run's
    concurrency, plus any abandoned), and a thread ending in the background
    would free objects under a caller's ``gc.freeze`` at unpredictable times.
    """

    def __init__(self, name: str = "themis-call") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self.started = 0

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()
        self._jobs.put((loop, future, lambda: context.run(fn, *args)))
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                self.started += 1
                threading.Thread(
                    target=self._work, name=f"{self._name}-{self.started}", daemon=True
                ).start()
        return await future

    def _work(self) -> None:
        while True:
            loop, future, job = self._jobs.get()
            try:
                result = job()
            except BaseException as exc:
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)
            with self._lock:
                self._idle += 1


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():  # the caller timed out or was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(settle)


SHARED_POOL = DaemonPool()
"""One pool per process: threads outlive runs, so short runs reuse them."""

"""The event writer: one thread per store and run that group-commits events.

The engine never waits for a write on its hot path: it hands events to the
writer, which wakes, takes everything queued, and appends it in one store
transaction. Under load that is many events per commit; when the model is
slow it is one at a time. Events leave in the order they were submitted, so
a downstream result is never durable before the upstream result it was
computed from. The run's snapshot goes the same way, ahead of the first
event, so storing it does not hold up the first requests either. A kill
loses at most the batches not yet committed.

Backpressure: when more than ``MAX_PENDING`` events wait for a commit,
producers pause (``wait_for_room``) until the writer catches up, so memory
stays bounded however fast the model is.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable

from themis.core.errors import StoreWriteError as StoreWriteError
from themis.core.events import RunEvent
from themis.core.models import RunSnapshot
from themis.core.stores.base import RunStore

MAX_PENDING = 4096
"""Events submitted but not yet committed before producers are paused."""
RESUME_BELOW = MAX_PENDING // 2


class _Flush:
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


class _Snapshot:
    __slots__ = ("snapshot",)

    def __init__(self, snapshot: RunSnapshot) -> None:
        self.snapshot = snapshot


_STOP = object()


class EventWriter:
    def __init__(
        self,
        store: RunStore,
        loop: asyncio.AbstractEventLoop,
        on_persisted: Callable[[list[RunEvent]], None],
    ) -> None:
        self._store = store
        self._loop = loop
        self._on_persisted = on_persisted
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="themis-event-writer", daemon=True)
        self.error: BaseException | None = None
        self.batches = 0
        self._pending = 0
        self._room: asyncio.Future[None] | None = None
        self._thread.start()

    def _failure(self) -> StoreWriteError:
        return StoreWriteError(f"the run store stopped accepting events: {self.error!r}")

    def save_snapshot(self, snapshot: RunSnapshot) -> None:
        """Store the run's snapshot ahead of every event submitted after it
        (its first commit is off the event loop, like the events')."""
        if self.error is not None:
            raise self._failure() from self.error
        self._queue.put(_Snapshot(snapshot))

    def submit(self, event: RunEvent) -> None:
        if self.error is not None:
            raise self._failure() from self.error
        self._pending += 1
        self._queue.put(event)

    async def wait_for_room(self) -> None:
        """Pause while too many events wait for a commit."""
        while self._pending > MAX_PENDING:
            if self.error is not None:
                raise self._failure() from self.error
            if self._room is None or self._room.done():
                self._room = self._loop.create_future()
            await self._room

    async def flush(self) -> None:
        """Wait until everything submitted so far is committed (or raise why not)."""
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(_Flush(future))
        await future

    async def close(self) -> None:
        try:
            await self.flush()
        finally:
            self._queue.put(_STOP)
            # After a flush the thread is idle and stops at once; only a writer
            # still busy (a failed flush) is waited for off the event loop.
            self._thread.join(timeout=0.05)
            if self._thread.is_alive():
                await asyncio.to_thread(self._thread.join)

    # -- loop-thread callbacks ---------------------------------------------

    def _committed(self, count: int) -> None:
        self._pending -= count
        self._wake_producers()

    def _wake_producers(self) -> None:
        room = self._room
        if room is not None and not room.done():
            if self.error is not None:
                room.set_result(None)  # wait_for_room re-checks and raises
            elif self._pending <= RESUME_BELOW:
                room.set_result(None)

    def _settle(self, future: asyncio.Future[None]) -> None:
        if future.done():
            return
        if self.error is not None:
            future.set_exception(self._failure())
        else:
            future.set_result(None)

    # -- writer thread -----------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                # Submitted before any event, so saved before any is appended.
                if isinstance(item, _Snapshot) and self.error is None:
                    try:
                        self._store.save_snapshot(item.snapshot)
                    except BaseException as exc:  # surfaced to the engine by flush/submit
                        self.error = exc
            events = [item for item in batch if isinstance(item, RunEvent)]
            persisted: list[RunEvent] = []
            if events and self.error is None:
                try:
                    persisted = self._store.append_events(events)
                    self.batches += 1
                except BaseException as exc:  # surfaced to the engine by flush/submit
                    self.error = exc
            if events:
                self._call(self._committed, len(events))
            if persisted:
                self._call(self._on_persisted, persisted)
            for item in batch:
                if isinstance(item, _Flush):
                    self._call(self._settle, item.future)
            if any(item is _STOP for item in batch):
                return

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        # A closed loop means nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

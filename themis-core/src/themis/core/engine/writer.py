"""The event writer: one thread per store and run that group-commits events.

The engine never waits for a write on its hot path: it hands events to the
writer, which wakes, takes everything queued, and appends it in one store
transaction. Under load that is many events per commit; when the model is
slow it is one at a time. Events leave in the order they were submitted, so
a downstream result is never durable before the upstream result it was
computed from. The run's snapshot goes the same way, ahead of the first
event, so storing it does not hold up the first requests either. A kill
loses at most the batches not yet committed.

Backpressure: when more than ``MAX_PENDING`` events wait for a commit, or
the oldest of them has waited longer than ``MAX_UNCOMMITTED_S``, producers
pause (``wait_for_room``) until the writer catches up. The first bounds
memory however fast the model is; the second bounds what a kill can lose by
time: answers keep arriving for the calls already in flight, but no new
case starts while a result has waited that long for its commit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from themis.core.errors import StoreLockedError as StoreLockedError
from themis.core.errors import StoreWriteError as StoreWriteError
from themis.core.models import RunSnapshot
from themis.core.storage.events import RunEvent
from themis.core.storage.stores.base import RunStore

MAX_PENDING = 4096
"""Events submitted but not yet committed before producers are paused."""
RESUME_BELOW = MAX_PENDING // 2
MAX_UNCOMMITTED_S = 0.1
"""How long an event may wait for its commit before producers are paused."""
MAX_BATCH = 512
"""Items per transaction at most: a commit stays short, so the one waiting
behind it is not held up by a huge batch (one fsync still covers hundreds)."""


LOCK_RETRY_S = 0.25
"""Pause between attempts to commit while another process holds the write lock."""
NOTICE_AFTER_S = 2.0
"""Producers paused this long for the store get a notice on stderr."""


def is_lock_error(exc: BaseException) -> bool:
    """Whether a store error means "another writer holds the lock": worth waiting out."""
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "sqlite_busy" in text


class _Flush:
    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[None]) -> None:
        self.future = future


class _Snapshot:
    __slots__ = ("snapshot",)

    def __init__(self, snapshot: RunSnapshot) -> None:
        self.snapshot = snapshot


_STOP = object()

T = TypeVar("T")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class EventWriter:
    def __init__(
        self,
        store: RunStore,
        loop: asyncio.AbstractEventLoop,
        on_persisted: Callable[[list[RunEvent]], None],
        *,
        lock_timeout_s: float | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self._store = store
        self._lock_timeout_s = lock_timeout_s
        limit_lock_wait = getattr(store, "limit_lock_wait", None)
        if lock_timeout_s is not None and callable(limit_lock_wait):
            # a store that waits for locks itself (SQLite's busy timeout) must
            # not wait longer in one attempt than the whole limit allows
            limit_lock_wait(lock_timeout_s)
        self._notify = notify or _stderr
        self._lock_waits = 0  # writes now waiting out another process's lock
        self._lock_waits_guard = threading.Lock()
        self._loop = loop
        self._on_persisted = on_persisted
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="themis-event-writer", daemon=True)
        self.error: BaseException | None = None
        self.batches = 0
        self._pending = 0
        self._submitted_at: collections.deque[float] = collections.deque()
        self._room: asyncio.Future[None] | None = None
        self._noticed = False
        self._thread.start()

    def _failure(self) -> StoreWriteError:
        if isinstance(self.error, StoreLockedError):
            return StoreLockedError(str(self.error))
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
        self._submitted_at.append(time.monotonic())
        self._queue.put(event)

    def _overdue(self) -> bool:
        """Whether the oldest uncommitted event has waited too long."""
        waiting = self._submitted_at
        return bool(waiting) and time.monotonic() - waiting[0] > MAX_UNCOMMITTED_S

    async def wait_for_room(self) -> None:
        """Pause while too many events wait for a commit, or one has waited too long.

        A pause that lasts (another process holding the store's write lock)
        is said on stderr once, so a stalled run does not look hung.
        """
        started = time.monotonic()
        while self._pending > MAX_PENDING or self._overdue():
            if self.error is not None:
                raise self._failure() from self.error
            if self._room is None or self._room.done():
                self._room = self._loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._room), NOTICE_AFTER_S)
            except TimeoutError:
                self._stalled_notice(time.monotonic() - started)

    def _stalled_notice(self, waited_s: float) -> None:
        if self._noticed:
            return
        self._noticed = True
        limit = self._lock_timeout_s
        self._notify(
            f"themis: waiting for the store {self._store!r}: {self._pending} results have "
            f"waited {waited_s:.0f}s for a commit (another process may hold its write lock); "
            "new work is paused, nothing answered is dropped"
            + (f"; giving up after {limit:g}s (runtime.store_lock_timeout_s)" if limit else "")
        )

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
        waiting = self._submitted_at
        for _ in range(min(count, len(waiting))):
            waiting.popleft()
        self._wake_producers()

    def _wake_producers(self) -> None:
        room = self._room
        if room is not None and not room.done():
            if self.error is not None:
                room.set_result(None)  # wait_for_room re-checks and raises
            elif self._pending <= RESUME_BELOW and not self._overdue():
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
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for item in batch:
                # Submitted before any event, so saved before any is appended.
                if isinstance(item, _Snapshot) and self.error is None:
                    self._commit(functools.partial(self._store.save_snapshot, item.snapshot))
            events = [item for item in batch if isinstance(item, RunEvent)]
            persisted: list[RunEvent] = []
            if events and self.error is None:
                persisted = self._commit(functools.partial(self._store.append_events, events)) or []
                if self.error is None:
                    self.batches += 1
            if events:
                self._call(self._committed, len(events))
            if persisted:
                self._call(self._on_persisted, persisted)
            for item in batch:
                if isinstance(item, _Flush):
                    self._call(self._settle, item.future)
            if any(item is _STOP for item in batch):
                return

    def _commit(self, write: Callable[[], T]) -> T | None:
        """One store write, waiting out another process's write lock
        (``wait_out_lock``); meanwhile producers are paused by backpressure,
        so memory stays bounded. Any failure, or the limit, becomes
        ``self.error``."""
        try:
            return self.wait_out_lock(write)
        except BaseException as exc:  # surfaced to the engine by flush/submit
            self.error = exc
            return None

    def wait_out_lock(self, write: Callable[[], T]) -> T:
        """``write()`` (a blocking store call), retried while another process
        holds the store's write lock: a notice on stderr when the wait begins,
        and ``StoreLockedError`` once it has lasted ``lock_timeout_s`` (None:
        for ever). Any other error is raised as it is. Every write a run makes
        (its events, and its leases) waits the same way."""
        deadline: float | None = None
        try:
            while True:
                attempt_started = time.monotonic()
                try:
                    return write()
                except BaseException as exc:
                    if not is_lock_error(exc):
                        raise
                    now = time.monotonic()
                    if deadline is None:
                        # the wait began when the first blocked attempt did:
                        # the store's own busy timeout counts towards the limit
                        limit = self._lock_timeout_s
                        deadline = attempt_started + limit if limit is not None else float("inf")
                        self._lock_wait_began(limit)
                    if now >= deadline:
                        raise StoreLockedError(
                            f"the store {self._store!r} stayed locked by another process for "
                            f"{self._lock_timeout_s:g}s (runtime.store_lock_timeout_s); results "
                            "not yet committed are lost, everything committed is kept: free the "
                            "store and resume the run"
                        ) from exc
                    time.sleep(LOCK_RETRY_S)
        finally:
            if deadline is not None:
                self._lock_wait_ended()

    def _lock_wait_began(self, limit: float | None) -> None:
        """One notice however many writes (events, leases) wait at once."""
        with self._lock_waits_guard:
            self._lock_waits += 1
            if self._lock_waits > 1:
                return
        self._notify(
            f"themis: the store {self._store!r} is locked by another process; "
            "retrying until it is free"
            + (f" (at most {limit:g}s: runtime.store_lock_timeout_s)" if limit else "")
        )

    def _lock_wait_ended(self) -> None:
        with self._lock_waits_guard:
            self._lock_waits -= 1

    def _call(self, fn: Callable[..., None], *args: object) -> None:
        # A closed loop means nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

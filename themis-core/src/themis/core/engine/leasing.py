"""Leased work: the cases of a run that this process claimed from the store.

Any number of processes may run the same run on one store. Each claims the
run's cases in chunks with expiring leases (``LeaseStore``), so every case is
run by one process: the scheduler's workers take cases from the chunks held
here, the next chunk is claimed before the last one runs out, a heartbeat
renews the leases, and a chunk is marked done only once the writer has
committed every event of its cases. With nothing left to claim while other
live processes still hold chunks, the workers wait, polling, and take over
any chunk whose lease expired (its holder died): that chunk's committed
results are reused from the store, its unfinished cases run here. A holder
that ran on this machine and is provably gone (its pid no longer exists) is
not waited for: its chunks are released and taken over at once, both then
and on a process's first claim (a resume after a crash).

Chunks start at ``FIRST_LEASE`` cases and double up to ``MAX_LEASE``, and the
store caps each one at a share of what remains, so one process alone claims
a few dozen chunks for a whole run (each claim one short transaction, off the
event loop and ahead of need) and processes sharing a run finish together.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from themis.core.config import RuntimeConfig
from themis.core.engine.plan import iter_plans
from themis.core.engine.reuse import StoredResults
from themis.core.engine.scheduler import CaseWork
from themis.core.engine.writer import EventWriter
from themis.core.models import RunSnapshot
from themis.core.storage.stores.base import (
    Lease,
    LeaseClaim,
    LeaseStore,
    lease_owner_is_dead,
    new_lease_owner,
)

log = logging.getLogger(__name__)

FIRST_LEASE = 32
"""Cases in the first chunk a process claims: its first requests leave soon."""
MAX_LEASE = 4096
"""Cases in one chunk at most: the doubling stops here."""

T = TypeVar("T")


class LeasedCases:
    """The scheduler's work source on a shared run: cases of the chunks this
    process holds, with ``refill`` claiming (or waiting for) more."""

    def __init__(
        self,
        store: LeaseStore,
        snapshot: RunSnapshot,
        results: StoredResults,
        writer: EventWriter,
        runtime: RuntimeConfig,
        *,
        scope: str,
        total: int,
        workers: int,
        on_live_workers: Callable[[int], None] | None = None,
    ) -> None:
        """``on_live_workers`` hears how many processes run this run, on each
        claim and heartbeat (the rate limits' per-process share)."""
        self.store = store
        self._on_live_workers = on_live_workers
        self.run_id = snapshot.run_id
        self.scope = scope
        self.total = total
        self.owner = new_lease_owner()
        self.live_workers = 1
        """Processes running this run, this one included, as of the last claim."""
        self.taken_over = 0
        """Chunks this process took over from a process whose lease expired."""
        self._results = results
        self._writer = writer
        self._lease_s = runtime.lease_s
        self._poll_s = min(runtime.lease_poll_s, runtime.lease_s / 4)
        self._snapshot = snapshot
        self._low_water = 2 * workers
        self._size = FIRST_LEASE
        self._first_claim = True
        self._ready: collections.deque[Iterator[CaseWork]] = collections.deque()
        self._current: Iterator[CaseWork] | None = None
        self._unstarted = 0
        self._held: dict[int, Lease] = {}
        self._open: dict[int, int] = {}  # chunk start -> its cases not yet finished
        self._starts: list[int] = []
        self._claiming: asyncio.Task[LeaseClaim] | None = None
        self._nothing_new = False
        self._refilling = asyncio.Lock()
        self._completing: set[asyncio.Task[None]] = set()
        self._heartbeat: asyncio.Task[None] | None = None

    # -- the scheduler's side ------------------------------------------------

    def __iter__(self) -> Iterator[CaseWork]:
        return self

    def __next__(self) -> CaseWork:
        while True:
            if self._current is not None:
                item = next(self._current, None)
                if item is not None:
                    self._unstarted -= 1
                    self._claim_ahead()
                    return item
                self._current = None
            if not self._ready:
                self._claim_ahead()
                raise StopIteration
            self._current = self._ready.popleft()

    async def refill(self) -> bool:
        """Wait until there are cases to take (True), or until no chunk is
        left to claim and no other live process holds an unfinished one (False).

        Workers queue on a lock, so one of them claims or polls for all.
        """
        async with self._refilling:
            while True:
                if self._current is not None or self._ready:
                    return True
                claiming = self._claiming
                if claiming is None or claiming.done():
                    claiming = self._start_claim()
                claim = await asyncio.shield(claiming)
                if self._current is not None or self._ready:
                    return True
                if claim.lease is None and claim.unfinished == 0:
                    return False
                if claim.lease is None:
                    await asyncio.sleep(self._poll_s)

    def case_finished(self, index: int) -> None:
        """Count a case of a held chunk as finished; the chunk is marked done
        once every case of it has finished and its events are committed."""
        position = bisect.bisect_right(self._starts, index) - 1
        if position < 0:
            return
        start = self._starts[position]
        lease = self._held[start]
        if index >= lease.stop:
            return
        self._open[start] -= 1
        if self._open[start] == 0:
            del self._starts[position], self._open[start], self._held[start]
            task = asyncio.get_running_loop().create_task(self._complete(lease))
            self._completing.add(task)
            task.add_done_callback(self._completing.discard)

    # -- lifetime ---------------------------------------------------------------

    def start(self) -> None:
        """Claim the first chunk and start the heartbeat."""
        self._start_claim()
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat())

    async def settle(self) -> None:
        """Wait until every finished chunk is committed and marked done."""
        while self._completing:
            await asyncio.gather(*list(self._completing))

    async def close(self) -> None:
        """Stop the heartbeat and give back whatever is still held (nothing,
        after a run that finished), so another process can take it at once."""
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
        if self._claiming is not None and not self._claiming.done():
            with contextlib.suppress(Exception):
                await self._claiming
        with contextlib.suppress(Exception):
            await self._retrying(
                lambda: self.store.release_leases(self.run_id, self.scope, self.owner)
            )

    # -- claims -------------------------------------------------------------------

    def _claim_ahead(self) -> None:
        """Claim the next chunk while the held ones still have cases to start."""
        if self._nothing_new or self._unstarted > self._low_water:
            return
        if self._claiming is None or self._claiming.done():
            self._start_claim()

    def _start_claim(self) -> asyncio.Task[LeaseClaim]:
        claiming = self._claiming = asyncio.get_running_loop().create_task(self._claim())
        # a claim made ahead of need that failed is retried by the next one;
        # the one ``refill`` awaits raises its error
        claiming.add_done_callback(_retrieve)
        return claiming

    async def _claim(self) -> LeaseClaim:
        restart, self._first_claim = self._first_claim, False
        if restart:
            # a resume after a crash takes the dead process's chunk at once
            await self._release_dead_holders()
        claim = await self._claim_once(restart)
        if claim.lease is None and claim.unfinished > 0 and await self._release_dead_holders():
            claim = await self._claim_once(restart=False)
        self._heard_workers(claim.live_workers)
        lease = claim.lease
        self._nothing_new = lease is None
        if lease is not None:
            self._size = min(2 * self._size, MAX_LEASE)
            self.taken_over += lease.taken_over
            self._hold(lease)
        return claim

    async def _claim_once(self, restart: bool) -> LeaseClaim:
        size = self._size
        return await self._retrying(
            lambda: self.store.claim_lease(
                self.run_id,
                self.scope,
                self.owner,
                total=self.total,
                max_cases=size,
                lease_s=self._lease_s,
                restart_done=restart,
            )
        )

    async def _release_dead_holders(self) -> bool:
        """Give back the chunks of holders provably dead (same machine and PID
        namespace, pid gone: ``lease_owner_is_dead``) instead of waiting
        ``lease_s`` for their leases to expire; True if there were any."""
        try:
            holders = await self._retrying(
                functools.partial(self.store.lease_holders, self.run_id, self.scope)
            )
            dead = [o for o in holders if o != self.owner and lease_owner_is_dead(o)]
            for owner in dead:
                await self._retrying(
                    functools.partial(self.store.release_leases, self.run_id, self.scope, owner)
                )
                log.warning(
                    "themis: run %s: taking over the unfinished work of process %s, "
                    "which is no longer running",
                    self.run_id,
                    owner,
                )
        except Exception as exc:  # its leases still expire; only the shortcut is lost
            log.warning(
                "themis: could not look for dead lease holders of run %s: %s", self.run_id, exc
            )
            return False
        return bool(dead)

    def _hold(self, lease: Lease) -> None:
        if lease.start in self._held:
            # Our own chunk, claimed again because its lease lapsed while we
            # worked on it (a heartbeat came late): its cases are already ours,
            # scheduled and counted, so only the lease is new.
            self._held[lease.start] = lease
            return
        # iter_plans skips the cases before the chunk without hashing them, so a
        # resumed run's first chunk (perhaps half a million cases in) is planned at once
        plans = list(iter_plans(self._snapshot, lease.start, lease.stop))
        self._held[lease.start] = lease
        self._open[lease.start] = len(plans)
        bisect.insort(self._starts, lease.start)
        self._unstarted += len(plans)
        self._ready.append(self._results.for_cases(iter(plans), start=lease.start))

    async def _complete(self, lease: Lease) -> None:
        await self._writer.flush()  # the chunk's events are committed first
        await self._retrying(lambda: self.store.complete_lease(lease))

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 4)
            try:
                await self._retrying(
                    lambda: self.store.renew_leases(
                        self.run_id, self.scope, self.owner, lease_s=self._lease_s
                    )
                )
            except Exception as exc:  # a missed beat costs at most a duplicated chunk
                log.warning("themis: could not renew the leases of run %s: %s", self.run_id, exc)
                continue
            if self._on_live_workers is not None:
                with contextlib.suppress(Exception):  # a read; the next beat asks again
                    self._heard_workers(
                        await asyncio.to_thread(self.store.live_workers, self.run_id)
                    )

    def _heard_workers(self, count: int) -> None:
        self.live_workers = count
        if self._on_live_workers is not None:
            self._on_live_workers(max(1, count))

    async def _retrying(self, call: Callable[[], T]) -> T:
        """``call`` off the event loop, waiting out another process's write lock
        (SQLite) as the writer does: with its notice, for at most
        ``store_lock_timeout_s``."""
        return await asyncio.to_thread(self._writer.wait_out_lock, call)


def _retrieve(task: asyncio.Task[LeaseClaim]) -> None:
    if not task.cancelled():
        task.exception()

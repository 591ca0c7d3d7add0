"""Scheduling: how a run's cases share its workers.

At most ``max_concurrent_tasks`` workers take cases from one shared iterator.
Generation is the critical path: once a model has answered, a worker hands
the case's later stages to a task of their own and sends its next request at
once. Cases whose later stages are still running are bounded, so slow judges
push back on generation. The first error stops the workers and is raised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, Protocol, TypeVar

from themis.core.engine.plan import CasePlan
from themis.core.models import GenerationResult
from themis.core.storage.events import RunEvent

T = TypeVar("T")

HANDOFF_AFTER_S = 0.001
"""A case whose generation took longer than this (it waited on a model) has its
later stages run in a task of its own, so that its worker sends the next
request first; a faster one finishes inline."""

CaseWork = tuple[int, CasePlan, dict[str, RunEvent]]
"""A case's index, its plan, and the stored results its work keys have."""
Generate = Callable[
    [CasePlan, dict[str, RunEvent], dict[str, RunEvent]],
    Awaitable[list[GenerationResult] | None],
]
Finish = Callable[
    [int, CasePlan, dict[str, RunEvent], dict[str, RunEvent], list[GenerationResult] | None],
    Awaitable[None],
]


class RefillableWork(Protocol):
    """Cases that run out for now and may come back: ``refill`` waits until
    there are more (True) or there never will be (False). ``LeasedCases``."""

    def __iter__(self) -> Iterator[CaseWork]: ...

    def __next__(self) -> CaseWork: ...

    async def refill(self) -> bool: ...


class CaseScheduler:
    """Runs every case through ``generate`` and then ``finish`` on ``workers`` workers.

    A worker whose iterator runs out asks its ``refill`` (when it has one)
    for more before it stops."""

    def __init__(self, workers: int, generate: Generate, finish: Finish) -> None:
        self.workers = workers
        self.generate = generate
        self.finish = finish
        self.open_cases = asyncio.Semaphore(2 * workers)
        self.finishing: set[asyncio.Task[None]] = set()
        self.failures: list[BaseException] = []

    async def run(self, work: Iterator[CaseWork]) -> None:
        """Every case of ``work`` done, or the first error raised."""
        try:
            await asyncio.gather(*await self._start_workers(work))
            while self.finishing:
                await asyncio.wait(set(self.finishing))
        finally:
            for task in self.finishing:
                task.cancel()
        if self.failures:
            raise self.failures[0]

    async def _worker(self, work: Iterator[CaseWork]) -> None:
        refill = getattr(work, "refill", None)  # leased work: more may be claimed
        while True:
            await self._take(work)
            if self.failures or refill is None or not await refill():
                return

    async def _take(self, work: Iterator[CaseWork]) -> None:
        loop = asyncio.get_running_loop()
        for index, plan, stored in work:
            await self.open_cases.acquire()
            if self.failures:
                self.open_cases.release()
                return
            latest: dict[str, RunEvent] = {}
            started = time.perf_counter()
            try:
                candidates = await self.generate(plan, stored, latest)
            except BaseException:
                self.open_cases.release()
                raise
            finishing = self._finish(index, plan, stored, latest, candidates)
            if time.perf_counter() - started < HANDOFF_AFTER_S:
                # Nothing was waited for (a cache hit, an instant model): a
                # task would cost more than finishing right here.
                await finishing
                continue
            task = loop.create_task(finishing)
            self.finishing.add(task)
            task.add_done_callback(self._finished)

    async def _finish(
        self,
        index: int,
        plan: CasePlan,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
        candidates: list[GenerationResult] | None,
    ) -> None:
        try:
            await self.finish(index, plan, stored, latest, candidates)
        finally:
            self.open_cases.release()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.finishing.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None:
            self.failures.append(error)

    async def _start_workers(self, work: Iterator[CaseWork]) -> list[asyncio.Task[None]]:
        """Start the workers one loop turn apart, so the first requests leave
        while later workers are still starting rather than after all of them
        have (with 64 workers, that was some 15 ms on the critical path)."""
        loop = asyncio.get_running_loop()
        started: list[asyncio.Task[None]] = []
        try:
            for _ in range(self.workers):
                started.append(loop.create_task(self._worker(work)))
                await asyncio.sleep(0)
                if any(task.done() for task in started):
                    break  # a worker already stopped (no more cases, or an error)
        except BaseException:  # cancelled while starting: stop the ones started
            for task in started:
                task.cancel()
            raise
        return started


async def gather_all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather`` without a task per coroutine when there is only one
    (most cases have one candidate and one metric, and a task costs more than
    the work it would wrap), nor a future when there is none."""
    if not coroutines:
        return []
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))

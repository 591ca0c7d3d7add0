"""Reuse and replay: which stored results a run takes instead of computing.

Every stage result is stored under its work key, so a run reuses what any
run already stored for the same work: a resume, or a cache hit from another
run (copied into this run, naming where it came from). A replay recomputes
from a stage on even though the store has the results, and never recomputes
what lies upstream of that stage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice

from themis.core.engine.heap import refreeze
from themis.core.engine.plan import CasePlan, case_count, case_keys, items_per_case, iter_plans
from themis.core.engine.recording import EventRecorder
from themis.core.errors import MissingUpstreamError
from themis.core.models import STAGES, RunSnapshot
from themis.core.storage.events import CaseRunEvent, RunEvent
from themis.core.storage.stores.base import RunStore

LOOKUP_CHUNK = 256
"""Cases whose stored results are fetched from the store in one query."""
FIRST_CHUNK = 32
"""The first chunks are smaller, doubling up to LOOKUP_CHUNK: the first
requests leave after 32 cases are planned, not 256."""


@dataclass(frozen=True)
class ReplayScope:
    """Which work is recomputed even though the store has it."""

    from_stage: str
    metric_ids: frozenset[str] | None = None
    nonce: str = field(default_factory=lambda: uuid.uuid4().hex)

    def forces(self, stage: str, metric_id: str | None = None) -> bool:
        if STAGES.index(stage) < STAGES.index(self.from_stage):
            return False
        if self.metric_ids is not None and stage in ("score", "judge"):
            return metric_id in self.metric_ids
        return True

    def requires_stored(self, stage: str) -> bool:
        """Stages upstream of the replay are never recomputed."""
        return STAGES.index(stage) < STAGES.index(self.from_stage)


class StoredResults:
    """Looks up the stored results a run may reuse, and takes them into it."""

    def __init__(
        self,
        store: RunStore,
        recorder: EventRecorder,
        *,
        until_index: int,
        replay: ReplayScope | None,
    ) -> None:
        self.store = store
        self.recorder = recorder
        self.run_id = recorder.run_id
        self.until_index = until_index
        self.replay = replay

    def for_cases(
        self, plans: Iterator[CasePlan], *, start: int = 0
    ) -> Iterator[tuple[int, CasePlan, dict[str, RunEvent]]]:
        """The run's cases, each with the stored results its work keys already have.

        Cases are planned and looked up a chunk at a time: the store is asked
        once per chunk rather than once per case, and the first requests leave
        before the last case is planned. Workers share this iterator; it never
        awaits, so they take cases from it one at a time. ``start`` is the
        index of the first plan (a leased chunk starts anywhere in the run).
        """
        size = FIRST_CHUNK
        while chunk := list(islice(plans, size)):
            size = min(2 * size, LOOKUP_CHUNK)
            yield from self._with_stored(chunk, start)
            start += len(chunk)

    def for_run(self, snapshot: RunSnapshot) -> Iterator[tuple[int, CasePlan, dict[str, RunEvent]]]:
        """Every case of the run, as :meth:`for_cases` gives them, new work first.

        A resume sends new work first: a chunk whose cases this run has
        already finished is told apart by one indexed count per chunk (no
        planning, no payloads read) and put off until the rest has been
        handed out; then it goes through the same lookups (nothing is
        recomputed), so that its cases are folded into the result.

        A run shared through leases walks its chunks instead (``leasing``).
        """
        total = case_count(snapshot)
        finished_per_case = items_per_case(snapshot, STAGES[self.until_index])
        resuming = self.replay is None
        put_off: list[tuple[int, int]] = []
        start, size = 0, FIRST_CHUNK
        while start < total:
            stop = min(start + size, total)
            if resuming and self._all_finished(snapshot, start, stop, finished_per_case):
                if put_off and put_off[-1][1] == start:
                    put_off[-1] = (put_off[-1][0], stop)
                else:
                    put_off.append((start, stop))
                start, size = stop, LOOKUP_CHUNK
                continue
            yield from self._lookup(snapshot, start, stop)
            start, size = stop, min(2 * size, LOOKUP_CHUNK)
        for first, last in put_off:
            for start in range(first, last, LOOKUP_CHUNK):
                yield from self._lookup(snapshot, start, min(start + LOOKUP_CHUNK, last))

    def _lookup(
        self, snapshot: RunSnapshot, start: int, stop: int
    ) -> Iterator[tuple[int, CasePlan, dict[str, RunEvent]]]:
        return self._with_stored(list(iter_plans(snapshot, start, stop)), start)

    def _with_stored(
        self, chunk: list[CasePlan], start: int
    ) -> Iterator[tuple[int, CasePlan, dict[str, RunEvent]]]:
        """The cases of ``chunk`` (the first at index ``start``), looked up in one query."""
        refreeze()  # what earlier chunks kept stays out of full collections
        wanted = {id(plan): self._reusable_keys(plan) for plan in chunk}
        keys = [key for plan_keys in wanted.values() for key in plan_keys]
        found = self.store.find_completed(keys, prefer_run_id=self.run_id) if keys else {}
        for offset, plan in enumerate(chunk):
            stored = {key: found[key] for key in wanted[id(plan)] if key in found}
            yield start + offset, plan, stored

    def _all_finished(self, snapshot: RunSnapshot, start: int, stop: int, per_case: int) -> bool:
        keys = case_keys(snapshot, start, stop)
        counts = self.store.count_finished(self.run_id, keys, STAGES[: self.until_index + 1])
        return all(counts.get(key, 0) >= per_case for key in keys)

    def _reusable_keys(self, plan: CasePlan) -> list[str]:
        """Work keys whose stored results this run may reuse (all but forced ones)."""
        keys: list[str] = []
        for stage in STAGES[: self.until_index + 1]:
            if self.replay is not None and stage in ("score", "judge"):
                keys.extend(
                    item.work_key
                    for item in plan.metrics
                    if item.stage == stage and not self.replay.forces(stage, item.metric_id)
                )
            elif self.replay is None or not self.replay.forces(stage):
                keys.extend(plan.keys_for(stage))
        return keys

    def reuse(self, stored: dict[str, RunEvent], key: str) -> CaseRunEvent | None:
        """A stored result for ``key``; copied into this run if another run made it."""
        event = stored.get(key)
        if event is None or not isinstance(event, CaseRunEvent):
            return None
        if event.run_id == self.run_id:
            return event
        event_type = event.event_type  # type: ignore[attr-defined]
        copy = event.model_copy(
            update={
                "event_id": self.recorder.event_id(event_type, key, fresh=False),
                "run_id": self.run_id,
                "cached_from": event.cached_from or event.run_id,
                "created_at": time.time(),
            }
        )
        self.recorder.emit(copy)
        return copy

    def guard_upstream(self, stage: str) -> None:
        """Refuse to compute ``stage`` when a replay says it must come from the store."""
        if self.replay is not None and self.replay.requires_stored(stage):
            raise MissingUpstreamError(
                f"no stored {stage} result for this work item; replay never recomputes "
                f"stages upstream of {self.replay.from_stage!r}: "
                "run the experiment (or import a bundle) first"
            )

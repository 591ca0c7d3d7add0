"""Durable state for components that send their calls as provider batches.

A provider's Batch API (OpenAI's: half the price, answers within 24 hours)
turns thousands of calls into one upload, and the batch it creates is paid
for once submitted. A process killed while it waits must therefore find that
batch again, not submit its requests a second time. A batch component
(``batch_capacity`` set, and an ``attach_batch_journal(journal)`` method)
gets a :class:`BatchJournal` from the engine at the start of each run: it
records each batch in the run's own event stream (``BatchSubmittedEvent``,
committed before polling starts) and says which batches earlier processes of
the run submitted and nobody imported yet. Events rather than a table of
their own: the batch is part of the run's history, travels with it, and
needs no schema change in any store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable

from themis.core.storage.events import BatchFinishedEvent, BatchSubmittedEvent, RunEvent

SUPERSEDED = "superseded"
"""The final status of a stored batch the run finished without needing."""


class BatchJournal:
    """One batch component's record of its batches in one run.

    ``emit`` queues an event for the run's writer and ``flush`` waits until
    everything queued is committed. ``stored`` are the batches earlier
    processes of this run submitted and did not finish; ``load`` reads the
    run's batch events again (for :meth:`refresh`). With ``resume`` False (a
    replay, which asks again by definition) none is offered to the component,
    and all are marked superseded when the run finishes.
    """

    def __init__(
        self,
        *,
        run_id: str,
        component_id: str,
        component_fingerprint: str,
        stored: Iterable[BatchSubmittedEvent],
        emit: Callable[[RunEvent], None],
        flush: Callable[[], Awaitable[None]],
        load: Callable[[], Awaitable[list[RunEvent]]] | None = None,
        resume: bool = True,
    ) -> None:
        self.run_id = run_id
        self.component_id = component_id
        self.component_fingerprint = component_fingerprint
        self._stored = list(stored)
        self._emit = emit
        self._flush = flush
        self._load = load
        self._resume = resume
        self._done: dict[str, str] = {}
        self._known = {record.batch_id for record in self._stored}

    def pending(self) -> list[BatchSubmittedEvent]:
        """Batches submitted for this run and component, not yet imported, oldest
        first; none for a replay, which asks again (they are marked superseded
        when it finishes)."""
        return list(self._stored) if self._resume else []

    async def refresh(self) -> list[BatchSubmittedEvent]:
        """Batches other processes of this run submitted since this journal was
        read, and not finished: a component asks before it submits a batch, so
        a process that took over a dead one's cases polls that one's batch
        rather than paying for the same requests again."""
        if self._load is None:
            return []
        fresh = [
            record
            for record in unfinished_batches(await self._load(), self.component_fingerprint)
            if record.batch_id not in self._known
        ]
        self._known.update(record.batch_id for record in fresh)
        self._stored.extend(fresh)
        return fresh

    async def submitted(
        self, *, batch_id: str, input_file_id: str, endpoint: str, custom_ids: list[str]
    ) -> None:
        """Record a batch the provider created and wait for the record to be
        committed: only then may the component start waiting for it."""
        self._emit(
            BatchSubmittedEvent(
                event_id=self._event_id("batch_submitted", batch_id),
                run_id=self.run_id,
                component_id=self.component_id,
                component_fingerprint=self.component_fingerprint,
                batch_id=batch_id,
                input_file_id=input_file_id,
                endpoint=endpoint,
                custom_ids=custom_ids,
            )
        )
        self._known.add(batch_id)
        await self._flush()

    def done(self, batch_id: str, status: str) -> None:
        """Note that a batch reached its final status and its answers were
        handed back. Recorded when the run finishes (:meth:`finish`): only then
        are the answers surely stored as the cases' events."""
        self._done[batch_id] = status

    def finish(self) -> None:
        """At the end of a run whose every case is done: mark the batches it
        imported, and the stored ones it did not need, as finished."""
        statuses = dict(self._done)
        for record in self._stored:
            statuses.setdefault(record.batch_id, SUPERSEDED)
        for batch_id, status in statuses.items():
            self._emit(
                BatchFinishedEvent(
                    event_id=self._event_id("batch_finished", batch_id),
                    run_id=self.run_id,
                    component_id=self.component_id,
                    component_fingerprint=self.component_fingerprint,
                    batch_id=batch_id,
                    status=status,
                )
            )
        self._stored = []
        self._done = {}

    def _event_id(self, event_type: str, batch_id: str) -> str:
        text = f"{self.run_id}|{event_type}|{self.component_fingerprint}|{batch_id}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def unfinished_batches(
    events: Iterable[RunEvent], component_fingerprint: str
) -> list[BatchSubmittedEvent]:
    """The batches a component submitted in a run's events and no event finished."""
    submitted: dict[str, BatchSubmittedEvent] = {}
    for event in events:
        if getattr(event, "component_fingerprint", None) != component_fingerprint:
            continue
        if isinstance(event, BatchSubmittedEvent):
            submitted[event.batch_id] = event
        elif isinstance(event, BatchFinishedEvent):
            submitted.pop(event.batch_id, None)
    return list(submitted.values())

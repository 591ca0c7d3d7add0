"""The RunStore contract every backend implements."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from themis.core.errors import StoreNotFoundError as StoreNotFoundError
from themis.core.errors import StoreOpenError as StoreOpenError
from themis.core.errors import UnknownRunError as UnknownRunError
from themis.core.models import FrozenModel, RunSnapshot, RunStatus
from themis.core.storage.events import RunEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow


class StoredRun(FrozenModel):
    """What a store knows about one run, without reading its events."""

    run_id: str
    status: RunStatus
    completed_through_stage: str | None = None
    snapshot: RunSnapshot


@runtime_checkable
class RunStore(Protocol):
    """Persistence contract used by Themis runtime components.

    ``append_events`` is idempotent on ``event_id`` and returns the events it
    newly persisted; projections are folded in the same transaction.
    """

    def initialize(self) -> None: ...

    def save_snapshot(self, snapshot: RunSnapshot) -> None: ...

    def get_snapshot(self, run_id: str) -> RunSnapshot | None: ...

    def append_events(self, events: Sequence[RunEvent]) -> list[RunEvent]: ...

    def iter_events(self, run_id: str) -> Iterator[RunEvent]: ...

    def find_completed(
        self, work_keys: Sequence[str], *, prefer_run_id: str | None = None
    ) -> dict[str, RunEvent]: ...

    def latest_events(self, run_id: str, work_keys: Sequence[str]) -> dict[str, RunEvent]:
        """The latest event of ``run_id`` for each of ``work_keys`` that has
        one, completed or failed (what its work item's state says), keyed by
        work key. ``RunResult.cases`` reads a run's cases back through it, a
        page of cases at a time."""
        ...

    def count_finished(
        self, run_id: str, case_keys: Sequence[str], stages: Sequence[str]
    ) -> dict[str, int]:
        """Per case key (those with any), how many of the case's work items in
        ``stages`` this run has finished (their latest state done or cached).
        A resume asks it to pass over finished cases without planning them."""
        ...

    def work_items(self, run_id: str) -> list[WorkItemRow]: ...

    def score_rows(self, run_id: str) -> list[ScoreRow]: ...

    def resume(self, run_id: str) -> StoredRun | None: ...

    def list_runs(self) -> list[StoredRun]: ...

    def close(self) -> None: ...

"""InMemoryRunStore: the store contract in process memory, for tests and notebooks."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from themis.core.models import RunSnapshot, RunStatus
from themis.core.storage.events import RunEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow, project
from themis.core.storage.stores.base import StoredRun


class InMemoryRunStore:
    """Simple in-memory store used by tests and local development. No persistence."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshots: dict[str, RunSnapshot] = {}
        self._events: dict[str, list[RunEvent]] = {}
        self._event_ids: set[str] = set()
        self._results: dict[str, dict[str, RunEvent]] = {}
        self._work_items: dict[str, dict[tuple[str, str], WorkItemRow]] = {}
        self._latest: dict[str, dict[str, RunEvent]] = {}
        self._finished: dict[str, dict[str, set[tuple[str, str]]]] = {}
        self._score_rows: dict[str, dict[tuple[str, str], ScoreRow]] = {}
        self._runs: dict[str, tuple[str, str | None]] = {}

    def initialize(self) -> None:
        """Nothing to create; present so every store is used the same way."""

    def save_snapshot(self, snapshot: RunSnapshot) -> None:
        with self._lock:
            self._snapshots.setdefault(snapshot.run_id, snapshot)
            self._runs.setdefault(snapshot.run_id, (RunStatus.pending.value, None))

    def get_snapshot(self, run_id: str) -> RunSnapshot | None:
        return self._snapshots.get(run_id)

    def append_events(self, events: Sequence[RunEvent]) -> list[RunEvent]:
        persisted: list[RunEvent] = []
        with self._lock:
            for event in events:
                if event.event_id in self._event_ids:
                    continue
                self._event_ids.add(event.event_id)
                self._events.setdefault(event.run_id, []).append(event)
                self._fold(event)
                persisted.append(event)
        return persisted

    def _fold(self, event: RunEvent) -> None:
        rows = project(event)
        if rows.work_item is not None:
            item = rows.work_item
            self._work_items.setdefault(item.run_id, {})[(item.stage, item.work_key)] = item
            self._latest.setdefault(item.run_id, {})[item.work_key] = event
            finished = self._finished.setdefault(item.run_id, {}).setdefault(item.case_key, set())
            if item.state == "failed":
                finished.discard((item.stage, item.work_key))
            else:
                finished.add((item.stage, item.work_key))
            if rows.stage_result:
                self._results.setdefault(item.work_key, {})[item.run_id] = event
        if rows.score_row is not None:
            row = rows.score_row
            self._score_rows.setdefault(row.run_id, {})[(row.case_key, row.metric_id)] = row
        if rows.run_row is not None:
            run = rows.run_row
            self._runs[run.run_id] = (run.status, run.completed_through_stage)

    def iter_events(self, run_id: str) -> Iterator[RunEvent]:
        with self._lock:
            events = list(self._events.get(run_id, ()))
        return iter(events)

    def find_completed(
        self, work_keys: Sequence[str], *, prefer_run_id: str | None = None
    ) -> dict[str, RunEvent]:
        found: dict[str, RunEvent] = {}
        with self._lock:
            for key in work_keys:
                by_run = self._results.get(key)
                if not by_run:
                    continue
                if prefer_run_id is not None and prefer_run_id in by_run:
                    found[key] = by_run[prefer_run_id]
                else:
                    found[key] = next(iter(by_run.values()))
        return found

    def latest_events(self, run_id: str, work_keys: Sequence[str]) -> dict[str, RunEvent]:
        with self._lock:
            latest = self._latest.get(run_id, {})
            return {key: latest[key] for key in work_keys if key in latest}

    def count_finished(
        self, run_id: str, case_keys: Sequence[str], stages: Sequence[str]
    ) -> dict[str, int]:
        wanted = set(stages)
        with self._lock:
            by_case = self._finished.get(run_id, {})
            counts = {
                case_key: sum(stage in wanted for stage, _ in by_case.get(case_key, ()))
                for case_key in case_keys
            }
        return {case_key: count for case_key, count in counts.items() if count}

    def work_items(self, run_id: str) -> list[WorkItemRow]:
        with self._lock:
            return list(self._work_items.get(run_id, {}).values())

    def score_rows(self, run_id: str) -> list[ScoreRow]:
        with self._lock:
            return list(self._score_rows.get(run_id, {}).values())

    def resume(self, run_id: str) -> StoredRun | None:
        snapshot = self._snapshots.get(run_id)
        if snapshot is None:
            return None
        status, through = self._runs.get(run_id, (RunStatus.pending.value, None))
        return StoredRun(
            run_id=run_id,
            status=RunStatus(status),
            completed_through_stage=through,
            snapshot=snapshot,
        )

    def list_runs(self) -> list[StoredRun]:
        return [run for run_id in list(self._snapshots) if (run := self.resume(run_id))]

    def close(self) -> None:
        """Nothing to release."""

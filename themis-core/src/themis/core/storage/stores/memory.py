"""InMemoryRunStore: the store contract in process memory, for tests and notebooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from themis.core.models import RunSnapshot, RunStatus
from themis.core.storage.events import RunEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow, project
from themis.core.storage.stores.base import Lease, LeaseClaim, StoredRun, chunk_size


@dataclass
class _Chunk:
    stop: int
    owner: str
    expires_at: float
    done: bool = False


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
        # leases, by (run_id, scope): cursor [next_index, total], chunks by start, workers
        self._cursors: dict[tuple[str, str], list[int]] = {}
        self._chunks: dict[tuple[str, str], dict[int, _Chunk]] = {}
        self._workers: dict[tuple[str, str], dict[str, float]] = {}

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

    # -- leases (processes sharing a run: here, engines in one process) ---------

    def claim_lease(
        self,
        run_id: str,
        scope: str,
        owner: str,
        *,
        total: int,
        max_cases: int,
        lease_s: float,
        restart_done: bool = False,
    ) -> LeaseClaim:
        key = (run_id, scope)
        with self._lock:
            now = time.time()
            workers = self._workers.setdefault(key, {})
            workers[owner] = now + lease_s
            live = sum(1 for expires in workers.values() if expires > now)
            chunks = self._chunks.setdefault(key, {})
            cursor = self._cursors.setdefault(key, [0, total])
            if restart_done and cursor[0] >= cursor[1] and all(c.done for c in chunks.values()):
                cursor[:] = [0, total]
                chunks.clear()
            lease: Lease | None = None
            for start in sorted(chunks):
                chunk = chunks[start]
                if not chunk.done and chunk.expires_at <= now:
                    chunk.owner, chunk.expires_at = owner, now + lease_s
                    lease = Lease(run_id, scope, start, chunk.stop, owner, taken_over=True)
                    break
            if lease is None:
                size = chunk_size(max_cases, cursor[1] - cursor[0], live)
                if size > 0:
                    start = cursor[0]
                    cursor[0] += size
                    chunks[start] = _Chunk(start + size, owner, now + lease_s)
                    lease = Lease(run_id, scope, start, start + size, owner)
            unfinished = sum(
                1
                for chunk in chunks.values()
                if not chunk.done and chunk.owner != owner and chunk.expires_at > now
            )
            return LeaseClaim(lease, unfinished, live)

    def renew_leases(self, run_id: str, scope: str, owner: str, *, lease_s: float) -> int:
        key = (run_id, scope)
        with self._lock:
            expires = time.time() + lease_s
            self._workers.setdefault(key, {})[owner] = expires
            renewed = 0
            for chunk in self._chunks.get(key, {}).values():
                if chunk.owner == owner and not chunk.done:
                    chunk.expires_at = expires
                    renewed += 1
            return renewed

    def complete_lease(self, lease: Lease) -> None:
        with self._lock:
            chunk = self._chunks.get((lease.run_id, lease.scope), {}).get(lease.start)
            if chunk is not None:
                chunk.done = True

    def release_leases(self, run_id: str, scope: str, owner: str) -> None:
        key = (run_id, scope)
        with self._lock:
            self._workers.get(key, {}).pop(owner, None)
            for chunk in self._chunks.get(key, {}).values():
                if chunk.owner == owner and not chunk.done:
                    chunk.expires_at = 0.0

    def live_workers(self, run_id: str) -> int:
        with self._lock:
            now = time.time()
            return len(
                {
                    owner
                    for (run, _), workers in self._workers.items()
                    if run == run_id
                    for owner, expires in workers.items()
                    if expires > now
                }
            )

    def lease_holders(self, run_id: str, scope: str) -> list[str]:
        with self._lock:
            now = time.time()
            return sorted(
                {
                    chunk.owner
                    for chunk in self._chunks.get((run_id, scope), {}).values()
                    if not chunk.done and chunk.expires_at > now
                }
            )

    def close(self) -> None:
        """Nothing to release."""

"""The RunStore contract every backend implements."""

from __future__ import annotations

import math
import os
import socket
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Lease:
    """A chunk of a run's cases held by one process until ``lease_s`` after its
    last heartbeat. Cases are numbered in plan order (datasets, then cases)."""

    run_id: str
    scope: str
    """What the holder computes (the engine uses the run's ``until_stage``)."""
    start: int
    stop: int
    """One past the chunk's last case index."""
    owner: str
    taken_over: bool = False
    """Whether this was another owner's lease that had expired."""


@dataclass(frozen=True, slots=True)
class LeaseClaim:
    """What one ``claim_lease`` call found."""

    lease: Lease | None
    """The chunk the caller now holds, or None when nothing is claimable."""
    unfinished: int
    """Chunks not done and held, unexpired, by other owners: worth waiting for."""
    live_workers: int
    """Owners with an unexpired heartbeat on this run and scope, the caller included."""


@runtime_checkable
class LeaseStore(Protocol):
    """Work leases: how processes running the same run on one store share it.

    Each method is one transaction. A run's cases are cut into chunks from a
    cursor; a chunk is leased to one owner, renewed by its heartbeat, marked
    done once its results are committed, and taken over by another owner once
    its lease expires (its holder died). ``docs/execution.md`` describes it.
    """

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
        """Register ``owner`` as live, then take over the lowest expired chunk,
        else cut a new one of at most ``max_cases`` cases (see ``chunk_size``),
        else claim nothing. ``total`` is the run's case count. ``restart_done``:
        when every chunk of an earlier pass is done, start a new pass at case 0."""
        ...

    def renew_leases(self, run_id: str, scope: str, owner: str, *, lease_s: float) -> int:
        """The heartbeat: extend ``owner``'s unfinished leases and its liveness;
        returns how many leases were renewed."""
        ...

    def complete_lease(self, lease: Lease) -> None:
        """Mark the chunk done; call only once its results are committed."""
        ...

    def release_leases(self, run_id: str, scope: str, owner: str) -> None:
        """Give ``owner``'s unfinished chunks back at once and forget its liveness."""
        ...

    def live_workers(self, run_id: str) -> int:
        """Owners with an unexpired heartbeat on ``run_id`` (any scope)."""
        ...

    def lease_holders(self, run_id: str, scope: str) -> list[str]:
        """Owners holding unfinished, unexpired chunks of the run and scope,
        sorted: whom a process with nothing to claim is waiting for (the engine
        releases those of them that are provably dead, ``lease_owner_is_dead``)."""
        ...


def chunk_size(max_cases: int, remaining: int, live_workers: int) -> int:
    """Cases in a new chunk: at most ``max_cases``, and (guided self-scheduling)
    at most a share of what remains, so processes finish close together."""
    share = math.ceil(remaining / (2 * max(1, live_workers)))
    return max(0, min(max_cases, remaining, max(1, share)))


def new_lease_owner() -> str:
    """An owner id unique to this process and engine:
    ``host:pid-namespace:pid:random``, so that a process on the same machine can
    tell whether the holder of a lease is still running (``lease_owner_is_dead``)."""
    return f"{socket.gethostname()}:{_pid_namespace()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def lease_owner_is_dead(owner: str) -> bool:
    """Whether the process behind ``owner`` (an id from ``new_lease_owner``) is
    provably gone: it ran on this machine, in this PID namespace, and its pid
    no longer exists. Anything unsure counts as alive, so its leases simply
    expire: another host or container, an id of another form, a pid this
    process may not signal, a zombie, or a platform without ``kill(pid, 0)``.
    (A pid reused by a new process also reads as alive: the safe side.)"""
    parts = owner.rsplit(":", 3)
    if len(parts) != 4 or os.name != "posix":
        return False
    host, namespace, pid_text, _ = parts
    if host != socket.gethostname() or namespace != _pid_namespace():
        return False
    if not namespace and sys.platform.startswith("linux"):
        return False  # no /proc to tell containers apart: cannot be sure
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it exists, as another user
        return False
    return False


def _pid_namespace() -> str:
    """This process's PID namespace (the inode of ``/proc/self/ns/pid`` on
    Linux; empty elsewhere): pids mean the same only within one namespace."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""

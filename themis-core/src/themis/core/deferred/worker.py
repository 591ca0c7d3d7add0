"""Workers: processes that run submitted runs from a shared store.

A worker rebuilds a submitted experiment from its recipe and runs it as an
ordinary resume on the store it was pointed at: stored results are reused,
and several workers on one run share its cases through the store's work
leases, as any processes running one run do. The cluster (a Slurm array, a
Kubernetes Job) decides how many workers run and where; a worker only needs
the store and the secrets its components read from the environment.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Literal

from pydantic import Field

from themis.core.config import RuntimeConfig
from themis.core.deferred.locations import describe_location, open_store_at
from themis.core.deferred.recipes import rebuild_experiment
from themis.core.deferred.submit import find_submission, require_submission
from themis.core.errors import ConfigError, UserError
from themis.core.models import STAGES, FrozenModel, RunStatus
from themis.core.storage.events import RunSubmittedEvent
from themis.core.storage.stores.base import RunStore, StoredRun

log = logging.getLogger(__name__)
"""One line per run taken and finished (``themis worker`` shows them on stderr,
so a cluster job's log says what each worker did)."""

POLL_INTERVAL_S = 1.0
"""How often an idle worker looks for newly submitted runs."""

FINISHED = frozenset({RunStatus.completed, RunStatus.partial_failure})
"""Statuses of a run with nothing left to do (once it went through every stage:
a run stopped early with ``until_stage`` is completed too)."""


def is_finished(run: StoredRun) -> bool:
    """Whether a stored run has nothing left to do."""
    return run.status in FINISHED and run.completed_through_stage == STAGES[-1]


def is_claimable(run: StoredRun) -> bool:
    """Whether a worker takes this run without being told its id: not
    finished, and not failed as a whole (interrupted, a store error): that
    one is taken only when named, ``run_worker(store, run_id=...)``, so a run
    that fails for good is not retried by every idle worker for ever."""
    return not is_finished(run) and run.status is not RunStatus.failed


class WorkedRun(FrozenModel):
    """What a worker did with one run."""

    run_id: str
    outcome: Literal["ran", "already_finished", "error"]
    """``ran``: the worker ran it to the end; ``already_finished``: there was
    nothing left to do; ``error``: it could not be run here (see ``error``)."""
    status: RunStatus | None = None
    """The run's status when the worker left it."""
    cases: int = 0
    """Cases in the run (all datasets)."""
    seconds: float = 0.0
    error: str | None = None


class WorkerReport(FrozenModel):
    """What ``run_worker`` did: the runs it worked on, in order, and why it stopped."""

    worker: str
    """This worker as ``host:pid``."""
    store: str
    """The store it worked on (a URL's password redacted)."""
    runs: list[WorkedRun] = Field(default_factory=list)
    stopped: Literal["run_finished", "idle"]
    """``run_finished``: the run it was given is done; ``idle``: no submitted
    run was pending for ``max_idle_s`` seconds (or at all, without it)."""

    @property
    def run_ids(self) -> list[str]:
        return [run.run_id for run in self.runs]

    @property
    def failed_cases(self) -> bool:
        """Whether a run it worked on finished with failed cases."""
        return any(run.status in (RunStatus.failed, RunStatus.partial_failure) for run in self.runs)


def run_worker(
    store: str | RunStore,
    *,
    run_id: str | None = None,
    max_idle_s: float | None = None,
    runtime: RuntimeConfig | None = None,
) -> WorkerReport:
    """Run submitted runs from ``store`` until there is nothing left to do.

    With ``run_id``, work on that run until it is done (it must have been
    submitted: ``submit_experiment`` or ``themis submit``; ``max_idle_s``
    is how long to wait for that submission to appear). Without, take
    submitted runs that are pending (or started and unfinished) one after
    another, and return once none has been pending for ``max_idle_s``
    seconds (None: as soon as none is pending).

    ``store`` is a ``RunStore``, a SQLite file or a PostgreSQL URL.
    ``runtime`` replaces the submitted runtime settings (concurrency,
    retries...); it never changes a run id. Secrets (API keys) come from
    this process's environment. A run this worker cannot rebuild (a
    package it lacks) is reported as an ``error`` and left to other
    workers; with ``run_id`` it raises instead.
    """
    if max_idle_s is not None and max_idle_s < 0:
        raise ConfigError(f"max_idle_s must be >= 0, got {max_idle_s}")
    target: RunStore = open_store_at(store, must_exist=True) if isinstance(store, str) else store
    label = describe_location(store) if isinstance(store, str) else type(store).__name__
    where = f"store {label}"
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        if run_id is not None:
            submission = _wait_for_submission(target, run_id, where, max_idle_s)
            worked = _work_on(target, submission, runtime)
            return WorkerReport(worker=worker, store=label, runs=[worked], stopped="run_finished")
        return _work_until_idle(target, label, worker, max_idle_s, runtime)
    finally:
        if isinstance(store, str):  # opened here, closed here
            target.close()


def _wait_for_submission(
    store: RunStore, run_id: str, where: str, max_idle_s: float | None
) -> RunSubmittedEvent:
    """The named run's submission, waiting up to ``max_idle_s`` for it to be
    submitted (workers of a cluster job may start before the submit)."""
    deadline = time.monotonic() + (max_idle_s or 0.0)
    while True:
        try:
            return require_submission(store, run_id, where)
        except UserError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise
            time.sleep(min(POLL_INTERVAL_S, remaining))


def _work_until_idle(
    store: RunStore,
    label: str,
    worker: str,
    max_idle_s: float | None,
    runtime: RuntimeConfig | None,
) -> WorkerReport:
    runs: list[WorkedRun] = []
    given_up: set[str] = set()
    idle_since = time.monotonic()
    while True:
        submission = _next_submitted(store, given_up)
        if submission is not None:
            try:
                runs.append(_work_on(store, submission, runtime))
            except UserError as exc:  # this worker cannot run it; others may
                given_up.add(submission.run_id)
                runs.append(WorkedRun(run_id=submission.run_id, outcome="error", error=str(exc)))
            idle_since = time.monotonic()
            continue
        idle = time.monotonic() - idle_since
        if max_idle_s is None or idle >= max_idle_s:
            return WorkerReport(worker=worker, store=label, runs=runs, stopped="idle")
        time.sleep(min(POLL_INTERVAL_S, max_idle_s - idle))


def _next_submitted(store: RunStore, skip: set[str]) -> RunSubmittedEvent | None:
    """The oldest submitted run not started yet, else the oldest started and
    unfinished one (its workers may have died, or may share it)."""
    runs = [run for run in store.list_runs() if run.run_id not in skip and is_claimable(run)]
    runs.sort(key=lambda run: run.status is not RunStatus.pending)  # stable: oldest first
    for run in runs:
        submission = find_submission(store, run.run_id)
        if submission is not None:
            return submission
    return None


def _work_on(
    store: RunStore, submission: RunSubmittedEvent, runtime: RuntimeConfig | None
) -> WorkedRun:
    run_id = submission.run_id
    stored = store.resume(run_id)
    assert stored is not None  # a submission is only found for a stored run
    cases = sum(len(dataset.cases) for dataset in stored.snapshot.datasets)
    if is_finished(stored):
        return WorkedRun(
            run_id=run_id, outcome="already_finished", status=stored.status, cases=cases
        )
    started = time.monotonic()
    log.info("worker: run %s (%d cases, %s)", run_id, cases, stored.status.value)
    experiment = rebuild_experiment(dict(submission.recipe), stored.snapshot)
    compiled = experiment.compile().run_id
    if compiled != run_id:
        raise ConfigError(
            f"run {run_id}: this worker rebuilds its experiment as run {compiled}: a component "
            "or its version differs here from where it was submitted (compare `themis "
            "components list` on both machines), or a python: module changed since"
        )
    result = experiment.resume(runtime=runtime or experiment.runtime, store=store)
    log.info("worker: run %s %s", run_id, result.status.value)
    return WorkedRun(
        run_id=run_id,
        outcome="ran",
        status=result.status,
        cases=cases,
        seconds=round(time.monotonic() - started, 3),
    )

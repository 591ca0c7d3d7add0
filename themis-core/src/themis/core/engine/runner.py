"""The run engine: every case through generate → reduce → parse → score → judge.

This module runs a run: it opens the store while the components check their
backends, applies the existing-run policy, starts the writer, hands the
cases to the scheduler and folds what each case recorded into the result.
The jobs it delegates each have a module of their own, as pluggy keeps its
call loop apart from registration:

- ``scheduler``: workers, the handoff of later stages, back-pressure;
- ``pipeline`` and ``stages``: a case's stages, one skeleton for all five;
- ``reuse``: stored results taken instead of computed, and replay;
- ``recording``: events and their ids, and what a failure was;
- ``lifecycle``: the components' preflight, provenance and release;
- ``coercion``: what a component returned, as its contract's type;
- ``spans``: tracing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from themis.core.config import RuntimeConfig
from themis.core.engine.case_view import StoredCaseResults
from themis.core.engine.coercion import as_model, as_score, finite_or_error
from themis.core.engine.heap import frozen_heap
from themis.core.engine.leasing import LeasedCases
from themis.core.engine.lifecycle import ComponentLifecycle, ResolvedComponents
from themis.core.engine.pipeline import CasePipeline
from themis.core.engine.plan import CasePlan, case_count, iter_plans
from themis.core.engine.policy import CallPolicy, Invoker
from themis.core.engine.recording import EventRecorder, ScoreErrorRaised, stage_error
from themis.core.engine.results import (
    RunTally,
    count_states,
    fold_case,
    new_counts,
    tallied_run_result,
)
from themis.core.engine.reuse import FIRST_CHUNK, LOOKUP_CHUNK, ReplayScope, StoredResults
from themis.core.engine.scheduler import HANDOFF_AFTER_S, CaseScheduler, gather_all
from themis.core.engine.skeleton import StageEnv
from themis.core.engine.spans import Spans
from themis.core.engine.stages import metric_judge_config, select_judges
from themis.core.engine.writer import EventWriter
from themis.core.errors import (
    ComponentOutputError,
    ConfigError,
    ExistingRunError,
    MissingUpstreamError,
    PreflightError,
)
from themis.core.models import (
    STAGES,
    CaseResult,
    GenerationResult,
    RunResult,
    RunSnapshot,
    RunStatus,
    StageCounts,
    StageError,
)
from themis.core.observability.hooks import LifecycleHooks
from themis.core.observability.progress import snapshot_of
from themis.core.observability.scrubbing import install_log_filter, scrub_text, themis_loggers
from themis.core.observability.tracing import NullTracer, TracingProvider
from themis.core.storage.events import (
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
)
from themis.core.storage.stores.base import LeaseStore, RunStore

__all__ = [
    "FIRST_CHUNK",
    "HANDOFF_AFTER_S",
    "LOOKUP_CHUNK",
    "ComponentOutputError",
    "ExistingRunError",
    "MissingUpstreamError",
    "PreflightError",
    "ProgressCounter",
    "ReplayScope",
    "ResolvedComponents",
    "RunEngine",
    "ScoreErrorRaised",
    "as_model",
    "as_score",
    "finite_or_error",
    "gather_all",
    "metric_judge_config",
    "select_judges",
    "stage_error",
]

log = logging.getLogger(__name__)


@dataclass
class ProgressCounter:
    """Live counts for progress displays (see ``themis.core.observability.progress``)."""

    total_cases: int
    done: int = 0
    failed: int = 0
    cached: int = 0
    started_at: float = field(default_factory=time.monotonic)


class RunEngine:
    def __init__(
        self,
        snapshot: RunSnapshot,
        components: ResolvedComponents,
        store: RunStore,
        runtime: RuntimeConfig,
        *,
        until_stage: str = "judge",
        replay: ReplayScope | None = None,
        hooks: LifecycleHooks | None = None,
        tracing: TracingProvider | None = None,
        on_case_done: Callable[[CaseResult, ProgressCounter], None] | None = None,
    ) -> None:
        if until_stage not in STAGES:
            raise ConfigError(f"until_stage must be one of {STAGES}, got {until_stage!r}")
        self.snapshot = snapshot
        self.run_id = snapshot.run_id
        self.components = components
        self.store = store
        self.runtime = runtime
        self.until_stage = until_stage
        self.until_index = STAGES.index(until_stage)
        self.replay = replay
        self.hooks = hooks or LifecycleHooks(load_plugins=False)
        self.spans = Spans(tracing or NullTracer(), self.run_id)
        self.on_case_done = on_case_done
        install_log_filter(*themis_loggers())
        self.invoker = Invoker(runtime.call_timeout_s)
        self.lifecycle = ComponentLifecycle(components, self.invoker)
        self._writer: EventWriter | None = None
        self._policy: CallPolicy | None = None
        self._released = False

    def _on_persisted(self, events: list[RunEvent]) -> None:
        if self.hooks.has("on_event"):
            for event in events:
                self.hooks.call.on_event(event=event)

    # -- the run -----------------------------------------------------------

    async def execute(self) -> RunResult:
        with frozen_heap():  # no full-heap GC pauses mid-run
            try:
                return await self._execute()
            finally:
                if not self._released:
                    await self._release()

    async def _execute(self) -> RunResult:
        await self._open_store_and_preflight()
        mode = await self._apply_existing_run_policy()
        self.snapshot = await self.lifecycle.record_servers(self.snapshot)
        policy = self._policy = CallPolicy(
            self.runtime,
            self.lifecycle.providers(self.runtime),
            deferred=self.lifecycle.batch_capacities(),
        )
        writer = self._writer = EventWriter(
            self.store,
            asyncio.get_running_loop(),
            self._on_persisted,
            lock_timeout_s=self.runtime.store_lock_timeout_s,
        )
        writer.save_snapshot(self.snapshot)
        recorder = EventRecorder(self.run_id, writer)
        recorder.replay = self.replay
        await self.lifecycle.attach_batch_journals(
            self.store,
            self.run_id,
            recorder.emit,
            writer.flush,
            resume_batches=self.replay is None,
        )
        results = StoredResults(
            self.store, recorder, until_index=self.until_index, replay=self.replay
        )
        env = StageEnv(
            snapshot=self.snapshot,
            components=self.components,
            hooks=self.hooks,
            invoker=self.invoker,
            policy=policy,
            recorder=recorder,
            results=results,
        )
        run_span = self.spans.start("run", {"themis.run_id": self.run_id})
        try:
            recorder.emit(
                RunStartedEvent(
                    event_id=recorder.event_id("run_started", "", fresh=True),
                    run_id=self.run_id,
                    until_stage=self.until_stage,
                    mode=mode,
                )
            )
            cases = await _CaseRun(self, CasePipeline(env, self.spans, self.until_index)).run(
                results
            )
            self.lifecycle.finish_batches()
            status, through = cases.tally.status(), cases.tally.completed_through()
            recorder.emit(
                RunCompletedEvent(
                    event_id=recorder.event_id("run_completed", "", fresh=True),
                    run_id=self.run_id,
                    status=status,
                    completed_through_stage=through,
                )
            )
            # The last events commit, and components close, while the result is built.
            releasing = asyncio.ensure_future(self._release())
            try:
                # The cases are read back from the store when used, not held.
                result = tallied_run_result(
                    self.run_id,
                    StoredCaseResults(self.store, self.snapshot, self.until_stage),
                    cases.tally,
                    {stage: StageCounts(**values) for stage, values in cases.counts.items()},
                )
                await writer.close()
            finally:
                await releasing
            self.spans.end(run_span, "error" if status is RunStatus.failed else "ok")
            return result
        except BaseException as exc:
            self.spans.end(run_span, "error")
            if writer.error is None:
                # Keep what finished: record why the run stopped, and wait for
                # queued events to commit before the error propagates.
                recorder.emit(
                    RunFailedEvent(
                        event_id=recorder.event_id("run_failed", "", fresh=True),
                        run_id=self.run_id,
                        error=StageError(
                            stage="run",
                            error_type=type(exc).__name__,
                            message=scrub_text(str(exc) or repr(exc)),
                        ),
                    )
                )
                await asyncio.shield(writer.close())
            raise

    async def _apply_existing_run_policy(self) -> str:
        """``RuntimeConfig.existing_run_policy`` for a run the store already holds:
        ``auto`` reuses what is stored, ``error`` refuses before any work,
        ``rerun`` recomputes every stage, its new events beside the old ones.
        Replays are reruns by definition and ignore it. Returns the run's mode."""
        if self.replay is not None:
            return "replay"
        policy = self.runtime.existing_run_policy
        if policy == "auto":
            return "run"
        stored = await asyncio.to_thread(self.store.get_snapshot, self.run_id)
        if stored is None:
            return "run"
        if policy == "error":
            raise ExistingRunError(
                f"run {self.run_id} is already in the store and runtime.existing_run_policy is "
                "'error'; use 'auto' to reuse what it stored (resume) or 'rerun' to recompute it"
            )
        self.replay = ReplayScope(from_stage="generate")
        return "rerun"

    async def _open_store_and_preflight(self) -> None:
        """Open the store (off the event loop) while the components check their
        backends: both mostly wait, on a disk and on a server. A failed check
        starts no work and stores no snapshot, though a new store file exists."""
        opening = asyncio.ensure_future(asyncio.to_thread(self.store.initialize))
        try:
            await self.lifecycle.preflight()
        except BaseException:
            await asyncio.wait([opening])
            if not opening.cancelled():
                opening.exception()  # the failed check is the error to report
            raise
        await opening

    async def _release(self) -> None:
        self._released = True
        await self.lifecycle.release()


STORED_PAGE = 2000
"""Cases other processes ran, tallied per store query at the end of a shared run."""


class _CaseRun:
    """The cases of one run: scheduled through the pipeline, each folded into
    its result as it finishes and added to the run's tally (then dropped: the
    run's result reads its cases back from the store), with progress counted
    and reported."""

    def __init__(self, engine: RunEngine, pipeline: CasePipeline) -> None:
        self.engine = engine
        self.pipeline = pipeline
        total = case_count(engine.snapshot)
        self.total = total
        self.tally = RunTally(
            engine.until_stage, [ref.name for ref in engine.snapshot.component_refs.metrics]
        )
        self.counts = new_counts()
        self.progress = ProgressCounter(total_cases=total)
        self._leased: LeasedCases | None = None
        self._ran_here = bytearray()
        """On a shared run: 1 at the index of each case this process ran."""

    async def run(self, results: StoredResults) -> _CaseRun:
        engine = self.engine
        # A batch component gathers many calls into one provider batch, so the
        # run holds as many cases open as it may gather (see core.batching).
        capacity = max(engine.lifecycle.batch_capacities().values(), default=0)
        workers = min(self.total, max(engine.runtime.max_concurrent_tasks, capacity)) or 1
        store = engine.store
        if (
            engine.runtime.share_run
            and engine.replay is None
            and self.total > 0
            and isinstance(store, LeaseStore)
        ):
            await self._run_leased(store, results, workers)
        else:
            scheduler = CaseScheduler(workers, self.pipeline.candidates, self.finish)
            await scheduler.run(results.for_run(engine.snapshot))
        return self

    async def _run_leased(self, store: LeaseStore, results: StoredResults, workers: int) -> None:
        """Only the cases of chunks claimed here, sharing the run with every
        other process running it on this store; then the other processes'
        cases folded from the store, so the result covers the whole run.

        Replays are never leased: a replay is one caller's "recompute now"."""
        engine = self.engine
        assert engine._writer is not None
        self._ran_here = bytearray(self.total)
        leased = self._leased = LeasedCases(
            store,
            engine.snapshot,
            results,
            engine._writer,
            engine.runtime,
            scope=engine.until_stage,
            total=self.total,
            workers=workers,
            # each process paces its share of the provider rate limits
            on_live_workers=engine._policy.rate_limits.set_workers if engine._policy else None,
        )
        leased.start()
        try:
            while True:
                scheduler = CaseScheduler(workers, self.pipeline.candidates, self.finish)
                await scheduler.run(leased)
                await leased.settle()
                # Own chunks are all done now: one more look settles whether
                # another process's chunk expired meanwhile.
                if not await leased.refill():
                    break
        finally:
            await leased.close()
        if not all(self._ran_here):
            await asyncio.to_thread(self._fold_stored)

    def _fold_stored(self) -> None:
        """Tally the cases other processes ran from their stored events (no
        model calls: every chunk is done, so every case's results are
        committed), a page of cases per store query."""
        engine = self.engine
        page: list[CasePlan] = []
        for index, plan in enumerate(iter_plans(engine.snapshot)):
            if not self._ran_here[index]:
                page.append(plan)
            if len(page) >= STORED_PAGE:
                self._fold_page(page)
                page = []
        if page:
            self._fold_page(page)

    def _fold_page(self, plans: list[CasePlan]) -> None:
        engine = self.engine
        keys = [key for plan in plans for key in plan.all_keys()]
        latest = engine.store.latest_events(engine.run_id, keys)
        for plan in plans:
            self.tally.add(fold_case(plan, latest, engine.until_stage))
            count_states(self.counts, plan, latest)

    async def finish(
        self,
        index: int,
        plan: CasePlan,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
        candidates: list[GenerationResult] | None,
    ) -> None:
        engine = self.engine
        if candidates is not None:
            await self.pipeline.later_stages(plan, candidates, stored, latest)
        case_result = fold_case(plan, latest, engine.until_stage)
        self.tally.add(case_result)
        if self._leased is not None:
            self._ran_here[index] = 1
            self._leased.case_finished(index)
        count_states(self.counts, plan, latest)
        progress = self.progress
        progress.done += case_result.status.value == "completed"
        progress.failed += case_result.status.value == "failed"
        progress.cached += bool(case_result.cached_stages)
        if engine.on_case_done is not None:
            engine.on_case_done(case_result, progress)
        if engine.hooks.has("on_progress"):
            engine.hooks.call.on_progress(snapshot=snapshot_of(progress))
        assert engine._writer is not None
        await engine._writer.wait_for_room()

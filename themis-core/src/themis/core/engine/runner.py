"""The run engine: every case through generate → reduce → parse → score → judge.

Each case is an asyncio pipeline; at most ``max_concurrent_tasks`` component
calls are in flight overall. Cases are planned a chunk at a time, and the
results their work keys already have in the store are fetched in one query
per chunk: those are reused (a resume, or a cache hit from another run),
everything else is computed. Generation is the critical path: once a model
has answered, the case's later stages go to a task of their own and the
worker sends its next request. Every outcome becomes an event handed to the
group-committing writer.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, TypeVar

from themis.core.config import RuntimeConfig
from themis.core.contexts import (
    EvalScoreContext,
    GenerateContext,
    ParseContext,
    ReduceContext,
    ScoreContext,
    SelectContext,
)
from themis.core.engine.heap import frozen_heap, refreeze
from themis.core.engine.plan import (
    CasePlan,
    GenerationWorkItem,
    MetricItem,
    case_count,
    iter_plans,
)
from themis.core.engine.policy import ATTEMPTS_ATTRIBUTE, CallPolicy, Invoker, provider_of
from themis.core.engine.results import (
    build_run_result,
    completed_through,
    count_states,
    fold_case,
    new_counts,
    run_status,
)
from themis.core.engine.writer import EventWriter
from themis.core.errors import ComponentOutputError as ComponentOutputError
from themis.core.errors import ConfigError, ErrorCategory, classify
from themis.core.errors import ExistingRunError as ExistingRunError
from themis.core.errors import MissingUpstreamError as MissingUpstreamError
from themis.core.errors import PreflightError as PreflightError
from themis.core.events import (
    CaseRunEvent,
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    ParseCompletedEvent,
    ParseFailedEvent,
    ReductionCompletedEvent,
    ReductionFailedEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    ScoreCompletedEvent,
    ScoreFailedEvent,
)
from themis.core.hooks import LifecycleHooks
from themis.core.models import (
    STAGES,
    CaseResult,
    ComponentRef,
    GenerationResult,
    JSONValue,
    ParsedOutput,
    ReducedCandidate,
    RunResult,
    RunSnapshot,
    RunStatus,
    Score,
    ScoreError,
    StageCounts,
    StageError,
)
from themis.core.progress import snapshot_of
from themis.core.prompts import PromptSpec
from themis.core.redaction import redact_secrets
from themis.core.scrubbing import (
    install_log_filter,
    known_secrets,
    scrub_model,
    scrub_text,
    themis_loggers,
)
from themis.core.stores.base import RunStore
from themis.core.tracing import NullTracer, SpanStatus, TracingProvider
from themis.core.workflows import DefaultWorkflowRunner, EvaluationSubject, PolicedJudge

log = logging.getLogger(__name__)

_NO_SPAN: AbstractContextManager[Any] = nullcontext()


@dataclass
class ResolvedComponents:
    """The live component objects of a compiled snapshot, by role."""

    generator: Any
    reducer: Any
    selector: Any | None
    parsers: list[tuple[ComponentRef, Any]]
    metrics: dict[str, tuple[ComponentRef, Any]]
    judge_models: list[tuple[ComponentRef, Any]]


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


T = TypeVar("T")

LOOKUP_CHUNK = 256
"""Cases whose stored results are fetched from the store in one query."""
FIRST_CHUNK = 32
"""The first chunks are smaller, doubling up to LOOKUP_CHUNK: the first
requests leave after 32 cases are planned, not 256."""

HANDOFF_AFTER_S = 0.001
"""A case whose generation took longer than this (it waited on a model) has its
later stages run in a task of its own, so that its worker sends the next
request first; a faster one finishes inline."""


@dataclass
class ProgressCounter:
    """Live counts for progress displays (see ``themis.core.progress``)."""

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
        self.tracing: TracingProvider = tracing or NullTracer()
        self.on_case_done = on_case_done
        install_log_filter(*themis_loggers())
        self.invoker = Invoker(runtime.call_timeout_s)
        self.workflows = DefaultWorkflowRunner()
        self._policy: CallPolicy | None = None
        self._writer: EventWriter | None = None
        self._released = False
        spec = snapshot.identity.prompt_spec
        self.prompt_spec = None if spec is None else PromptSpec.model_validate(spec)
        # The seed of the case-level stages (select to judge): the experiment's
        # first; each candidate's own seed is on its GenerateContext.
        self.case_seed: int | None = snapshot.identity.seeds[0] if snapshot.identity.seeds else None
        self._policed_judges: tuple[Any, ...] | None = None

    # -- events ------------------------------------------------------------

    def _event_id(self, event_type: str, work_key: str, *, fresh: bool, epoch: str = "") -> str:
        """Deterministic for a completed result (so re-appending it is a no-op),
        unique for failures and forced replays (so they sit beside older ones)."""
        if fresh:
            epoch = uuid.uuid4().hex
        text = f"{self.run_id}|{event_type}|{work_key}|{epoch}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def _emit(self, event: RunEvent) -> None:
        assert self._writer is not None
        self._writer.submit(event)

    async def _writer_room(self) -> None:
        assert self._writer is not None
        await self._writer.wait_for_room()

    def _on_persisted(self, events: list[RunEvent]) -> None:
        if self.hooks.has("on_event"):
            for event in events:
                self.hooks.call("on_event", event=event)

    def _completed(self, cls: Any, plan: CasePlan, key: str, **payload: Any) -> Any:
        stage = cls.model_fields["stage"].default
        metric_id = payload.get("metric_id")
        forced = self.replay is not None and self.replay.forces(stage, metric_id)
        epoch = self.replay.nonce if forced and self.replay is not None else ""
        return self._case_event(cls, plan, key, fresh=False, epoch=epoch, **payload)

    def _case_event(
        self, cls: Any, plan: CasePlan, key: str, *, fresh: bool, epoch: str = "", **payload: Any
    ) -> Any:
        """Build and submit one case's stage event."""
        event_type = cls.model_fields["event_type"].default
        event = cls(
            event_id=self._event_id(event_type, key, fresh=fresh, epoch=epoch),
            run_id=self.run_id,
            case_key=plan.case_key,
            dataset_id=plan.dataset_id,
            case_id=plan.case.case_id,
            work_key=key,
            **payload,
        )
        if fresh or known_secrets():  # failures quote URLs and provider messages
            event = scrub_model(event)
        self._emit(event)
        return event

    def _failed(
        self,
        cls: Any,
        plan: CasePlan,
        key: str,
        exc: BaseException,
        component_id: str | None,
        **payload: Any,
    ) -> Any:
        stage = cls.model_fields["stage"].default
        error = stage_error(stage, component_id, exc, key)
        if "score_error" in cls.model_fields and "score_error" not in payload:
            payload["score_error"] = ScoreError(
                metric_id=payload.get("metric_id", component_id or "unknown"),
                reason=f"{error.error_type}: {error.message}",
                retryable=error.retryable,
            )
        return self._case_event(cls, plan, key, fresh=True, error=error, **payload)

    def _reuse(self, stored: dict[str, RunEvent], key: str) -> RunEvent | None:
        """A stored result for ``key``; copied into this run if another run made it."""
        event = stored.get(key)
        if event is None or not isinstance(event, CaseRunEvent):
            return None
        if event.run_id == self.run_id:
            return event
        event_type = event.event_type  # type: ignore[attr-defined]
        copy = event.model_copy(
            update={
                "event_id": self._event_id(event_type, key, fresh=False),
                "run_id": self.run_id,
                "cached_from": event.cached_from or event.run_id,
                "created_at": time.time(),
            }
        )
        self._emit(copy)
        return copy

    # -- the run -----------------------------------------------------------

    async def execute(self) -> RunResult:
        with frozen_heap():  # no full-heap GC pauses mid-run
            try:
                return await self._execute()
            finally:
                if not self._released:
                    await self._release()

    async def _execute(self) -> RunResult:
        loop = asyncio.get_running_loop()
        await self._open_store_and_preflight()
        mode = await self._apply_existing_run_policy()
        await self._record_servers()
        self._policy = CallPolicy(self.runtime, self._providers())
        self._writer = EventWriter(
            self.store,
            loop,
            self._on_persisted,
            lock_timeout_s=self.runtime.store_lock_timeout_s,
        )
        self._writer.save_snapshot(self.snapshot)
        total = case_count(self.snapshot)
        progress = ProgressCounter(total_cases=total)
        run_span = self._start_span("run", {"themis.run_id": self.run_id})
        try:
            self._emit(
                RunStartedEvent(
                    event_id=self._event_id("run_started", "", fresh=True),
                    run_id=self.run_id,
                    until_stage=self.until_stage,
                    mode=mode,
                )
            )
            results: list[CaseResult | None] = [None] * total
            counts = new_counts()
            work = self._with_stored_results(iter_plans(self.snapshot))
            workers = min(total, self.runtime.max_concurrent_tasks) or 1
            # Generation is the critical path: a worker hands a generated case to
            # a task of its own for the later stages and sends its next request
            # at once. Cases whose later stages are still running are bounded,
            # so slow judges push back on generation.
            open_cases = asyncio.Semaphore(2 * workers)
            finishing: set[asyncio.Task[None]] = set()
            failures: list[BaseException] = []

            async def finish(
                index: int,
                plan: CasePlan,
                stored: dict[str, RunEvent],
                latest: dict[str, RunEvent],
                candidates: list[GenerationResult] | None,
            ) -> None:
                try:
                    if candidates is not None:
                        await self._later_stages(plan, candidates, stored, latest)
                    case_result = fold_case(plan, latest, self.until_stage)
                    results[index] = case_result
                    count_states(counts, plan, latest)
                    progress.done += case_result.status.value == "completed"
                    progress.failed += case_result.status.value == "failed"
                    progress.cached += bool(case_result.cached_stages)
                    if self.on_case_done is not None:
                        self.on_case_done(case_result, progress)
                    if self.hooks.has("on_progress"):
                        self.hooks.call("on_progress", snapshot=snapshot_of(progress))
                    await self._writer_room()
                finally:
                    open_cases.release()

            def finished(task: asyncio.Task[None]) -> None:
                finishing.discard(task)
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    failures.append(error)

            async def worker() -> None:
                for index, plan, stored in work:
                    await open_cases.acquire()
                    if failures:
                        open_cases.release()
                        return
                    latest: dict[str, RunEvent] = {}
                    started = time.perf_counter()
                    try:
                        candidates = await self._generate_stage(plan, stored, latest)
                    except BaseException:
                        open_cases.release()
                        raise
                    if time.perf_counter() - started < HANDOFF_AFTER_S:
                        # Nothing was waited for (a cache hit, an instant model):
                        # a task would cost more than finishing right here.
                        await finish(index, plan, stored, latest, candidates)
                        continue
                    task = loop.create_task(finish(index, plan, stored, latest, candidates))
                    finishing.add(task)
                    task.add_done_callback(finished)

            try:
                await asyncio.gather(*await self._start_workers(worker, workers))
                while finishing:
                    await asyncio.wait(set(finishing))
            finally:
                for task in finishing:
                    task.cancel()
            if failures:
                raise failures[0]
            cases = [case for case in results if case is not None]
            status, through = run_status(cases), completed_through(cases, self.until_stage)
            self._emit(
                RunCompletedEvent(
                    event_id=self._event_id("run_completed", "", fresh=True),
                    run_id=self.run_id,
                    status=status,
                    completed_through_stage=through,
                )
            )
            # The last events commit, and components close, while the result is built.
            releasing = asyncio.ensure_future(self._release())
            try:
                result = build_run_result(
                    self.run_id,
                    cases,
                    self.until_stage,
                    {stage: StageCounts(**values) for stage, values in counts.items()},
                    status=status,
                    completed_through_stage=through,
                    metric_ids=[ref.name for ref in self.snapshot.component_refs.metrics],
                )
                await self._writer.close()
            finally:
                await releasing
            self._end_span(run_span, "error" if status is RunStatus.failed else "ok")
            return result
        except BaseException as exc:
            self._end_span(run_span, "error")
            if self._writer is not None and self._writer.error is None:
                # Keep what finished: record why the run stopped, and wait for
                # queued events to commit before the error propagates.
                self._emit(
                    RunFailedEvent(
                        event_id=self._event_id("run_failed", "", fresh=True),
                        run_id=self.run_id,
                        error=StageError(
                            stage="run",
                            error_type=type(exc).__name__,
                            message=scrub_text(str(exc) or repr(exc)),
                        ),
                    )
                )
                await asyncio.shield(self._writer.close())
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

    @staticmethod
    async def _start_workers(
        worker: Callable[[], Coroutine[Any, Any, None]], count: int
    ) -> list[asyncio.Task[None]]:
        """Start the workers one loop turn apart, so the first requests leave
        while later workers are still starting rather than after all of them
        have (with 64 workers, that was some 15 ms on the critical path)."""
        loop = asyncio.get_running_loop()
        started: list[asyncio.Task[None]] = []
        try:
            for _ in range(count):
                started.append(loop.create_task(worker()))
                await asyncio.sleep(0)
                if any(task.done() for task in started):
                    break  # a worker already stopped (no more cases, or an error)
        except BaseException:  # cancelled while starting: stop the ones started
            for task in started:
                task.cancel()
            raise
        return started

    def _lifecycle_components(self) -> list[Any]:
        """Each distinct component of the run once, in pipeline order."""
        components = self.components
        candidates: list[Any] = [components.generator, components.reducer, components.selector]
        candidates += [parser for _, parser in components.parsers]
        candidates += [metric for _, metric in components.metrics.values()]
        candidates += [judge for _, judge in components.judge_models]
        seen: set[int] = set()
        distinct: list[Any] = []
        for component in candidates:
            if component is not None and id(component) not in seen:
                seen.add(id(component))
                distinct.append(component)
        return distinct

    def _providers(self) -> dict[str, str]:
        """Each component's provider, by component id. A concurrency limit that
        names no component or provider of this run limits nothing: most likely
        a typo, so it is reported."""
        providers = {
            str(component.component_id): provider_of(component)
            for component in self._lifecycle_components()
            if hasattr(component, "component_id")
        }
        for setting, known in (
            ("component_concurrency", set(providers)),
            ("provider_concurrency", set(providers.values())),
        ):
            for key in getattr(self.runtime, setting):
                if key not in known:
                    log.warning(
                        "runtime %s names %r, which is not in this run (it has: %s)",
                        setting,
                        key,
                        ", ".join(sorted(known)),
                    )
        return providers

    async def _open_store_and_preflight(self) -> None:
        """Open the store (off the event loop) while the components check their
        backends: both mostly wait, on a disk and on a server. A failed check
        starts no work and stores no snapshot, though a new store file exists."""
        opening = asyncio.ensure_future(asyncio.to_thread(self.store.initialize))
        try:
            await self._preflight()
        except BaseException:
            await asyncio.wait([opening])
            if not opening.cancelled():
                opening.exception()  # the failed check is the error to report
            raise
        await opening

    def _lifecycle_methods(self, name: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        """Each component's optional ``name`` method, with the component's id
        for messages, in pipeline order."""
        for component in self._lifecycle_components():
            method = getattr(component, name, None)
            if callable(method):
                yield getattr(component, "component_id", type(component).__name__), method

    async def _preflight(self) -> None:
        """Let components check their backends (a server's health, a served
        model) before any work starts: a component may define ``preflight()``,
        sync or async; if it raises, the run stops here with that error."""
        for component_id, check in self._lifecycle_methods("preflight"):
            try:
                await self.invoker.call(check, blocking=True)
            except Exception as exc:
                raise PreflightError(
                    scrub_text(f"{component_id} is not ready: {type(exc).__name__}: {exc}")
                ) from exc

    async def _record_servers(self) -> None:
        """Put what each server-backed component reads from its server (a component
        may define ``server_provenance()``, sync or async, returning a JSON object
        or None) into the snapshot's provenance before it is stored. Provenance
        only: the run id does not change, and a server that cannot say is logged,
        never an error. A resumed run keeps the record of its first start."""
        servers: list[dict[str, JSONValue]] = []
        for component_id, describe in self._lifecycle_methods("server_provenance"):
            try:
                entry = await self.invoker.call(describe, blocking=True)
            except Exception as exc:
                log.warning(
                    "%s: could not read its server's description: %s: %s",
                    component_id,
                    type(exc).__name__,
                    exc,
                )
                continue
            if isinstance(entry, dict) and redact_secrets(entry) not in servers:
                servers.append(redact_secrets(entry))
        if servers:
            provenance = self.snapshot.provenance.model_copy(update={"servers": servers})
            self.snapshot = self.snapshot.model_copy(update={"provenance": provenance})

    async def _release(self) -> None:
        """Let components close what they opened in this run's event loop
        (HTTP sessions, mostly): a component may define ``aclose()``, sync or
        async. The run's work is done, so a failure to close is logged, never
        raised."""
        self._released = True
        for component_id, close in self._lifecycle_methods("aclose"):
            try:
                await self.invoker.call(close, blocking=True)
            except Exception as exc:
                log.warning(
                    "%s did not close cleanly: %s: %s", component_id, type(exc).__name__, exc
                )

    def _span(
        self, name: str, plan: CasePlan, latest: dict[str, RunEvent]
    ) -> AbstractContextManager[Any]:
        """A stage's span around a block; nothing at all when tracing is off (the
        common case, entered five times per case)."""
        if isinstance(self.tracing, NullTracer):
            return _NO_SPAN
        return self._traced(name, plan, latest)

    @contextmanager
    def _traced(self, name: str, plan: CasePlan, latest: dict[str, RunEvent]) -> Iterator[Any]:
        """The span ends ``"error"`` when the block raised or recorded a failure
        of its stage for the case (a component's error), else ``"ok"``."""
        attributes = {
            "themis.run_id": self.run_id,
            "themis.stage": name,
            "themis.case_key": plan.case_key,
            "themis.case_id": plan.case.case_id,
            "themis.dataset_id": plan.dataset_id,
        }
        span = self._start_span(name, attributes)
        try:
            yield span
        except BaseException:
            self._end_span(span, "error")
            raise
        failed = any(
            getattr(event, "error", None) is not None and getattr(event, "stage", None) == name
            for event in latest.values()
        )
        self._end_span(span, "error" if failed else "ok")

    def _start_span(self, name: str, attributes: dict[str, Any]) -> Any:
        """``start_span(name, attributes)``, the reference's protocol; the provider
        parents spans itself (OpenTelemetry's current context does). A tracer
        that fails is logged and the run goes on, as a failing subscriber is."""
        try:
            return self.tracing.start_span(name, attributes)
        except Exception as exc:
            log.warning(
                "tracing provider failed to start span %r: %s: %s", name, type(exc).__name__, exc
            )
            return None

    def _end_span(self, span: Any, status: SpanStatus) -> None:
        """``end_span(span, status)`` with status ``"ok"`` or ``"error"``."""
        try:
            self.tracing.end_span(span, status)
        except Exception as exc:
            log.warning("tracing provider failed to end a span: %s: %s", type(exc).__name__, exc)

    def _with_stored_results(
        self, plans: Iterator[CasePlan]
    ) -> Iterator[tuple[int, CasePlan, dict[str, RunEvent]]]:
        """Cases in order, each with the stored results its work keys already have.

        Cases are planned and looked up a chunk at a time: the store is asked
        once per chunk rather than once per case, and the first requests leave
        before the last case is planned. Workers share this iterator; it never
        awaits, so they take cases from it one at a time.
        """
        start, size = 0, FIRST_CHUNK
        while chunk := list(islice(plans, size)):
            refreeze()  # what earlier chunks kept stays out of full collections
            size = min(2 * size, LOOKUP_CHUNK)
            wanted = {id(plan): self._reusable_keys(plan) for plan in chunk}
            keys = [key for plan_keys in wanted.values() for key in plan_keys]
            found = self.store.find_completed(keys, prefer_run_id=self.run_id) if keys else {}
            for offset, plan in enumerate(chunk):
                stored = {key: found[key] for key in wanted[id(plan)] if key in found}
                yield start + offset, plan, stored
            start += len(chunk)

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

    async def _generate_stage(
        self,
        plan: CasePlan,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> list[GenerationResult] | None:
        """The case's candidates; None when one failed or the run stops at generation."""
        with self._span("generate", plan, latest):
            outcomes = await gather_all(
                [self._generate(plan, item, stored, latest) for item in plan.generations]
            )
        if any(outcome is None for outcome in outcomes) or self.until_index < 1:
            return None
        return [outcome for outcome in outcomes if outcome is not None]

    async def _later_stages(
        self,
        plan: CasePlan,
        candidates: list[GenerationResult],
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> None:
        """Reduce, parse, score and judge, each only when the one before succeeded."""
        with self._span("reduce", plan, latest):
            reduced = await self._reduce(plan, candidates, stored, latest)
        if reduced is None or self.until_index < 2:
            return
        with self._span("parse", plan, latest):
            parsed = await self._parse(plan, reduced, stored, latest)
        if parsed is None or self.until_index < 3:
            return
        with self._span("score", plan, latest):
            await gather_all(
                [
                    self._score(plan, item, parsed, stored, latest)
                    for item in plan.metrics
                    if item.stage == "score"
                ]
            )
        if self.until_index < 4:
            return
        subject = EvaluationSubject(
            case=plan.case, candidates=candidates, reduced=reduced, parsed=parsed
        )
        with self._span("judge", plan, latest):
            await gather_all(
                [
                    self._judge(plan, item, subject, stored, latest)
                    for item in plan.metrics
                    if item.stage == "judge"
                ]
            )

    def _selection_judges(self) -> tuple[Any, ...]:
        """The experiment's judge models for a selector, their calls under the run's policy."""
        if self._policed_judges is None:
            self._policed_judges = tuple(
                PolicedJudge(model, self._policy, self.invoker)
                for _, model in self.components.judge_models
            )
        return self._policed_judges

    def _case_fields(self, plan: CasePlan) -> dict[str, Any]:
        """What every case-level stage context says about its case."""
        return {
            "run_id": self.run_id,
            "case": plan.case,
            "case_key": plan.case_key,
            "dataset_id": plan.dataset_id,
            "case_id": plan.case.case_id,
            "seed": self.case_seed,
            "metadata": plan.case.metadata,
        }

    def _missing_upstream(self, stage: str) -> MissingUpstreamError:
        return MissingUpstreamError(
            f"no stored {stage} result for this work item; replay never recomputes "
            f"stages upstream of {self.replay.from_stage if self.replay else stage!r}: "
            "run the experiment (or import a bundle) first"
        )

    # -- stages ------------------------------------------------------------

    async def _generate(
        self,
        plan: CasePlan,
        item: GenerationWorkItem,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> GenerationResult | None:
        reused = self._reuse(stored, item.work_key)
        if isinstance(reused, GenerationCompletedEvent):
            latest[item.work_key] = reused
            return reused.candidate
        generator = self.components.generator
        ref = self.snapshot.component_refs.generator
        extra = {"seed": item.seed, "sample_index": item.sample_index}
        try:
            if self.replay is not None and self.replay.requires_stored("generate"):
                raise self._missing_upstream("generate")
            ctx = GenerateContext(
                run_id=self.run_id,
                dataset_id=plan.dataset_id,
                case_id=plan.case.case_id,
                case_key=plan.case_key,
                seed=item.seed,
                base_seed=item.base_seed,
                sample_index=item.sample_index,
                prompt_spec=self.prompt_spec,
                metadata=plan.case.metadata,
            )
            self.hooks.call("before_generate", case=plan.case, ctx=ctx)
            assert self._policy is not None
            started = time.perf_counter()

            async def call() -> Any:
                return await self.invoker.call(
                    generator.generate, plan.case, ctx, blocking=True, timeout_s=None
                )

            raw = await self._policy.call(ref.component_id, call)
            candidate: GenerationResult = as_model(
                GenerationResult, raw, "generator", ref.component_id
            )
            if candidate.latency_ms is None:
                candidate = candidate.model_copy(
                    update={"latency_ms": (time.perf_counter() - started) * 1000}
                )
            self.hooks.call("after_generate", case=plan.case, result=candidate, ctx=ctx)
        except Exception as exc:
            latest[item.work_key] = self._failed(
                GenerationFailedEvent, plan, item.work_key, exc, ref.component_id, **extra
            )
            return None
        latest[item.work_key] = self._completed(
            GenerationCompletedEvent, plan, item.work_key, candidate=candidate, **extra
        )
        return candidate

    async def _reduce(
        self,
        plan: CasePlan,
        candidates: list[GenerationResult],
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> ReducedCandidate | None:
        key = plan.reduce_key
        reused = self._reuse(stored, key)
        if isinstance(reused, ReductionCompletedEvent):
            latest[key] = reused
            return reused.reduced
        refs = self.snapshot.component_refs
        component_id = refs.reducer.component_id
        try:
            if self.replay is not None and self.replay.requires_stored("reduce"):
                raise self._missing_upstream("reduce")
            selected = candidates
            if self.components.selector is not None:
                component_id = refs.selector.component_id if refs.selector else component_id
                select_ctx = SelectContext(
                    **self._case_fields(plan),
                    candidate_ids=[c.candidate_id for c in candidates],
                    judge_models=self._selection_judges(),
                )
                selected = list(
                    await self.invoker.call(self.components.selector.select, candidates, select_ctx)
                )
                component_id = refs.reducer.component_id
            ctx = ReduceContext(
                **self._case_fields(plan), candidate_ids=[c.candidate_id for c in selected]
            )
            self.hooks.call("before_reduce", candidates=selected, ctx=ctx)
            raw = await self.invoker.call(self.components.reducer.reduce, selected, ctx)
            reduced: ReducedCandidate = as_model(ReducedCandidate, raw, "reducer", component_id)
            self.hooks.call("after_reduce", reduced=reduced, ctx=ctx)
        except Exception as exc:
            latest[key] = self._failed(ReductionFailedEvent, plan, key, exc, component_id)
            return None
        latest[key] = self._completed(
            ReductionCompletedEvent,
            plan,
            key,
            reduced=reduced,
            selected_candidate_ids=[c.candidate_id for c in selected],
        )
        return reduced

    async def _parse(
        self,
        plan: CasePlan,
        reduced: ReducedCandidate,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> ParsedOutput | None:
        key = plan.parse_key
        reused = self._reuse(stored, key)
        if isinstance(reused, ParseCompletedEvent):
            latest[key] = reused
            return reused.parsed_outputs[-1]
        component_id: str | None = None
        try:
            if self.replay is not None and self.replay.requires_stored("parse"):
                raise self._missing_upstream("parse")
            ctx = ParseContext(**self._case_fields(plan))
            self.hooks.call("before_parse", candidate=reduced, ctx=ctx)
            outputs: list[ParsedOutput] = []
            current = reduced
            for ref, parser in self.components.parsers:
                component_id = ref.component_id
                raw = await self.invoker.call(parser.parse, current, ctx)
                parsed = as_model(ParsedOutput, raw, "parser", ref.component_id)
                outputs.append(parsed)
                current = current.model_copy(update={"final_output": parsed.value})
            if not outputs:
                outputs.append(ParsedOutput(value=reduced.final_output, format="raw"))
            self.hooks.call("after_parse", parsed=outputs[-1], ctx=ctx)
        except Exception as exc:
            latest[key] = self._failed(ParseFailedEvent, plan, key, exc, component_id)
            return None
        latest[key] = self._completed(ParseCompletedEvent, plan, key, parsed_outputs=outputs)
        return outputs[-1]

    async def _score(
        self,
        plan: CasePlan,
        item: MetricItem,
        parsed: ParsedOutput,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> None:
        reused = self._reuse(stored, item.work_key)
        if isinstance(reused, ScoreCompletedEvent | ScoreFailedEvent):
            latest[item.work_key] = reused
            return
        ref, metric = self.components.metrics[item.metric_id]
        ctx = ScoreContext(**self._case_fields(plan), parsed_output=parsed)
        try:
            self.hooks.call("before_score", metric_id=item.metric_id, parsed=parsed, ctx=ctx)
            raw = await self.invoker.call(metric.score, parsed, plan.case, ctx)
            outcome = finite_or_error(
                as_score(raw, item.metric_id, ref.component_id), plan.case_key
            )
            self.hooks.call("after_score", result=outcome, ctx=ctx)
        except Exception as exc:
            latest[item.work_key] = self._failed(
                ScoreFailedEvent,
                plan,
                item.work_key,
                exc,
                ref.component_id,
                metric_id=item.metric_id,
            )
            return
        if isinstance(outcome, ScoreError):
            latest[item.work_key] = self._failed(
                ScoreFailedEvent,
                plan,
                item.work_key,
                ScoreErrorRaised(outcome),
                ref.component_id,
                metric_id=item.metric_id,
                score_error=outcome,
            )
            return
        latest[item.work_key] = self._completed(
            ScoreCompletedEvent, plan, item.work_key, metric_id=item.metric_id, score=outcome
        )

    async def _judge(
        self,
        plan: CasePlan,
        item: MetricItem,
        subject: EvaluationSubject,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> None:
        reused = self._reuse(stored, item.work_key)
        if isinstance(reused, EvaluationCompletedEvent | EvaluationFailedEvent):
            latest[item.work_key] = reused
            return
        ref, metric = self.components.metrics[item.metric_id]
        identity = self.snapshot.identity
        judge_config = metric_judge_config(
            identity.judge_config, list(self.components.metrics), item.metric_id
        )
        judges = select_judges(self.components.judge_models, judge_config)
        ctx = EvalScoreContext(
            run_id=self.run_id,
            case=plan.case,
            case_key=plan.case_key,
            dataset_id=plan.dataset_id,
            metric_id=item.metric_id,
            judge_models=tuple(model for _, model in judges),
            workflow_overrides=dict(identity.workflow_overrides),
            judge_config=judge_config,
            seed=self.case_seed,
            case_id=plan.case.case_id,
            metadata=plan.case.metadata,
        )
        assert self._policy is not None
        self.hooks.call("before_judge", metric_id=item.metric_id, ctx=ctx)
        trace = await self.workflows.run_metric(
            metric,
            subject,
            ctx,
            judge_refs=[judge_ref for judge_ref, _ in judges],
            policy=self._policy,
            invoker=self.invoker,
        )
        result = finite_or_error(trace.result, plan.case_key)
        if result is not trace.result:
            trace = trace.model_copy(update={"result": result})
        self.hooks.call("after_judge", result=trace.result, ctx=ctx)
        execution = trace.model_dump(mode="json")
        if isinstance(trace.result, Score):
            latest[item.work_key] = self._completed(
                EvaluationCompletedEvent,
                plan,
                item.work_key,
                metric_id=item.metric_id,
                score=trace.result,
                execution=execution,
            )
            return
        latest[item.work_key] = self._failed(
            EvaluationFailedEvent,
            plan,
            item.work_key,
            ScoreErrorRaised(trace.result),
            ref.component_id,
            metric_id=item.metric_id,
            score_error=trace.result,
            execution=execution,
        )


def metric_judge_config(
    judge_config: dict[str, Any], metric_names: list[str], metric_id: str
) -> dict[str, Any]:
    """The judge configuration one metric sees.

    ``judge_config`` holds shared settings plus, under a metric's name, that
    metric's own settings, which win over the shared ones.
    """
    shared = {k: v for k, v in judge_config.items() if k not in metric_names}
    own = judge_config.get(metric_id)
    return {**shared, **own} if isinstance(own, dict) else shared


def select_judges(
    judges: list[tuple[ComponentRef, Any]], judge_config: dict[str, Any]
) -> list[tuple[ComponentRef, Any]]:
    """The judge models a metric uses: all, or those its config names."""
    wanted = judge_config.get("judge_models")
    if not wanted:
        return judges
    return [(ref, judge) for ref, judge in judges if ref.name in wanted]


async def gather_all(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """``asyncio.gather`` without a task per coroutine when there is only one
    (most cases have one candidate and one metric, and a task costs more than
    the work it would wrap), nor a future when there is none."""
    if not coroutines:
        return []
    if len(coroutines) == 1:
        return [await coroutines[0]]
    return list(await asyncio.gather(*coroutines))


class ScoreErrorRaised(Exception):
    """Carries a metric's returned ScoreError through the failure path."""

    def __init__(self, error: ScoreError) -> None:
        super().__init__(error.reason)
        self.score_error = error


def as_model(model: Any, value: Any, kind: str, component_id: str) -> Any:
    if isinstance(value, model):
        return value
    if isinstance(value, dict):
        try:
            return model.model_validate(value)
        except Exception as exc:
            raise ComponentOutputError(
                f"{kind} {component_id!r} returned an invalid {model.__name__}: {exc}"
            ) from exc
    raise ComponentOutputError(
        f"{kind} {component_id!r} returned {type(value).__name__}, expected {model.__name__}"
    )


def as_score(value: Any, metric_id: str, component_id: str) -> Score | ScoreError:
    if isinstance(value, Score | ScoreError):
        outcome = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        outcome = Score(metric_id=metric_id, value=float(value))
    else:
        raise ComponentOutputError(
            f"metric {component_id!r} returned {type(value).__name__}, expected Score or ScoreError"
        )
    if outcome.metric_id != metric_id:
        outcome = outcome.model_copy(update={"metric_id": metric_id})
    return outcome


def finite_or_error(outcome: Score | ScoreError, case_key: str) -> Score | ScoreError:
    """A NaN or infinite score becomes the metric's error: JSON has no such
    numbers, and one would make every mean and the stored run unreadable."""
    if isinstance(outcome, ScoreError) or math.isfinite(outcome.value):
        return outcome
    return ScoreError(
        metric_id=outcome.metric_id,
        reason=(
            f"metric {outcome.metric_id!r} returned a score that is not a finite number "
            f"({outcome.value}) for case {case_key!r}; a score must be a finite number"
        ),
        details={"category": ErrorCategory.component_error.value, "value": str(outcome.value)},
    )


def stage_error(stage: str, component_id: str | None, exc: BaseException, key: str) -> StageError:
    if isinstance(exc, ScoreErrorRaised):
        return StageError(
            stage=stage,
            component_id=component_id,
            error_type="ScoreError",
            message=exc.score_error.reason,
            category=str(exc.score_error.details.get("category", ErrorCategory.component_error)),
            retryable=exc.score_error.retryable,
            work_key=key,
        )
    verdict = classify(exc)  # the error's own category: ParseFailure, MissingUpstreamError...
    category = verdict.category
    attempts, earlier = getattr(exc, ATTEMPTS_ATTRIBUTE, (1, []))
    if stage == "parse" and category is ErrorCategory.component_error:
        category = ErrorCategory.parse_error
    return StageError(
        stage=stage,
        component_id=component_id,
        error_type=type(exc).__name__,
        message=str(exc) or repr(exc),
        category=category.value,
        retryable=verdict.retryable,
        work_key=key,
        attempts=attempts,
        earlier_errors=earlier,
    )

"""Everything stored about one case, gathered in one place to be read.

A :class:`CaseDetail` is what ``themis show``, the HTML report's drill-down
and the viewer display: the case's input and rendered prompt, every
candidate (with its trace and conversation), the reduced candidate, the
parsed values, every score with its details, every judge call with its prompt
and verdict, and every error with the failed attempts before it. It is read
from a store's events in one pass, so it looks the same for a run reopened in
another process or imported from a bundle.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pydantic import Field

from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import outcomes_from_cases
from themis.core.authoring.prompts import PromptSpec, render_messages
from themis.core.engine.plan import CasePlan, plan_cases
from themis.core.engine.results import fold_case
from themis.core.errors import UnknownCaseError as UnknownCaseError
from themis.core.models import (
    STAGES,
    FrozenModel,
    GenerationResult,
    JSONValue,
    Message,
    ParsedOutput,
    ReducedCandidate,
    RunSnapshot,
    RunStatus,
    Score,
    ScoreError,
    StageError,
    case_key_for,
)
from themis.core.storage.events import CaseRunEvent, RunEvent, RunStartedEvent
from themis.core.storage.stores.base import RunStore


class CandidateDetail(FrozenModel):
    """One generated candidate, with the seed and sample that produced it."""

    seed: int
    sample_index: int
    candidate: GenerationResult
    cached_from: str | None = None


class JudgeCallDetail(FrozenModel):
    """One judge call of a judge-backed metric: what it was asked and what it said."""

    call_id: str
    judge_model_id: str | None = None
    prompt: JSONValue = None
    response_text: str | None = None
    judgment: JSONValue = None
    score: JSONValue = None
    attempts: int = 0
    error: str | None = None
    token_usage: dict[str, int] | None = None
    latency_ms: float | None = None


class EvaluationDetail(FrozenModel):
    """One judge-backed metric's outcome for the case, with every judge call."""

    metric_id: str
    score: Score | None = None
    score_error: ScoreError | None = None
    calls: list[JudgeCallDetail] = Field(default_factory=list)
    cached_from: str | None = None


class FailedAttempt(FrozenModel):
    """An earlier stored failure of a work item (a previous run or resume)."""

    at: float
    run_id: str
    error: StageError


class ErrorDetail(FrozenModel):
    """A work item that failed, with the failures stored before its last one."""

    stage: str
    work_key: str
    error: StageError
    at: float
    earlier_failures: list[FailedAttempt] = Field(default_factory=list)


class CaseDetail(FrozenModel):
    """Everything stored about one case of one run."""

    run_id: str
    case_key: str
    dataset_id: str
    case_id: str
    status: RunStatus
    completed_through_stage: str | None = None
    cached_stages: list[str] = Field(default_factory=list)
    input: JSONValue = None
    expected_output: JSONValue = None
    metadata: dict[str, JSONValue] = Field(default_factory=dict)
    prompt: list[Message] = Field(default_factory=list)
    candidates: list[CandidateDetail] = Field(default_factory=list)
    reduced: ReducedCandidate | None = None
    parsed: list[ParsedOutput] = Field(default_factory=list)
    scores: list[Score] = Field(default_factory=list)
    score_errors: list[ScoreError] = Field(default_factory=list)
    evaluations: list[EvaluationDetail] = Field(default_factory=list)
    errors: list[ErrorDetail] = Field(default_factory=list)
    recovered_failures: int = 0
    """Stored failures of work items that later succeeded (retried on resume)."""
    unparsed_metrics: list[str] = Field(default_factory=list)
    """Metrics whose mean counts this case as an unparsed answer: 0, and one of the
    parse failures shown beside the mean (see :mod:`themis.core.analysis.outcomes`)."""

    @property
    def output(self) -> JSONValue:
        """The answer the case was scored on: the reduced candidate's output."""
        if self.reduced is not None:
            return self.reduced.final_output
        if self.candidates:
            return self.candidates[0].candidate.final_output
        return None


def resolve_case_key(snapshot: RunSnapshot, key: str) -> str:
    """A case key from ``dataset::case_id`` or from a case id unique in the run."""
    pairs = [
        (case_key_for(d.dataset_id, c.case_id), c.case_id)
        for d in snapshot.datasets
        for c in d.cases
    ]
    keys = [case_key for case_key, _ in pairs]
    if key in keys:
        return key
    owners = [case_key for case_key, case_id in pairs if case_id == key]
    if len(owners) == 1:
        return owners[0]
    if owners:
        raise UnknownCaseError(
            f"case id {key!r} is in several datasets of run {snapshot.run_id}: "
            f"{', '.join(owners)}; give the case key (dataset::case_id)"
        )
    close = [k for k in keys if key.lower() in k.lower()][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownCaseError(
        f"run {snapshot.run_id} has no case {key!r} ({len(keys)} cases; keys look like "
        f"{keys[0] if keys else 'dataset::case_id'}){hint}"
    )


def load_case_details(
    store: RunStore, run_id: str, case_keys: Sequence[str] | None = None
) -> list[CaseDetail]:
    """The details of every case of a run (or of ``case_keys``), in dataset order."""
    return list(iter_case_details(store, run_id, case_keys))


def iter_case_details(
    store: RunStore,
    run_id: str,
    case_keys: Sequence[str] | None = None,
    *,
    snapshot: RunSnapshot | None = None,
) -> Iterator[CaseDetail]:
    """Like :func:`load_case_details`, one case at a time, reading the events
    once (pass ``snapshot`` when it is already loaded)."""
    snapshot = snapshot or get_run_snapshot(store, run_id)
    wanted = set(case_keys) if case_keys is not None else None
    plans = [p for p in plan_cases(snapshot) if wanted is None or p.case_key in wanted]
    latest, history, until = _group_events(store.iter_events(run_id), wanted)
    spec = snapshot.identity.prompt_spec
    prompt_spec = PromptSpec.model_validate(spec) if spec else None
    for plan in plans:
        # Each case's events are dropped once it is folded: memory falls as the caller goes.
        yield case_detail(
            run_id,
            plan,
            latest.pop(plan.case_key, {}),
            history.pop(plan.case_key, {}),
            until,
            prompt_spec,
        )


def _group_events(
    events: Iterable[RunEvent], wanted: set[str] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, list[Any]]], str]:
    """Latest event per work key, and every event per work key, by case key."""
    latest: dict[str, dict[str, Any]] = defaultdict(dict)
    history: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    until = "judge"
    for event in events:
        if isinstance(event, CaseRunEvent):
            if wanted is not None and event.case_key not in wanted:
                continue
            latest[event.case_key][event.work_key] = event
            if event.event_type.endswith("_failed"):  # type: ignore[attr-defined]
                history[event.case_key][event.work_key].append(event)
        elif isinstance(event, RunStartedEvent):
            until = event.until_stage
    return latest, history, until


def case_detail(
    run_id: str,
    plan: CasePlan,
    latest: dict[str, Any],
    failures: dict[str, list[Any]],
    until_stage: str,
    prompt_spec: PromptSpec | None,
) -> CaseDetail:
    """One case's detail from its latest events and its stored failures."""
    folded = fold_case(plan, latest, until_stage)
    unparsed = [
        outcome.metric_id
        for outcome in outcomes_from_cases(
            [folded],
            list(dict.fromkeys(item.metric_id for item in plan.metrics)),
            scoring=until_stage in ("score", "judge"),
        )
        if outcome.kind == "unparsed"
    ]
    candidates = [
        CandidateDetail(
            seed=item.seed,
            sample_index=item.sample_index,
            candidate=event.candidate,
            cached_from=event.cached_from,
        )
        for item in plan.generations
        if (event := latest.get(item.work_key)) is not None
        and event.event_type == "generation_completed"
    ]
    evaluations = [
        _evaluation(event)
        for item in plan.metrics
        if item.stage == "judge" and (event := latest.get(item.work_key)) is not None
    ]
    errors: list[ErrorDetail] = []
    recovered = 0
    for stage in STAGES:
        for key in plan.keys_for(stage):
            stored = failures.get(key, [])
            event = latest.get(key)
            if event is None or not event.event_type.endswith("_failed"):
                recovered += len(stored)
                continue
            errors.append(
                ErrorDetail(
                    stage=stage,
                    work_key=key,
                    error=event.error,
                    at=event.created_at,
                    earlier_failures=[
                        FailedAttempt(at=e.created_at, run_id=e.run_id, error=e.error)
                        for e in stored
                        if e is not event
                    ],
                )
            )
    return CaseDetail(
        run_id=run_id,
        case_key=plan.case_key,
        dataset_id=plan.dataset_id,
        case_id=plan.case.case_id,
        status=folded.status,
        completed_through_stage=folded.completed_through_stage,
        cached_stages=folded.cached_stages,
        input=plan.case.input,
        expected_output=plan.case.expected_output,
        metadata=plan.case.metadata,
        prompt=render_messages(prompt_spec, plan.case.input),
        candidates=candidates,
        reduced=folded.reduced_candidate,
        parsed=folded.parsed_outputs,
        scores=folded.scores,
        score_errors=folded.score_errors,
        evaluations=evaluations,
        errors=errors,
        recovered_failures=recovered,
        unparsed_metrics=unparsed,
    )


def _evaluation(event: Any) -> EvaluationDetail:
    execution: dict[str, Any] = event.execution
    calls = [
        JudgeCallDetail(
            call_id=str(call.get("call_id", "")),
            judge_model_id=call.get("judge_model_id"),
            prompt=call.get("prompt"),
            response_text=call.get("response_text"),
            judgment=call.get("judgment"),
            score=call.get("score"),
            attempts=int(call.get("attempts") or 0),
            error=call.get("error"),
            token_usage=call.get("token_usage"),
            latency_ms=call.get("latency_ms"),
        )
        for call in execution.get("calls", [])
        if isinstance(call, dict)
    ]
    completed = event.event_type == "evaluation_completed"
    return EvaluationDetail(
        metric_id=event.metric_id,
        score=event.score if completed else None,
        score_error=None if completed else event.score_error,
        calls=calls,
        cached_from=event.cached_from,
    )

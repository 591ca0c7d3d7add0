"""Read-only views of stored runs: snapshot, execution state, evaluations,
the run result, and compact summaries."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from typing import Any, Literal

from pydantic import Field

from themis.core.analysis import outcomes
from themis.core.engine.plan import plan_cases
from themis.core.engine.results import (
    build_run_result,
    fold_case,
    latest_by_key,
    stage_counts,
)
from themis.core.errors import ConfigError
from themis.core.models import (
    STAGES,
    FrozenModel,
    JSONValue,
    RunResult,
    RunSnapshot,
    RunStatus,
    Score,
    ScoreError,
    StageCounts,
    StageError,
    case_key_for,
)
from themis.core.storage.events import (
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    RunStartedEvent,
)
from themis.core.storage.stores.base import RunStore, UnknownRunError
from themis.core.workflows import JudgeCallRecord, JudgeResponse, WorkflowTrace


class WorkFailure(FrozenModel):
    """One failed work item with its error."""

    case_key: str
    stage: str
    work_key: str
    error: StageError


class ExecutionState(FrozenModel):
    """Stored progress of a run: per-stage counts and every failure."""

    run_id: str
    status: RunStatus
    completed_through_stage: str | None
    stages: dict[str, StageCounts]
    failures: list[WorkFailure] = Field(default_factory=list)


class JudgeCallFailure(FrozenModel):
    """Why a workflow or one of its judge calls failed (``call_id`` None: the workflow)."""

    call_id: str | None
    error: str


class EvaluationExecution(FrozenModel):
    """One stored judge-backed metric execution for one case.

    ``judge_calls`` holds one record per judge call, in the order the
    workflow asked for them; ``rendered_prompts`` has every call's prompt in
    that order; ``judge_responses``, ``parsed_judgments`` and ``scores`` (the
    per-call scores handed to ``aggregate``) hold those of the calls that got
    that far (each record in ``judge_calls`` says how far it got).
    ``aggregation_output`` is what the workflow's ``aggregate`` returned (or
    the error that stopped it); ``score`` / ``score_error`` repeat it by
    kind. ``trace`` is the whole stored :class:`WorkflowTrace`; None only for
    an execution imported without one.
    """

    run_id: str
    case_key: str
    dataset_id: str
    case_id: str
    metric_id: str
    execution_id: str
    subject_kind: str | None = None
    status: Literal["completed", "failed"]
    judge_calls: list[JudgeCallRecord] = Field(default_factory=list)
    rendered_prompts: list[JSONValue] = Field(default_factory=list)
    judge_responses: list[JudgeResponse] = Field(default_factory=list)
    parsed_judgments: list[JSONValue] = Field(default_factory=list)
    scores: list[JSONValue] = Field(default_factory=list)
    failures: list[JudgeCallFailure] = Field(default_factory=list)
    aggregation_output: Score | ScoreError | None = None
    score: Score | None = None
    score_error: ScoreError | None = None
    trace: WorkflowTrace | None = None
    cached_from: str | None = None


def get_run_snapshot(store: RunStore, run_id: str) -> RunSnapshot:
    """Return the persisted snapshot for a run (reading never creates a store)."""
    snapshot = store.get_snapshot(run_id)
    if snapshot is None:
        known = [run.run_id for run in store.list_runs()][-5:]
        raise UnknownRunError(f"run {run_id!r} is not in {store!r}; recent runs: {known or 'none'}")
    return snapshot


def get_execution_state(store: RunStore, run_id: str) -> ExecutionState:
    """Return the persisted execution state for a run."""
    snapshot = get_run_snapshot(store, run_id)
    stored = store.resume(run_id)
    plans = plan_cases(snapshot)
    planned: dict[str, int] = defaultdict(int)
    for plan in plans:
        for stage in STAGES:
            planned[stage] += len(plan.keys_for(stage))
    counts: dict[str, Counter[str]] = {stage: Counter() for stage in STAGES}
    failures: list[WorkFailure] = []
    for item in store.work_items(run_id):
        counts[item.stage][item.state] += 1
        if item.state == "failed" and item.error:
            failures.append(
                WorkFailure(
                    case_key=item.case_key,
                    stage=item.stage,
                    work_key=item.work_key,
                    error=StageError.model_validate_json(item.error),
                )
            )
    stages = {
        stage: StageCounts(
            done=counts[stage]["done"],
            cached=counts[stage]["cached"],
            failed=counts[stage]["failed"],
            pending=max(
                planned[stage]
                - counts[stage]["done"]
                - counts[stage]["cached"]
                - counts[stage]["failed"],
                0,
            ),
        )
        for stage in STAGES
    }
    return ExecutionState(
        run_id=run_id,
        status=stored.status if stored else RunStatus.pending,
        completed_through_stage=stored.completed_through_stage if stored else None,
        stages=stages,
        failures=sorted(failures, key=lambda f: (f.case_key, STAGES.index(f.stage))),
    )


def load_run_result(store: RunStore, run_id: str) -> RunResult:
    """Rebuild a run's RunResult from its stored events."""
    snapshot = get_run_snapshot(store, run_id)
    events = list(store.iter_events(run_id))
    until = "judge"
    for event in events:
        if isinstance(event, RunStartedEvent):
            until = event.until_stage
    latest = latest_by_key(events)
    plans = plan_cases(snapshot)
    cases = [fold_case(plan, latest.get(plan.case_key, {}), until) for plan in plans]
    return build_run_result(
        run_id,
        cases,
        until,
        stage_counts(plans, latest),
        metric_ids=[ref.name for ref in snapshot.component_refs.metrics],
    )


def get_evaluation_execution(
    store: RunStore,
    run_id: str,
    case_id: str,
    metric_id: str,
    *,
    dataset_id: str | None = None,
    case_key: str | None = None,
) -> EvaluationExecution | None:
    """Return one stored workflow execution for a case and metric.

    Pass ``dataset_id`` or ``case_key`` when several datasets share ``case_id``.
    """
    snapshot = get_run_snapshot(store, run_id)
    if case_key is None:
        owners = [
            d.dataset_id
            for d in snapshot.datasets
            if (dataset_id is None or d.dataset_id == dataset_id)
            and any(c.case_id == case_id for c in d.cases)
        ]
        if len(owners) > 1:
            raise ConfigError(
                f"case_id {case_id!r} exists in datasets {owners}; pass dataset_id= or case_key="
            )
        if not owners:
            return None
        case_key = case_key_for(owners[0], case_id)
    found: EvaluationCompletedEvent | EvaluationFailedEvent | None = None
    for event in store.iter_events(run_id):
        if (
            isinstance(event, EvaluationCompletedEvent | EvaluationFailedEvent)
            and event.case_key == case_key
            and event.metric_id == metric_id
        ):
            found = event
    if found is None:
        return None
    return evaluation_execution(found)


def evaluation_execution(
    event: EvaluationCompletedEvent | EvaluationFailedEvent,
) -> EvaluationExecution:
    """The EvaluationExecution a stored evaluation event records."""
    trace = WorkflowTrace.model_validate(event.execution) if event.execution else None
    calls = trace.calls if trace is not None else []
    outcome: Score | ScoreError | None = (
        event.score if isinstance(event, EvaluationCompletedEvent) else event.score_error
    )
    failures = [JudgeCallFailure(call_id=c.call_id, error=c.error) for c in calls if c.error]
    if isinstance(outcome, ScoreError) and not failures:
        failures.append(JudgeCallFailure(call_id=None, error=outcome.reason))
    return EvaluationExecution(
        run_id=event.run_id,
        case_key=event.case_key,
        dataset_id=event.dataset_id,
        case_id=event.case_id,
        metric_id=event.metric_id,
        execution_id=event.event_id,
        subject_kind=trace.subject_kind if trace is not None else None,
        status="completed" if isinstance(event, EvaluationCompletedEvent) else "failed",
        judge_calls=list(calls),
        rendered_prompts=[c.prompt for c in calls],
        judge_responses=[
            JudgeResponse(
                text=c.response_text,
                token_usage=c.token_usage,
                raw=c.raw_response,
                model=c.judge_model_id,
            )
            for c in calls
            if c.response_text is not None
        ],
        parsed_judgments=[c.judgment for c in calls if c.error is None and c.judgment is not None],
        scores=[c.score for c in calls if c.error is None and c.score is not None],
        failures=failures,
        aggregation_output=outcome,
        score=outcome if isinstance(outcome, Score) else None,
        score_error=outcome if isinstance(outcome, ScoreError) else None,
        trace=trace,
        cached_from=event.cached_from,
    )


def quickcheck(store: RunStore, run_id: str) -> dict[str, JSONValue]:
    """A compact status summary: counts per stage, failures by category, metric means."""
    state = get_execution_state(store, run_id)
    snapshot = get_run_snapshot(store, run_id)
    counted = outcomes.stored_outcomes(store, snapshot)
    metric_ids = [ref.name for ref in snapshot.component_refs.metrics]
    categories = Counter(f.error.category for f in state.failures)
    return {
        "run_id": run_id,
        "status": state.status.value,
        "completed_through_stage": state.completed_through_stage,
        "stages": {stage: counts.model_dump() for stage, counts in state.stages.items()},
        "failures_by_category": dict(sorted(categories.items())),
        "metric_means": outcomes.means(counted),
        "metric_counts": {
            metric_id: counts.model_dump()
            for metric_id, counts in outcomes.metric_counts(counted, metric_ids).items()
        },
    }


def snapshot_report(
    snapshot: RunSnapshot, run_metadata: dict[str, JSONValue] | None = None
) -> dict[str, JSONValue]:
    """Return a JSON-serializable summary for a compiled snapshot."""
    refs = snapshot.component_refs
    report: dict[str, Any] = {
        "run_id": snapshot.run_id,
        "datasets": [
            {"dataset_id": d.dataset_id, "revision": d.revision, "cases": d.case_count}
            for d in snapshot.identity.datasets
        ],
        "components": [
            {
                "kind": ref.kind,
                "id": ref.component_id,
                "name": ref.name,
                "version": ref.version,
                "fingerprint": ref.fingerprint[:12],
                "distribution": ref.distribution,
            }
            for ref in refs.all()
        ],
        "seeds": snapshot.identity.seeds,
        "candidate_policy": snapshot.identity.candidate_policy,
        "provenance": snapshot.provenance.model_dump(mode="json"),
    }
    if run_metadata:
        report["run_metadata"] = run_metadata
    normalised: dict[str, JSONValue] = json.loads(json.dumps(report, default=str))
    return normalised

"""Incremental read models folded from events, one event at a time.

Both stores apply exactly these rows, in the same transaction as the event
itself, so a projection is never behind the events it is built from and never
needs a rebuild from the whole history.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from themis.core.models import RunStatus
from themis.core.storage.events import (
    CaseRunEvent,
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    GenerationFailedEvent,
    ParseFailedEvent,
    ReductionFailedEvent,
    RunCompletedEvent,
    RunEvent,
    RunFailedEvent,
    RunStartedEvent,
    ScoreCompletedEvent,
    ScoreFailedEvent,
)

_FAILED_TYPES = frozenset(
    {
        GenerationFailedEvent,
        ReductionFailedEvent,
        ParseFailedEvent,
        ScoreFailedEvent,
        EvaluationFailedEvent,
    }
)
_SCORE_TYPES = frozenset(
    {ScoreCompletedEvent, ScoreFailedEvent, EvaluationCompletedEvent, EvaluationFailedEvent}
)


@dataclass(frozen=True, slots=True)
class WorkItemRow:
    """Execution state of one work item of a run."""

    run_id: str
    stage: str
    work_key: str
    case_key: str
    state: str  # "done" | "cached" | "failed"
    error: str | None


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One metric outcome for one case: what reports and statistics read."""

    run_id: str
    case_key: str
    dataset_id: str
    case_id: str
    metric_id: str
    value: float | None
    outcome: str  # "scored" | "error"
    error_category: str | None
    error_message: str | None
    details: str


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    status: str
    completed_through_stage: str | None


@dataclass(frozen=True, slots=True)
class Projection:
    """The rows one event contributes; any of them may be absent."""

    work_item: WorkItemRow | None = None
    stage_result: bool = False
    score_row: ScoreRow | None = None
    run_row: RunRow | None = None


def project(event: RunEvent) -> Projection:
    """The projection rows for one newly appended event."""
    if isinstance(event, CaseRunEvent):
        failed = type(event) in _FAILED_TYPES
        error = event.__dict__.get("error")
        state = "failed" if failed else ("cached" if event.cached_from else "done")
        work_item = WorkItemRow(
            run_id=event.run_id,
            stage=event.stage,
            work_key=event.work_key,
            case_key=event.case_key,
            state=state,
            error=error.model_dump_json() if error is not None else None,
        )
        score_row = _score_row(event) if type(event) in _SCORE_TYPES else None
        return Projection(work_item=work_item, stage_result=not failed, score_row=score_row)
    if isinstance(event, RunStartedEvent):
        return Projection(run_row=RunRow(event.run_id, RunStatus.running.value, None))
    if isinstance(event, RunCompletedEvent):
        return Projection(
            run_row=RunRow(event.run_id, event.status.value, event.completed_through_stage)
        )
    if isinstance(event, RunFailedEvent):
        return Projection(run_row=RunRow(event.run_id, RunStatus.failed.value, None))
    return Projection()


def _score_row(event: CaseRunEvent) -> ScoreRow | None:
    if isinstance(event, ScoreCompletedEvent | EvaluationCompletedEvent):
        return ScoreRow(
            run_id=event.run_id,
            case_key=event.case_key,
            dataset_id=event.dataset_id,
            case_id=event.case_id,
            metric_id=event.metric_id,
            value=event.score.value,
            outcome="scored",
            error_category=None,
            error_message=None,
            details=_details_json(event.score.details),
        )
    if isinstance(event, ScoreFailedEvent | EvaluationFailedEvent):
        return ScoreRow(
            run_id=event.run_id,
            case_key=event.case_key,
            dataset_id=event.dataset_id,
            case_id=event.case_id,
            metric_id=event.metric_id,
            value=None,
            outcome="error",
            error_category=event.error.category,
            error_message=event.score_error.reason,
            details=_details_json(event.score_error.details),
        )
    return None


def _details_json(details: Any) -> str:
    """A score's details as strict JSON: NaN and infinity become null, as in
    the stored event (pydantic's JSON form), so the row reads back the same
    and reports built from it stay valid JSON (PostgreSQL's jsonb refuses them)."""
    return json.dumps(_finite(details), sort_keys=True, default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value

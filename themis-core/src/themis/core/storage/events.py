"""Typed run events: the only thing a store appends.

Every stage outcome is an event. Projections (run status, execution state,
score rows, the stage cache) are folded from events as they are appended, so
the cost of one append never grows with the size of a run.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import Field, TypeAdapter, ValidationError

from themis.core.errors import UnsupportedEventSchemaError as UnsupportedEventSchemaError
from themis.core.models import (
    FrozenModel,
    GenerationResult,
    JSONValue,
    ParsedOutput,
    ReducedCandidate,
    RunStatus,
    Score,
    ScoreError,
    StageError,
)

EVENT_SCHEMA_VERSION = 1
"""Bumped whenever a stored event's shape changes incompatibly."""


class RunEvent(FrozenModel):
    """Common fields of every stored event."""

    schema_version: int = EVENT_SCHEMA_VERSION
    event_id: str
    run_id: str
    created_at: float = Field(default_factory=time.time)


class RunStartedEvent(RunEvent):
    event_type: Literal["run_started"] = "run_started"
    until_stage: str
    mode: str = "run"


class RunCompletedEvent(RunEvent):
    event_type: Literal["run_completed"] = "run_completed"
    status: RunStatus
    completed_through_stage: str | None = None


class RunFailedEvent(RunEvent):
    event_type: Literal["run_failed"] = "run_failed"
    error: StageError


class BatchSubmittedEvent(RunEvent):
    """A provider batch (OpenAI's Batch API, say) a component submitted for this run.

    Committed before the component starts polling it, so that a process killed
    while it waits resumes polling the same batch rather than submitting, and
    paying for, the same requests again. ``custom_ids`` are the batch's lines:
    each is derived from the request (and the candidate that asked), so the
    resumed run finds its answer there. Provenance, never identity; no secret.
    """

    event_type: Literal["batch_submitted"] = "batch_submitted"
    component_id: str
    component_fingerprint: str
    batch_id: str
    input_file_id: str
    endpoint: str
    custom_ids: list[str]


class BatchFinishedEvent(RunEvent):
    """A submitted batch whose answers this run no longer waits for: imported as
    the cases' events (``status`` is the provider's final status), or
    ``superseded`` when the run finished without needing it."""

    event_type: Literal["batch_finished"] = "batch_finished"
    component_id: str
    component_fingerprint: str
    batch_id: str
    status: str


class RunSubmittedEvent(RunEvent):
    """A run handed to workers (``submit_experiment`` / ``themis submit``).

    ``recipe`` is what a worker needs to rebuild the experiment: the config
    mapping it was loaded from, or each component's entry-point id or
    importable class with its options. Never a secret: keys come from the
    worker's environment. The run's status stays ``pending`` until a worker
    starts it.
    """

    event_type: Literal["run_submitted"] = "run_submitted"
    recipe: dict[str, JSONValue]
    themis_version: str


class CaseRunEvent(RunEvent):
    """An event about one work item of one case."""

    stage: str
    case_key: str
    dataset_id: str
    case_id: str
    work_key: str
    cached_from: str | None = None


class GenerationCompletedEvent(CaseRunEvent):
    """Event emitted when candidate generation finishes for a case."""

    event_type: Literal["generation_completed"] = "generation_completed"
    stage: str = "generate"
    candidate: GenerationResult
    seed: int
    sample_index: int


class GenerationFailedEvent(CaseRunEvent):
    """Event emitted when candidate generation fails for a case."""

    event_type: Literal["generation_failed"] = "generation_failed"
    stage: str = "generate"
    error: StageError
    seed: int
    sample_index: int


class ReductionCompletedEvent(CaseRunEvent):
    """Event emitted when candidate reduction succeeds."""

    event_type: Literal["reduction_completed"] = "reduction_completed"
    stage: str = "reduce"
    reduced: ReducedCandidate
    selected_candidate_ids: list[str] = Field(default_factory=list)


class ReductionFailedEvent(CaseRunEvent):
    """Event emitted when candidate reduction fails."""

    event_type: Literal["reduction_failed"] = "reduction_failed"
    stage: str = "reduce"
    error: StageError


class ParseCompletedEvent(CaseRunEvent):
    """Event emitted when parsing a reduced candidate succeeds."""

    event_type: Literal["parse_completed"] = "parse_completed"
    stage: str = "parse"
    parsed_outputs: list[ParsedOutput]


class ParseFailedEvent(CaseRunEvent):
    """Event emitted when parsing a reduced candidate fails."""

    event_type: Literal["parse_failed"] = "parse_failed"
    stage: str = "parse"
    error: StageError


class ScoreCompletedEvent(CaseRunEvent):
    """Event emitted when a pure metric succeeds."""

    event_type: Literal["score_completed"] = "score_completed"
    stage: str = "score"
    metric_id: str
    score: Score


class ScoreFailedEvent(CaseRunEvent):
    """Event emitted when a pure metric produces an error payload."""

    event_type: Literal["score_failed"] = "score_failed"
    stage: str = "score"
    metric_id: str
    score_error: ScoreError
    error: StageError


class EvaluationCompletedEvent(CaseRunEvent):
    """Event emitted when a workflow-backed metric finishes."""

    event_type: Literal["evaluation_completed"] = "evaluation_completed"
    stage: str = "judge"
    metric_id: str
    score: Score
    execution: dict[str, JSONValue] = Field(default_factory=dict)


class EvaluationFailedEvent(CaseRunEvent):
    """Event emitted when a workflow-backed metric fails."""

    event_type: Literal["evaluation_failed"] = "evaluation_failed"
    stage: str = "judge"
    metric_id: str
    score_error: ScoreError
    error: StageError
    execution: dict[str, JSONValue] = Field(default_factory=dict)


AnyRunEvent = Annotated[
    RunStartedEvent
    | RunSubmittedEvent
    | RunCompletedEvent
    | RunFailedEvent
    | BatchSubmittedEvent
    | BatchFinishedEvent
    | GenerationCompletedEvent
    | GenerationFailedEvent
    | ReductionCompletedEvent
    | ReductionFailedEvent
    | ParseCompletedEvent
    | ParseFailedEvent
    | ScoreCompletedEvent
    | ScoreFailedEvent
    | EvaluationCompletedEvent
    | EvaluationFailedEvent,
    Field(discriminator="event_type"),
]

_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(cast(Any, AnyRunEvent))


@dataclass(frozen=True, slots=True)
class StageEvents:
    """The pair of events one stage records for each of its work items."""

    stage: str
    completed: type[CaseRunEvent]
    failed: type[CaseRunEvent]


STAGE_EVENTS: dict[str, StageEvents] = {
    entry.stage: entry
    for entry in (
        StageEvents("generate", GenerationCompletedEvent, GenerationFailedEvent),
        StageEvents("reduce", ReductionCompletedEvent, ReductionFailedEvent),
        StageEvents("parse", ParseCompletedEvent, ParseFailedEvent),
        StageEvents("score", ScoreCompletedEvent, ScoreFailedEvent),
        StageEvents("judge", EvaluationCompletedEvent, EvaluationFailedEvent),
    )
}
"""Stage name -> its completed and failed event classes: the one table of them."""


def _event_type(event_cls: type[CaseRunEvent]) -> str:
    return str(event_cls.model_fields["event_type"].default)


COMPLETED_EVENT_TYPES = frozenset(_event_type(e.completed) for e in STAGE_EVENTS.values())
FAILED_EVENT_TYPES = frozenset(_event_type(e.failed) for e in STAGE_EVENTS.values())


def event_from_dict(payload: dict[str, Any]) -> RunEvent:
    """Deserialize a stored event payload into the correct event model."""
    version = payload.get("schema_version", EVENT_SCHEMA_VERSION)
    if not isinstance(version, int) or version > EVENT_SCHEMA_VERSION:
        raise UnsupportedEventSchemaError(
            f"event {payload.get('event_id')!r} has schema_version {version!r}; this Themis "
            f"reads up to {EVENT_SCHEMA_VERSION}: upgrade themis-eval-core"
        )
    event: RunEvent = _EVENT_ADAPTER.validate_python(_repair_non_finite_score(payload))
    return event


def _repair_non_finite_score(payload: dict[str, Any]) -> dict[str, Any]:
    """Read a score stored without a value as the failure it was.

    Before non-finite scores were refused, a metric's NaN or infinity was
    stored as JSON ``null`` (pydantic's JSON form of a non-finite float), which
    no longer validates as a score: such a run could not be read back at all.
    It is read as the metric's failure instead, so every stored run reads.
    """
    event_type = payload.get("event_type")
    score = payload.get("score")
    if event_type not in ("score_completed", "evaluation_completed"):
        return payload
    if not isinstance(score, dict) or score.get("value") is not None:
        return payload
    metric_id = str(payload.get("metric_id", score.get("metric_id", "unknown")))
    reason = (
        f"metric {metric_id!r} returned a score that is not a finite number "
        f"(stored as null) for case {payload.get('case_key')!r}"
    )
    repaired = {key: value for key, value in payload.items() if key != "score"}
    repaired["event_type"] = event_type.replace("_completed", "_failed")
    repaired["score_error"] = {"metric_id": metric_id, "reason": reason}
    repaired["error"] = {
        "stage": payload.get("stage", "score"),
        "error_type": "NonFiniteScoreError",
        "message": reason,
        "work_key": payload.get("work_key"),
    }
    return repaired


def event_from_json(payload: str | bytes) -> RunEvent:
    """Deserialize one stored event from its JSON text (parsed in pydantic-core)."""
    try:
        event: RunEvent = _EVENT_ADAPTER.validate_json(payload)
    except ValidationError:
        return event_from_dict(json.loads(payload))  # a clearer error for newer schemas
    if event.schema_version > EVENT_SCHEMA_VERSION:
        return event_from_dict(event.model_dump())
    return event

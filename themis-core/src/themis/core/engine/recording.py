"""Event recording: every outcome of a run as the event that stores it.

Event ids are deterministic for a completed result (so appending it again is
a no-op) and unique for failures and forced replays (so they sit beside older
ones). Events go to the group-committing writer; ``stage_error`` says what a
failure was, in the categories the retry policy and the reports share.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any, Protocol, TypeVar

from themis.core.engine.plan import CasePlan
from themis.core.engine.policy import ATTEMPTS_ATTRIBUTE
from themis.core.engine.writer import EventWriter
from themis.core.errors import ErrorCategory, classify
from themis.core.models import ScoreError, StageError
from themis.core.observability.scrubbing import known_secrets, scrub_model
from themis.core.storage.events import CaseRunEvent, RunEvent

E = TypeVar("E", bound=CaseRunEvent)


class Replay(Protocol):
    """What the recorder needs of a replay (``reuse.ReplayScope``)."""

    @property
    def nonce(self) -> str: ...

    def forces(self, stage: str, metric_id: str | None = None) -> bool: ...


class ScoreErrorRaised(Exception):
    """Carries a metric's returned ScoreError through the failure path."""

    def __init__(self, error: ScoreError) -> None:
        super().__init__(error.reason)
        self.score_error = error


class EventRecorder:
    """Builds a run's events and hands them to its writer."""

    def __init__(self, run_id: str, writer: EventWriter) -> None:
        self.run_id = run_id
        self.writer = writer
        self.replay: Replay | None = None
        """Set when replaying: the results it forces are recorded under the
        replay's epoch rather than their stable id."""

    def event_id(self, event_type: str, work_key: str, *, fresh: bool, epoch: str = "") -> str:
        if fresh:
            epoch = uuid.uuid4().hex
        text = f"{self.run_id}|{event_type}|{work_key}|{epoch}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def emit(self, event: RunEvent) -> None:
        self.writer.submit(event)

    def completed(self, cls: type[E], plan: CasePlan, key: str, **payload: Any) -> E:
        """A stage's result, stable-id'd unless a replay forces its recomputation."""
        stage = cls.model_fields["stage"].default
        replay = self.replay
        forced = replay is not None and replay.forces(stage, payload.get("metric_id"))
        epoch = replay.nonce if forced and replay is not None else ""
        return self.case_event(cls, plan, key, fresh=False, epoch=epoch, **payload)

    def failed(
        self,
        cls: type[E],
        plan: CasePlan,
        key: str,
        exc: BaseException,
        component_id: str | None,
        **payload: Any,
    ) -> E:
        """A stage's failure, with its error (and, for metrics, its ScoreError)."""
        stage = cls.model_fields["stage"].default
        error = stage_error(stage, component_id, exc, key)
        if "score_error" in cls.model_fields and "score_error" not in payload:
            payload["score_error"] = ScoreError(
                metric_id=payload.get("metric_id", component_id or "unknown"),
                reason=f"{error.error_type}: {error.message}",
                retryable=error.retryable,
            )
        return self.case_event(cls, plan, key, fresh=True, error=error, **payload)

    def case_event(
        self,
        cls: type[E],
        plan: CasePlan,
        key: str,
        *,
        fresh: bool,
        epoch: str = "",
        **payload: Any,
    ) -> E:
        """Build and submit one case's stage event."""
        event_type = cls.model_fields["event_type"].default
        event = cls(
            event_id=self.event_id(event_type, key, fresh=fresh, epoch=epoch),
            run_id=self.run_id,
            case_key=plan.case_key,
            dataset_id=plan.dataset_id,
            case_id=plan.case.case_id,
            work_key=key,
            **payload,
        )
        if fresh or known_secrets():  # failures quote URLs and provider messages
            event = scrub_model(event)
        self.emit(event)
        return event


def stage_error(stage: str, component_id: str | None, exc: BaseException, key: str) -> StageError:
    """What went wrong in a stage, categorised for retries and reports."""
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

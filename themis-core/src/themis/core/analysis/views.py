"""Readable views of what happened to one case.

:class:`TraceView` shows a candidate's trace steps and conversation;
:class:`TimelineView` shows every stored stage event of a case in order:
generation, reduction, parsing, scoring and judging, with their outcome.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pydantic import Field

from themis.core.errors import ConfigError
from themis.core.models import (
    CaseResult,
    FrozenModel,
    GenerationResult,
    JSONValue,
    Message,
    TraceStep,
    case_key_for,
)
from themis.core.storage.events import (
    CaseRunEvent,
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    ParseCompletedEvent,
    ReductionCompletedEvent,
    ScoreCompletedEvent,
    ScoreFailedEvent,
)
from themis.core.storage.stores.base import RunStore


def _short(value: JSONValue, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TraceView(FrozenModel):
    """A candidate's trace steps and conversation, ready to print."""

    candidate_id: str
    steps: list[TraceStep] = Field(default_factory=list)
    messages: list[Message] = Field(default_factory=list)

    @classmethod
    def of(cls, candidate: GenerationResult) -> TraceView:
        return cls(
            candidate_id=candidate.candidate_id,
            steps=list(candidate.trace or []),
            messages=list(candidate.conversation or []),
        )

    @classmethod
    def for_case(cls, case: CaseResult) -> list[TraceView]:
        return [cls.of(candidate) for candidate in case.generated_candidates]

    def render(self) -> str:
        lines = [f"candidate {self.candidate_id}"]
        for number, step in enumerate(self.steps, start=1):
            lines.append(
                f"  {number:>2}. [{step.step_type}] {step.step_name}: "
                f"{_short(step.input)} -> {_short(step.output)}"
            )
        if self.messages:
            lines.append("  conversation:")
            lines.extend(f"    {m.role}: {_short(m.content, 120)}" for m in self.messages)
        return "\n".join(lines)


class TimelineEntry(FrozenModel):
    at: float
    stage: str
    status: str
    what: str
    summary: str
    cached_from: str | None = None


class TimelineView(FrozenModel):
    """Every stored stage event of one case, oldest first."""

    run_id: str
    case_key: str
    entries: list[TimelineEntry]

    @classmethod
    def from_store(
        cls,
        store: RunStore,
        run_id: str,
        case_id: str | None = None,
        *,
        dataset_id: str | None = None,
        case_key: str | None = None,
    ) -> TimelineView:
        if case_key is None:
            if case_id is None or dataset_id is None:
                raise ConfigError("pass case_key=, or case_id= together with dataset_id=")
            case_key = case_key_for(dataset_id, case_id)
        entries = [
            _entry(event)
            for event in store.iter_events(run_id)
            if isinstance(event, CaseRunEvent) and event.case_key == case_key
        ]
        return cls(run_id=run_id, case_key=case_key, entries=entries)

    def render(self) -> str:
        lines = [f"run {self.run_id} · case {self.case_key}"]
        for entry in self.entries:
            when = datetime.fromtimestamp(entry.at, UTC).strftime("%H:%M:%S.%f")[:-3]
            cached = f" (cached from {entry.cached_from})" if entry.cached_from else ""
            lines.append(
                f"{when}  {entry.stage:<8} {entry.status:<6} {entry.what}: {entry.summary}{cached}"
            )
        return "\n".join(lines)


def _entry(event: CaseRunEvent) -> TimelineEntry:
    failed = event.event_type.endswith("_failed")  # type: ignore[attr-defined]
    what, summary = event.event_type, ""  # type: ignore[attr-defined]
    if isinstance(event, GenerationCompletedEvent):
        what = f"candidate {event.candidate.candidate_id} (seed {event.seed})"
        summary = _short(event.candidate.final_output)
    elif isinstance(event, GenerationFailedEvent):
        what = f"candidate (seed {event.seed}, sample {event.sample_index})"
    elif isinstance(event, ReductionCompletedEvent):
        what = f"kept {event.reduced.candidate_id}"
        summary = _short(event.reduced.final_output)
    elif isinstance(event, ParseCompletedEvent):
        what = "parsed"
        summary = _short(event.parsed_outputs[-1].value)
    elif isinstance(event, ScoreCompletedEvent | EvaluationCompletedEvent):
        what = event.metric_id
        summary = f"{event.score.value:g}"
    elif isinstance(event, ScoreFailedEvent | EvaluationFailedEvent):
        what = event.metric_id
    error = getattr(event, "error", None)
    if error is not None:
        summary = f"{error.error_type}: {_short(error.message, 120)}"
    return TimelineEntry(
        at=event.created_at,
        stage=event.stage,
        status="failed" if failed else "ok",
        what=what,
        summary=summary,
        cached_from=event.cached_from,
    )

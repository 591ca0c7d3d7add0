"""Per-stage contexts handed to components.

Every context carries what a component needs about its case without reaching
into ``ctx.case``: ``case_id``, ``dataset_id``, ``case_key``, ``seed`` and the
case's ``metadata``; the select and reduce contexts add ``candidate_ids``, the
score context ``parsed_output``.

Contexts are plain frozen dataclasses rather than pydantic models: one is
built for every work item on the hot path, and they carry no user input that
needs validating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from themis.core.authoring.prompts import PromptSpec
from themis.core.models import Case, JSONValue, ParsedOutput


@dataclass(frozen=True, slots=True)
class GenerateContext:
    """What a generator knows about the candidate it is asked for.

    ``seed`` is the candidate's own seed (see ``CandidatePolicy``), never
    derived from the run id, so the same candidate is reproducible across
    runs; ``sample_index`` is the candidate's index within its case and
    ``base_seed`` the experiment seed its seed comes from. ``metadata`` is the
    case's metadata.
    """

    run_id: str
    dataset_id: str
    case_id: str
    case_key: str
    seed: int
    base_seed: int
    sample_index: int
    prompt_spec: PromptSpec | None = None
    metadata: dict[str, JSONValue] = field(default_factory=dict)


def _from_case(context: Any) -> None:
    """Fill what a context left empty from its case: the case id and metadata."""
    if not context.case_id:
        object.__setattr__(context, "case_id", context.case.case_id)
    if not context.metadata and context.case.metadata:
        object.__setattr__(context, "metadata", context.case.metadata)


@dataclass(frozen=True, slots=True)
class SelectContext:
    """What a selector knows about the case whose candidates it chooses from.

    ``candidate_ids`` are the ids of the candidates handed to it, in order;
    ``seed`` is the experiment's first seed (each candidate's own seed is on
    its GenerateContext); ``metadata`` is the case's metadata;
    ``judge_models`` the experiment's judge models, for a selector that asks
    a judge (they are part of the selection's work key).
    """

    run_id: str
    case: Case
    case_key: str
    dataset_id: str = ""
    case_id: str = ""
    seed: int | None = None
    candidate_ids: list[str] = field(default_factory=list)
    metadata: dict[str, JSONValue] = field(default_factory=dict)
    judge_models: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        _from_case(self)


@dataclass(frozen=True, slots=True)
class ReduceContext:
    """What a reducer knows about the case whose candidates it reduces.

    ``candidate_ids`` are the ids of the candidates handed to it (after the
    selector, when there is one), in order.
    """

    run_id: str
    case: Case
    case_key: str
    dataset_id: str = ""
    case_id: str = ""
    seed: int | None = None
    candidate_ids: list[str] = field(default_factory=list)
    metadata: dict[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _from_case(self)


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser knows about the case whose reduced candidate it parses."""

    run_id: str
    case: Case
    case_key: str
    dataset_id: str = ""
    case_id: str = ""
    seed: int | None = None
    metadata: dict[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _from_case(self)


@dataclass(frozen=True, slots=True)
class ScoreContext:
    """What a pure metric knows about the case it scores.

    ``parsed_output`` is the parsed output being scored (the same object the
    metric receives as its first argument).
    """

    run_id: str
    case: Case
    case_key: str
    dataset_id: str = ""
    case_id: str = ""
    seed: int | None = None
    parsed_output: ParsedOutput | None = None
    metadata: dict[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _from_case(self)


@dataclass(frozen=True, slots=True)
class EvalScoreContext:
    """What a judge-backed metric needs to build and run its workflow."""

    run_id: str
    case: Case
    case_key: str
    dataset_id: str
    metric_id: str
    judge_models: tuple[Any, ...] = ()
    workflow_overrides: dict[str, JSONValue] = field(default_factory=dict)
    judge_config: dict[str, JSONValue] = field(default_factory=dict)
    seed: int | None = None
    case_id: str = ""
    metadata: dict[str, JSONValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _from_case(self)

"""Per-stage contexts handed to components.

Contexts are plain frozen dataclasses rather than pydantic models: one is
built for every work item on the hot path, and they carry no user input that
needs validating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from themis.core.models import Case, JSONValue
from themis.core.prompts import PromptSpec


@dataclass(frozen=True, slots=True)
class GenerateContext:
    """What a generator knows about the candidate it is asked for.

    ``seed`` is derived from the experiment seed and the sample index, never
    from the run id, so the same candidate is reproducible across runs.
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


@dataclass(frozen=True, slots=True)
class SelectContext:
    run_id: str
    case: Case
    case_key: str


@dataclass(frozen=True, slots=True)
class ReduceContext:
    run_id: str
    case: Case
    case_key: str


@dataclass(frozen=True, slots=True)
class ParseContext:
    run_id: str
    case: Case
    case_key: str


@dataclass(frozen=True, slots=True)
class ScoreContext:
    run_id: str
    case: Case
    case_key: str
    dataset_id: str


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

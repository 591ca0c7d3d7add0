"""Components and experiments shared by the analysis tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import arithmetic_dataset, make_experiment
from themis import Experiment
from themis.builtins.generators import solve_arithmetic
from themis.core.authoring.prompts import case_input_text
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult


class GeneratorCalled(AssertionError):
    """A test generator was called where every candidate should have come from the store."""


class ReplayableGenerator:
    """Answers arithmetic. Its identity ignores ``explode``, so a copy that
    refuses to generate compiles to the same run and the same work keys."""

    component_id = "test/replayable"
    version = "1"

    def __init__(self, *, explode: bool = False, artifacts: dict[str, Any] | None = None) -> None:
        self.explode = explode
        self.artifacts = artifacts
        self.calls = 0

    def fingerprint(self) -> str:
        return "replayable-v1"

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        if self.explode:
            raise GeneratorCalled(f"generator called for {ctx.case_key}")
        self.calls += 1
        if case.case_id == "c1":  # one wrong answer, so scores are not all equal
            answer = "wrong"
        else:
            answer = solve_arithmetic(case_input_text(case.input)) or "unknown"
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.seed}",
            final_output={"answer": answer},
            artifacts=self.artifacts,
        )


def replayable_experiment(generator: ReplayableGenerator, **changes: Any) -> Experiment:
    fields: dict[str, Any] = {
        "generation": GenerationConfig(generator=generator, reducer="builtin/majority_vote"),
        "evaluation": EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/token_f1"],
            parsers=["builtin/json_identity"],
        ),
        "datasets": [arithmetic_dataset(count=5)],
    }
    fields.update(changes)
    return make_experiment(**fields)


def demo_experiment(error_rate: float, cases: int = 60, **changes: Any) -> Experiment:
    """builtin/demo_generator with ``error_rate``, scored by exact match."""
    fields: dict[str, Any] = {
        "generation": GenerationConfig(
            generator={"id": "builtin/demo_generator", "options": {"error_rate": error_rate}},
            reducer="builtin/majority_vote",
        ),
        "datasets": [arithmetic_dataset(count=cases)],
    }
    fields.update(changes)
    return make_experiment(**fields)


def judged_experiment(**changes: Any) -> Experiment:
    """Exact match plus builtin/llm_rubric graded by two demo judges."""
    fields: dict[str, Any] = {
        "evaluation": EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=["builtin/demo_judge", {"id": "builtin/demo_judge", "name": "second"}],
            workflow_overrides={"rubric": "pass if the answer is correct"},
        ),
        "datasets": [arithmetic_dataset(count=3)],
    }
    fields.update(changes)
    return make_experiment(**fields)

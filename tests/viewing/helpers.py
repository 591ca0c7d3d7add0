"""Stored runs with something to look at: judged cases, a failure with retries."""

from __future__ import annotations

from typing import Any

from tests.conftest import make_experiment
from themis import Experiment
from themis.builtins.generators import solve_arithmetic
from themis.core.authoring.prompts import case_input_text
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, Dataset, GenerationResult, TraceStep

FLAKY_CASE = "c2"
"""The case whose generator call fails once with a connection error, then works."""
BROKEN_CASE = "c3"
"""The case whose generator call always fails (three attempts, then a stored error)."""


class TalkativeGenerator:
    """Answers arithmetic in a sentence, with a two-step trace; ``wrong`` case ids
    get a wrong answer, FLAKY_CASE fails once, BROKEN_CASE always fails."""

    component_id = "test/talkative"
    version = "1"

    def __init__(self, wrong: tuple[str, ...] = ("c1",), model: str = "talker") -> None:
        self.wrong = wrong
        self.model = model
        self.failed_once: set[str] = set()

    def fingerprint(self) -> str:
        return f"talkative-{self.model}-{','.join(self.wrong)}"

    def options(self) -> dict[str, Any]:
        return {"model": self.model}

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        if case.case_id == BROKEN_CASE:
            raise ConnectionError(f"model server hung up on {ctx.case_key}")
        if case.case_id == FLAKY_CASE and ctx.case_key not in self.failed_once:
            self.failed_once.add(ctx.case_key)
            raise ConnectionError("connection reset by peer")
        answer = solve_arithmetic(case_input_text(case.input)) or "unknown"
        if case.case_id in self.wrong:
            answer = f"{answer}1"
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.seed}",
            final_output=f"The answer is {answer}, said {self.model}.",
            trace=[
                TraceStep(step_name="think", step_type="llm", input=case.input, output="adding"),
                TraceStep(step_name="answer", step_type="tool", input="adding", output=answer),
            ],
            token_usage={"input_tokens": 11, "output_tokens": 7},
            latency_ms=12.5,
            # Where the provider adapters record the model that answered.
            artifacts={"model": self.model},
        )


def talkative_experiment(generator: TalkativeGenerator, count: int = 5) -> Experiment:
    """Exact match plus builtin/llm_rubric judged by the demo judge, over ``count`` cases."""
    return make_experiment(
        generation=GenerationConfig(generator=generator, reducer="builtin/majority_vote"),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/number"],
            judge_models=["builtin/demo_judge"],
            workflow_overrides={"rubric": "pass if the answer equals the reference"},
        ),
        datasets=[arithmetic(count)],
        runtime=RuntimeConfig(max_retries=2, retry_initial_delay_s=0.0, retry_max_delay_s=0.0),
    )


def arithmetic(count: int, dataset_id: str = "arith") -> Dataset:
    """``count`` sums ``i+i`` with their answers as text."""
    return Dataset(
        dataset_id=dataset_id,
        cases=[
            Case(case_id=f"c{i}", input={"question": f"{i}+{i}"}, expected_output=str(2 * i))
            for i in range(count)
        ],
    )

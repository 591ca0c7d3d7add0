"""Every component call runs under a time limit: a hung component fails its case, not the run.

One component hangs on one case (sync: in its worker thread; async: an
awaitable that never finishes). The run must end soon after the limit, with
that case failed as a timeout naming the component, and every other case done.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, make_experiment
from themis import RuntimeConfig
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import (
    Case,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    RunStatus,
    Score,
)
from themis.core.workflows import JudgeCall, JudgeResponse

HUNG_CASE = "c1"
LIMIT_S = 0.3
RELEASE = threading.Event()
"""Set after each test, so that abandoned sync calls end and free their threads."""


@pytest.fixture(autouse=True)
def _release_hung_threads() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()


class Hanging:
    """Every component role at once; ``where`` names the one method that hangs
    on ``HUNG_CASE``, synchronously or asynchronously."""

    version = "1"
    metric_family = "llm"

    def __init__(self, where: str, mode: str) -> None:
        self.where = where
        self.mode = mode
        self.component_id = f"test/hang_{where}_{mode}"

    def fingerprint(self) -> str:
        return self.component_id

    async def _maybe_hang(self, method: str, case_id: str) -> None:
        if method != self.where or case_id != HUNG_CASE:
            return
        if self.mode == "sync":
            RELEASE.wait(30)  # blocks this worker thread, as a stuck C call would
        else:
            await asyncio.Event().wait()  # never set

    def _run(self, method: str, case_id: str) -> None:
        """Run the hang check from either a sync or an async method."""
        if method != self.where or case_id != HUNG_CASE:
            return
        if self.mode == "sync":
            RELEASE.wait(30)

    # -- generation-side roles, each sync or async by mode ------------------

    def select(self, candidates: list[GenerationResult], ctx: Any) -> Any:
        return self._dispatch("select", ctx.case.case_id, candidates)

    def reduce(self, candidates: list[GenerationResult], ctx: Any) -> Any:
        first = candidates[0]
        reduced = ReducedCandidate(
            candidate_id=first.candidate_id,
            source_candidate_ids=[c.candidate_id for c in candidates],
            final_output=first.final_output,
        )
        return self._dispatch("reduce", ctx.case.case_id, reduced)

    def parse(self, candidate: ReducedCandidate, ctx: Any) -> Any:
        parsed = ParsedOutput(value=candidate.final_output, format="json")
        return self._dispatch("parse", ctx.case.case_id, parsed)

    def score(self, parsed: ParsedOutput, case: Case, ctx: Any) -> Any:
        return self._dispatch("score", case.case_id, Score(metric_id="m", value=1.0))

    def _dispatch(self, method: str, case_id: str, value: Any) -> Any:
        if self.mode == "sync":
            self._run(method, case_id)
            return value

        async def later() -> Any:
            await self._maybe_hang(method, case_id)
            return value

        return later()

    # -- the judge-backed metric: its workflow and its judge ----------------

    def build_workflow(self, subject: Any, ctx: Any) -> Any:
        return self._dispatch("build_workflow", subject.case.case_id, Workflow(self))

    def judge(self, prompt: Any, *, seed: int | None = None) -> Any:
        return self._dispatch("judge", str(prompt), JudgeResponse(text="PASS"))


class Workflow:
    def __init__(self, owner: Hanging) -> None:
        self.owner = owner

    def judge_calls(self) -> list[JudgeCall]:
        return [JudgeCall(call_id="only")]

    def render_prompt(self, call: JudgeCall, subject: Any, ctx: Any) -> Any:
        return self.owner._dispatch("render_prompt", subject.case.case_id, subject.case.case_id)

    def parse_judgment(self, call: JudgeCall, response: Any, ctx: Any) -> Any:
        return self.owner._dispatch("parse_judgment", ctx.case.case_id, {"verdict": "pass"})

    def score_judgment(self, call: JudgeCall, judgment: Any, ctx: Any) -> Any:
        return self.owner._dispatch("score_judgment", ctx.case.case_id, 1.0)

    def aggregate(self, judgments: list[Any], scores: list[Any], ctx: Any) -> Any:
        return self.owner._dispatch("aggregate", ctx.case.case_id, 1.0)


class PureMetric:
    """The pure-metric face of a Hanging component (its family says "pure")."""

    version = "1"
    metric_family = "pure"

    def __init__(self, hanging: Hanging) -> None:
        self.hanging = hanging
        self.component_id = hanging.component_id + "_metric"

    def fingerprint(self) -> str:
        return self.component_id

    def score(self, parsed: ParsedOutput, case: Case, ctx: Any) -> Any:
        return self.hanging.score(parsed, case, ctx)


WHERE = [
    "select",
    "reduce",
    "parse",
    "score",
    "build_workflow",
    "render_prompt",
    "judge",
    "parse_judgment",
    "score_judgment",
    "aggregate",
]


def experiment_for(where: str, mode: str) -> Any:
    hanging = Hanging(where, mode)
    judged = where in WHERE[4:]
    return make_experiment(
        generation=GenerationConfig(
            generator="builtin/demo_generator", selector=hanging, reducer=hanging
        ),
        evaluation=EvaluationConfig(
            parsers=[hanging],
            metrics=[hanging if judged else PureMetric(hanging)],
            judge_models=[hanging] if judged else [],
        ),
        datasets=[arithmetic_dataset(count=4)],
    )


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("where", WHERE)
def test_a_hung_component_fails_its_case_as_a_timeout(where: str, mode: str) -> None:
    started = time.monotonic()
    result = experiment_for(where, mode).run(
        runtime=RuntimeConfig(task_timeout_s=LIMIT_S, max_retries=0, progress="off")
    )
    elapsed = time.monotonic() - started

    assert elapsed < LIMIT_S + 3
    by_case = {case.case_id: case for case in result.cases}
    hung = by_case.pop(HUNG_CASE)
    assert hung.status is RunStatus.failed
    assert all(case.status is RunStatus.completed for case in by_case.values()), [
        c.errors for c in by_case.values()
    ]
    assert result.status is RunStatus.partial_failure
    message = " ".join(e.message for e in hung.errors) + " ".join(
        e.reason for e in hung.score_errors
    )
    assert "within 0.3s" in message, message
    assert {e.category for e in hung.errors} == {"timeout"}, hung.errors


def test_the_default_limit_applies_when_task_timeout_is_unset() -> None:
    runtime = RuntimeConfig(component_timeout_s=LIMIT_S, progress="off")
    result = experiment_for("parse", "sync").run(runtime=runtime)
    hung = next(case for case in result.cases if case.case_id == HUNG_CASE)
    assert hung.errors[0].category == "timeout"
    assert RuntimeConfig().component_timeout_s == 300.0

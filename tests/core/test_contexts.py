"""Every stage context says which case it is about, as the reference's contexts do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.helpers import themis
from tests.conftest import make_experiment
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.contexts import (
    GenerateContext,
    ParseContext,
    ReduceContext,
    ScoreContext,
    SelectContext,
)
from themis.core.models import (
    Case,
    Dataset,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    RunStatus,
    Score,
)

CASE_FIELDS = ("case_id", "dataset_id", "case_key", "seed", "metadata")


class Recorder:
    """Generator, selector, reducer, parser and metric at once, reading only ctx."""

    component_id = "test/context_recorder"
    version = "1"

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, Any]] = {}

    def fingerprint(self) -> str:
        return "context-recorder"

    def _record(self, stage: str, ctx: Any, *extra: str) -> None:
        self.seen[stage] = {name: getattr(ctx, name) for name in (*CASE_FIELDS, *extra)}

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        self._record("generate", ctx, "sample_index")
        return GenerationResult(
            candidate_id=f"{ctx.case_id}-{ctx.sample_index}", final_output={"answer": "4"}
        )

    async def select(
        self, candidates: list[GenerationResult], ctx: SelectContext
    ) -> list[GenerationResult]:
        self._record("select", ctx, "candidate_ids")
        return candidates[:1]

    async def reduce(
        self, candidates: list[GenerationResult], ctx: ReduceContext
    ) -> ReducedCandidate:
        self._record("reduce", ctx, "candidate_ids")
        return ReducedCandidate(
            candidate_id=f"{ctx.case_id}-reduced",
            source_candidate_ids=list(ctx.candidate_ids),
            final_output=candidates[0].final_output,
        )

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        self._record("parse", ctx)
        return ParsedOutput(value=candidate.final_output, format="json")

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score:
        self._record("score", ctx, "parsed_output")
        return Score(metric_id="m", value=float(parsed.value == case.expected_output))


def test_every_stage_context_carries_the_case_without_reaching_into_it() -> None:
    recorder = Recorder()
    case = Case(
        case_id="q1",
        input={"question": "2+2"},
        expected_output={"answer": "4"},
        metadata={"subject": "arithmetic"},
    )
    experiment = make_experiment(
        generation=GenerationConfig(
            generator=recorder,
            selector=recorder,
            reducer=recorder,
            candidate_policy={"num_samples": 2},  # type: ignore[arg-type]
        ),
        evaluation=EvaluationConfig(metrics=[recorder], parsers=[recorder]),
        datasets=[Dataset(dataset_id="ds", cases=[case])],
        seeds=[7],
    )
    result = experiment.run()
    assert result.status is RunStatus.completed, result.cases[0].errors
    case_key = result.cases[0].case_key
    for stage in ("select", "reduce", "parse", "score"):
        seen = recorder.seen[stage]
        assert seen["case_id"] == "q1", stage
        assert seen["dataset_id"] == "ds", stage
        assert seen["case_key"] == case_key, stage
        assert seen["seed"] == 7, stage
        assert seen["metadata"] == {"subject": "arithmetic"}, stage
    assert recorder.seen["generate"]["metadata"] == {"subject": "arithmetic"}
    assert recorder.seen["select"]["candidate_ids"] == ["q1-0", "q1-1"]
    assert recorder.seen["reduce"]["candidate_ids"] == ["q1-0"]  # after the selector
    assert recorder.seen["score"]["parsed_output"] == ParsedOutput(
        value={"answer": "4"}, format="json"
    )


def test_a_context_built_by_hand_fills_its_case_fields_from_the_case() -> None:
    case = Case(case_id="c", input="x", metadata={"k": 1})
    ctx = ReduceContext("r", case, "d::c")
    assert (ctx.case_id, ctx.metadata, ctx.candidate_ids) == ("c", {"k": 1}, [])
    assert ScoreContext("r", case, "d::c", "d").case_id == "c"


REDUCER_MODULE = """
from themis.core.models import ReducedCandidate


class CaseAwareReducer:
    component_id = "project/case_aware"
    version = "1"

    def fingerprint(self):
        return "case-aware"

    def reduce(self, candidates, ctx):
        return ReducedCandidate(
            candidate_id=f"{ctx.dataset_id}/{ctx.case_id}",
            source_candidate_ids=list(ctx.candidate_ids),
            final_output=candidates[0].final_output,
            metadata={"seed": ctx.seed, "tags": ctx.metadata},
        )
"""


def test_a_reducer_reading_ctx_case_id_completes_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "reducers.py").write_text(REDUCER_MODULE)
    (tmp_path / "e.yaml").write_text(
        "generation: {generator: builtin/demo_generator,\n"
        "  reducer: 'python:reducers:CaseAwareReducer'}\n"
        "evaluation: {parsers: [builtin/number], metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: {question: '2+2'}, "
        "expected_output: '4', metadata: {level: 1}}]}]\n"
        "seeds: [3]\n"
    )
    done = themis("run", "--config", "e.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"status": "completed"' in done.stdout

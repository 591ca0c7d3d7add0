"""Models are frozen, forbid unknown fields, and round-trip through JSON;
builtins satisfy the runtime-checkable protocols."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from tests.conftest import make_experiment
from themis.builtins.generators import DemoGenerator
from themis.builtins.judges import DemoJudge, LLMRubric
from themis.builtins.metrics import ExactMatch
from themis.builtins.parsers import JsonIdentity
from themis.builtins.reducers import MajorityVote
from themis.core import protocols
from themis.core.authoring.prompts import PromptSpec
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig, StorageConfig
from themis.core.models import (
    Case,
    CaseResult,
    Dataset,
    GenerationResult,
    Message,
    ParsedOutput,
    ReducedCandidate,
    RunStatus,
    Score,
    ScoreError,
    TraceStep,
)

SAMPLES: list[BaseModel] = [
    Case(case_id="c", input={"q": [1, 2]}, expected_output="x", metadata={"k": 1}),
    Dataset(dataset_id="d", cases=[Case(case_id="c", input="x")], revision="abc"),
    GenerationResult(
        candidate_id="g",
        final_output={"answer": "4"},
        trace=[TraceStep(step_name="s", step_type="tool", input=1, output=2, timestamp=1.5)],
        conversation=[Message(role="user", content="hi")],
        artifacts={"response_id": "r"},
        token_usage={"input_tokens": 3},
        latency_ms=1.25,
    ),
    ReducedCandidate(candidate_id="g", source_candidate_ids=["g"], final_output=4),
    ParsedOutput(value=[1, "a"], format="json"),
    Score(metric_id="m", value=0.5, details={"x": 1}),
    ScoreError(metric_id="m", reason="why", retryable=True),
    CaseResult(case_key="d::c", dataset_id="d", case_id="c", status=RunStatus.failed),
    PromptSpec(instructions="i", prefix="p", suffix="s", blocks=[{"content": "b"}]),
    GenerationConfig(generator="builtin/demo_generator", candidate_policy={"num_samples": 2}),
    EvaluationConfig(metrics=["builtin/exact_match"], judge_config={"aggregation": "mean"}),
    StorageConfig(store="sqlite", path="x.sqlite"),
    RuntimeConfig(max_concurrent_tasks=3),
]


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_json_round_trip(model: BaseModel) -> None:
    assert type(model).model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize("model", SAMPLES, ids=lambda m: type(m).__name__)
def test_frozen(model: BaseModel) -> None:
    field = next(iter(type(model).model_fields))
    with pytest.raises(ValidationError):
        setattr(model, field, None)


def test_snapshot_round_trips() -> None:
    snapshot = make_experiment().compile()
    again = type(snapshot).model_validate_json(snapshot.model_dump_json())
    assert again == snapshot and again.run_id == snapshot.run_id


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        Case(case_id="c", input="x", expectd_output="typo")  # type: ignore[call-arg]


def test_builtins_satisfy_their_protocols() -> None:
    assert isinstance(DemoGenerator(), protocols.Generator)
    assert isinstance(MajorityVote(), protocols.CandidateReducer)
    assert isinstance(JsonIdentity(), protocols.Parser)
    assert isinstance(ExactMatch(), protocols.PureMetric)
    assert isinstance(LLMRubric(), protocols.LLMMetric)
    assert isinstance(DemoJudge(), protocols.JudgeModel)
    assert not isinstance(ExactMatch(), protocols.Generator)

"""The component SDK: every kind has a base, the fingerprint derives from id,
version and the component's own configuration, and builtins use it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from themis import components
from themis.builtins._base import BuiltinComponent
from themis.core import protocols
from themis.core.authoring import registry
from themis.core.authoring.identity import content_hash
from themis.core.models import GenerationResult, ParsedOutput, ReducedCandidate, Score


@dataclass
class Threshold(components.Metric):
    component_id = "test/threshold"
    version = "2"
    at: float = 0.5
    client: Any = field(default=None, metadata={"identity": False})

    def score(self, parsed: Any, case: Any, ctx: Any) -> Score:
        return Score(metric_id=self.component_id, value=float(float(parsed.value) >= self.at))


@dataclass
class Configured(components.Parser):
    component_id = "test/configured"
    version = "1"
    strip: bool = True

    def parse(self, candidate: ReducedCandidate, ctx: Any) -> ParsedOutput:
        return ParsedOutput(value=candidate.final_output)


class Handwritten(components.Reducer):
    """Not a dataclass: it says its options itself."""

    component_id = "test/handwritten"

    def __init__(self, keep: int) -> None:
        self.keep = keep

    def options(self) -> dict[str, Any]:
        return {"keep": self.keep}

    def reduce(self, candidates: Any, ctx: Any) -> Any:
        return candidates[0]


def test_a_dataclass_components_fingerprint_follows_its_fields() -> None:
    assert Threshold().fingerprint() == Threshold(at=0.5).fingerprint()
    assert Threshold(at=0.7).fingerprint() != Threshold().fingerprint()
    # A field marked identity=False (a client) does not change results, nor the fingerprint.
    assert Threshold(client=object()).fingerprint() == Threshold().fingerprint()
    expected = {"id": "test/threshold", "version": "2", "options": {"at": 0.5}}
    assert Threshold().fingerprint() == content_hash(expected)


def test_the_version_and_the_id_are_part_of_the_fingerprint() -> None:
    @dataclass
    class Newer(Threshold):
        version = "3"

    @dataclass
    class Renamed(Threshold):
        component_id = "test/renamed"

    fingerprints = {Threshold().fingerprint(), Newer().fingerprint(), Renamed().fingerprint()}
    assert len(fingerprints) == 3


def test_a_component_that_is_not_a_dataclass_says_its_options_itself() -> None:
    assert Handwritten(1).fingerprint() != Handwritten(2).fingerprint()
    assert Handwritten(1).fingerprint() == Handwritten(1).fingerprint()
    assert components.Component().options() == {}


def test_each_base_meets_its_kinds_contract() -> None:
    class Gen(components.Generator):
        component_id = "t/gen"

        async def generate(self, case: Any, ctx: Any) -> GenerationResult:
            return GenerationResult(candidate_id="c", final_output="x")

    class Sel(components.Selector):
        def select(self, candidates: Any, ctx: Any) -> Any:
            return candidates

    class Red(components.Reducer):
        def reduce(self, candidates: Any, ctx: Any) -> Any:
            return candidates[0]

    class Judge(components.JudgeModel):
        def judge(self, prompt: Any, *, seed: int | None = None) -> Any:
            return "yes"

    class Rubric(components.JudgeBackedMetric):
        def build_workflow(self, subject: Any, ctx: Any) -> Any:
            raise NotImplementedError

    built = {
        "generator": Gen(),
        "selector": Sel(),
        "reducer": Red(),
        "parser": Configured(),
        "metric": Threshold(),
        "judge": Judge(),
    }
    for kind, component in built.items():
        assert any(isinstance(component, c) for c in registry.CONTRACTS[kind]), kind
    assert isinstance(Rubric(), protocols.JudgeBackedMetric)
    assert Rubric().metric_family == "llm"


def test_a_base_without_its_method_cannot_be_built() -> None:
    class Incomplete(components.Metric):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()  # type: ignore[abstract]


def test_the_builtins_are_written_against_the_sdk() -> None:
    assert BuiltinComponent is components.Component
    metric, _ = registry.resolve("metric", "builtin/exact_match", where="t")
    assert isinstance(metric, components.Component)


def test_the_three_judge_backed_families_share_one_contract() -> None:
    assert protocols.LLMMetric is protocols.SelectionMetric is protocols.TraceMetric
    assert protocols.LLMMetric is protocols.JudgeBackedMetric

"""Every installed benchmark validates offline; a broken one is reported."""

from __future__ import annotations

import pytest

from themis import catalog
from themis.benchmark import BenchmarkSpec
from themis_catalog import discovery


@pytest.mark.parametrize("name", catalog.list_benchmark_ids())
def test_every_benchmark_validates(name: str) -> None:
    result = catalog.validate_benchmark(name)
    assert result.ok, result.problems
    names = [check.name for check in result.checks]
    assert names[0] == "definition"
    assert any(n.startswith("sample[") for n in names)
    assert any(n.startswith("reference answers[") for n in names)


def test_judge_scored_validation_says_the_demo_judge_graded_it() -> None:
    result = catalog.validate_benchmark("simpleqa")
    assert result.ok
    assert any("builtin/demo_judge" in note and "not a grader" in note for note in result.notes)


def test_an_unknown_benchmark_fails_its_definition_check() -> None:
    result = catalog.validate_benchmark("no_such_benchmark")
    assert not result.ok
    assert result.checks[0].name == "definition" and "unknown benchmark" in result.checks[0].detail


def test_a_benchmark_whose_reference_answers_do_not_score_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = discovery.load_spec

    def miswired(benchmark_id: str) -> tuple[BenchmarkSpec, object]:
        spec, info = real(benchmark_id)
        # Answer with the question instead of its reference answer.
        records = spec.records.model_copy(update={"reference_field": "question"})
        return spec.model_copy(update={"records": records}), info

    monkeypatch.setattr(discovery, "load_spec", miswired)
    result = catalog.validate_benchmark("gsm8k:direct")
    assert not result.ok
    [problem] = result.problems
    assert problem.name == "reference answers[direct]"
    assert "gsm8k/main::0: accuracy = 0.0" in problem.detail

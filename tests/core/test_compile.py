"""Compile: component refs, a stable run id, and what changes it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.conftest import REPO_ROOT, arithmetic_dataset, make_experiment
from themis import Experiment, PromptSpec
from themis.core.authoring.config_files import ConfigError
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig, StorageConfig
from themis.core.models import Case, Dataset


def test_snapshot_holds_a_ref_for_every_component() -> None:
    snapshot = make_experiment().compile()
    refs = snapshot.component_refs
    assert refs.generator.component_id == "builtin/demo_generator"
    assert refs.generator.kind == "generator"
    assert refs.generator.distribution == "themis-eval-core"
    assert refs.generator.entry_point == "themis.builtins.generators:DemoGenerator"
    assert len(refs.generator.fingerprint) == 64
    assert refs.reducer.component_id == "builtin/majority_vote"
    assert [r.component_id for r in refs.parsers] == ["builtin/json_identity"]
    assert [r.component_id for r in refs.metrics] == ["builtin/exact_match"]


def test_same_experiment_same_run_id_in_a_fresh_interpreter() -> None:
    code = textwrap.dedent(
        """
        from tests.conftest import make_experiment
        print(make_experiment().compile().run_id)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert out.stdout.strip() == make_experiment().compile().run_id


BASE = make_experiment()


def _with(model: Any, **changes: object) -> Any:
    """A validated copy of ``model`` with ``changes``."""
    return type(model).model_validate({**model.model_dump(), **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"seeds": [8]},
        {"datasets": [arithmetic_dataset(count=5)]},
        {"datasets": [arithmetic_dataset(dataset_id="other")]},
        {
            "datasets": [
                Dataset(
                    dataset_id="arith",
                    revision="v2",
                    cases=arithmetic_dataset().cases,
                )
            ]
        },
        {"generation": _with(BASE.generation, candidate_policy={"num_samples": 3})},
        {"generation": _with(BASE.generation, prompt_spec=PromptSpec(prefix="Q:"))},
        {"generation": _with(BASE.generation, reducer="builtin/first_candidate")},
        {
            "generation": _with(
                BASE.generation,
                generator={"id": "builtin/demo_generator", "options": {"error_rate": 0.1}},
            )
        },
        {"evaluation": _with(BASE.evaluation, metrics=["builtin/contains"])},
        {"evaluation": _with(BASE.evaluation, parsers=["builtin/number"])},
        {"evaluation": _with(BASE.evaluation, judge_config={"parse_retries": 2})},
        {"evaluation": _with(BASE.evaluation, workflow_overrides={"rubric": "x"})},
    ],
    ids=lambda changes: ",".join(changes),
)
def test_each_identity_bearing_field_changes_the_run_id(changes: dict[str, object]) -> None:
    assert make_experiment(**changes).compile().run_id != BASE.compile().run_id


def test_runtime_and_storage_do_not_change_the_run_id(tmp_path: Path) -> None:
    changed = make_experiment(
        runtime=RuntimeConfig(max_concurrent_tasks=2, max_retries=9, progress="off"),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "x.sqlite")),
        environment_metadata={"host": "elsewhere"},
    )
    assert changed.compile().run_id == BASE.compile().run_id


def test_duplicate_case_ids_in_a_dataset_fail_with_where() -> None:
    case = Case(case_id="same", input={"question": "1+1"})
    with pytest.raises(ValidationError, match="duplicate case_id 'same' at cases\\[1\\]"):
        Dataset(dataset_id="d", cases=[case, case])


def test_duplicate_dataset_ids_fail() -> None:
    with pytest.raises(ValidationError, match="duplicate dataset_id 'arith'"):
        make_experiment(datasets=[arithmetic_dataset(), arithmetic_dataset()])


def test_two_datasets_may_share_case_ids() -> None:
    result = make_experiment(
        datasets=[arithmetic_dataset("a", 2), arithmetic_dataset("b", 2)]
    ).run()
    assert sorted(case.case_key for case in result.cases) == ["a::c0", "a::c1", "b::c0", "b::c1"]


def test_typo_in_config_key_is_an_error_with_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        EvaluationConfig(metrics=["builtin/exact_match"], parsrs=["x"])  # type: ignore[call-arg]
    assert "parsrs" in str(info.value)
    with pytest.raises(ValidationError, match="num_samples"):
        GenerationConfig(generator="builtin/demo_generator", candidate_policy={"num_samples": 0})  # type: ignore[arg-type]


YAML_CONFIG = """
seeds: [3]
generation:
  generator: builtin/demo_generator
  candidate_policy: {num_samples: 1}
evaluation:
  metrics: [builtin/exact_match]
  parsers: [builtin/json_identity]
datasets:
  - dataset_id: inline
    cases:
      - {case_id: a, input: {question: "1+2"}, expected_output: {answer: "3"}}
  - dataset_id: fromfile
    path: cases.jsonl
"""

TOML_CONFIG = """
seeds = [3]
[generation]
generator = "builtin/demo_generator"
candidate_policy = { num_samples = 1 }
[evaluation]
metrics = ["builtin/exact_match"]
parsers = ["builtin/json_identity"]
[[datasets]]
dataset_id = "inline"
cases = [{ case_id = "a", input = { question = "1+2" }, expected_output = { answer = "3" } }]
[[datasets]]
dataset_id = "fromfile"
path = "cases.jsonl"
"""


@pytest.mark.parametrize("name,text", [("e.yaml", YAML_CONFIG), ("e.toml", TOML_CONFIG)])
def test_from_config_yaml_and_toml_with_overrides(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / "cases.jsonl").write_text(
        '{"case_id": "b", "input": {"question": "5*5"}, "expected_output": "25"}\n'
    )
    path = tmp_path / name
    path.write_text(text)
    experiment = Experiment.from_config(path)
    assert [d.dataset_id for d in experiment.datasets] == ["inline", "fromfile"]
    result = experiment.run()
    assert result.metric_means == {"builtin/exact_match": 1.0}
    overridden = Experiment.from_config(
        path, overrides=["generation.candidate_policy.num_samples=3", "seeds=[1, 2, 3]"]
    )
    assert overridden.generation.candidate_policy.num_samples == 3
    assert overridden.seeds == [1, 2, 3]
    assert overridden.compile().run_id != experiment.compile().run_id


def test_yaml_and_toml_of_the_same_experiment_share_a_run_id(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text('{"case_id": "b", "input": {"question": "5*5"}}\n')
    (tmp_path / "e.yaml").write_text(YAML_CONFIG)
    (tmp_path / "e.toml").write_text(TOML_CONFIG)
    yaml_id = Experiment.from_config(tmp_path / "e.yaml").compile().run_id
    assert Experiment.from_config(tmp_path / "e.toml").compile().run_id == yaml_id


def test_invalid_config_names_the_field_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(YAML_CONFIG.replace("num_samples: 1", "num_samples: -1"))
    (tmp_path / "cases.jsonl").write_text('{"case_id": "b", "input": "x"}\n')
    with pytest.raises(ConfigError) as info:
        Experiment.from_config(path)
    assert "generation.candidate_policy.num_samples" in str(info.value)
    assert "greater than or equal to 1" in str(info.value)


def test_unknown_component_in_config_fails_at_compile_with_where(tmp_path: Path) -> None:
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=["builtin/exact_match", "builtin/nope"])
    )
    with pytest.raises(
        LookupError, match=r"evaluation\.metrics\[1\]: unknown metric 'builtin/nope'"
    ):
        experiment.compile()


def test_bad_override_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(YAML_CONFIG)
    (tmp_path / "cases.jsonl").write_text('{"case_id": "b", "input": "x"}\n')
    with pytest.raises(ConfigError, match=r"expected dotted\.key=value"):
        Experiment.from_config(path, overrides=["generation.generator"])

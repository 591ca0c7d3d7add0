"""Seed 004's spec models: frozen, strict about keys, loadable from YAML and TOML."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

import themis.specs.experiment as experiment_module
import themis.specs.foundational as foundational_module
from themis.core.config import RuntimeConfig
from themis.specs import (
    DatasetSpec,
    ExecutionPolicySpec,
    GenerationSpec,
    InferenceGridSpec,
    InferenceParamsSpec,
    JudgeInferenceSpec,
    ModelSpec,
    PostgresBlobStorageSpec,
    ProjectSpec,
    PromptMessage,
    SqliteBlobStorageSpec,
    StorageConfig,
)

PROJECT_YAML = """
project_name: sweep
researcher_id: alice
global_seed: 7
storage:
  backend: postgres_blob
  database_url: postgresql://themis@127.0.0.1:5432/evals
  blob_root_dir: /srv/themis/blobs
execution_policy:
  max_retries: 5
  retry_backoff_factor: 0.25
  circuit_breaker_threshold: 3
  max_in_flight_work_items: 8
  retryable_error_codes: [not_found]
metadata: {team: evals}
"""

PROJECT_TOML = """
project_name = "sweep"
researcher_id = "alice"

[storage]
backend = "sqlite_blob"
root_dir = "runs"
"""


def test_the_seed_import_paths_hold_the_same_classes() -> None:
    assert experiment_module.ProjectSpec is ProjectSpec
    assert experiment_module.InferenceGridSpec is InferenceGridSpec
    assert experiment_module.PromptMessage is PromptMessage
    assert experiment_module.StorageConfig is StorageConfig
    assert foundational_module.ModelSpec is ModelSpec
    assert foundational_module.JudgeInferenceSpec is JudgeInferenceSpec
    assert foundational_module.DatasetSpec is DatasetSpec
    assert foundational_module.GenerationSpec is GenerationSpec


def test_a_project_loads_from_yaml_with_the_storage_union_told_apart_by_backend() -> None:
    project = ProjectSpec.model_validate(yaml.safe_load(PROJECT_YAML))
    assert isinstance(project.storage, PostgresBlobStorageSpec)
    assert project.storage.blob_root_dir == "/srv/themis/blobs"
    assert project.global_seed == 7
    assert project.execution_policy.max_in_flight_work_items == 8

    toml_project = ProjectSpec.model_validate(tomllib.loads(PROJECT_TOML))
    assert isinstance(toml_project.storage, SqliteBlobStorageSpec)
    assert toml_project.storage.database_path == "runs/themis.sqlite"
    assert toml_project.storage.blob_root == "runs/blobs"
    assert toml_project.execution_policy == ExecutionPolicySpec()


def test_the_storage_union_validates_on_its_own() -> None:
    adapter: TypeAdapter[SqliteBlobStorageSpec | PostgresBlobStorageSpec] = TypeAdapter(
        StorageConfig
    )
    assert isinstance(
        adapter.validate_python({"backend": "sqlite_blob", "root_dir": "x"}), SqliteBlobStorageSpec
    )
    with pytest.raises(ValidationError, match=r"sqlite_blob.*postgres_blob"):
        adapter.validate_python({"backend": "mysql", "root_dir": "x"})
    with pytest.raises(ValidationError, match="database_url"):
        adapter.validate_python({"backend": "postgres_blob", "blob_root_dir": "b"})
    with pytest.raises(ValidationError, match="PostgreSQL URL"):
        adapter.validate_python(
            {"backend": "postgres_blob", "database_url": "mysql://x", "blob_root_dir": "b"}
        )


def test_unknown_keys_are_errors_naming_their_path() -> None:
    data = yaml.safe_load(PROJECT_YAML)
    data["execution_policy"]["max_retry"] = 2
    with pytest.raises(ValidationError) as caught:
        ProjectSpec.model_validate(data)
    assert caught.value.errors()[0]["loc"] == ("execution_policy", "max_retry")
    with pytest.raises(ValidationError, match="temprature"):
        InferenceParamsSpec.model_validate({"temprature": 0.5})


def test_specs_are_frozen_and_fingerprinted() -> None:
    params = InferenceParamsSpec(temperature=0.5)
    with pytest.raises(ValidationError):
        params.temperature = 1.0  # type: ignore[misc]
    assert params.fingerprint() == InferenceParamsSpec(temperature=0.5).fingerprint()
    assert params.fingerprint() != InferenceParamsSpec(temperature=0.7).fingerprint()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"logprobs": 21}, "logprobs"),
        ({"stop_sequences": [""]}, "empty string"),
        ({"response_format": "yaml"}, "response_format"),
    ],
)
def test_bad_inference_params_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InferenceParamsSpec.model_validate(fields)


def test_a_single_stop_string_becomes_a_list() -> None:
    assert InferenceParamsSpec(stop_sequences="\n").stop_sequences == ["\n"]  # type: ignore[arg-type]


def test_a_grid_expands_the_product_of_its_overrides_over_each_base() -> None:
    grid = InferenceGridSpec(
        params=[InferenceParamsSpec(max_tokens=64), InferenceParamsSpec(max_tokens=256)],
        overrides={"temperature": [0.0, 0.7], "top_p": [0.9], "min_p": [0.05]},
    )
    points = grid.expand()
    assert [(p.max_tokens, p.temperature, p.top_p) for p in points] == [
        (64, 0.0, 0.9),
        (64, 0.7, 0.9),
        (256, 0.0, 0.9),
        (256, 0.7, 0.9),
    ]
    # A key that is not an InferenceParamsSpec field is a provider extra.
    assert all(p.extras == {"min_p": 0.05} for p in points)
    assert points[1].changed_fields() == {
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,
        "min_p": 0.05,
    }


def test_a_grid_without_overrides_is_its_base_params() -> None:
    assert InferenceGridSpec().expand() == [InferenceParamsSpec()]
    base = [InferenceParamsSpec(temperature=0.2)]
    assert InferenceGridSpec(params=base).expand() == base


def test_adding_a_grid_value_leaves_the_other_points_unchanged() -> None:
    small = InferenceGridSpec(overrides={"temperature": [0.0, 0.7]}).expand()
    large = InferenceGridSpec(overrides={"temperature": [0.0, 0.7, 1.0]}).expand()
    assert [p.fingerprint() for p in small] == [p.fingerprint() for p in large[:2]]


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"overrides": {"temperature": []}}, "at least one value"),
        ({"overrides": {"temperature": [0.5, 0.5]}}, "duplicate values"),
        ({"overrides": {"temperature": [0.5, -1.0]}}, r"grid point \(temperature=-1.0\)"),
        ({"overrides": {"extras": [1]}}, "name the provider extra"),
        ({"params": []}, "at least 1"),
        ({"params": [{"temperature": 0.5}, {}], "overrides": {"temperature": [0.5]}}, "same"),
    ],
)
def test_bad_grids_are_refused_with_the_reason(grid: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        InferenceGridSpec.model_validate(grid)


def test_the_execution_policy_becomes_runtime_settings() -> None:
    policy = ExecutionPolicySpec.model_validate(yaml.safe_load(PROJECT_YAML)["execution_policy"])
    runtime = policy.runtime_config(RuntimeConfig(progress="off"))
    assert runtime.max_retries == 5
    assert runtime.retry_initial_delay_s == 0.25
    assert runtime.circuit_breaker_threshold == 3
    assert runtime.max_concurrent_tasks == 8
    assert runtime.retryable_errors == ["not_found"]
    assert runtime.progress == "off"
    with pytest.raises(ValidationError, match=r"unknown error categories \['teapot'\]"):
        ExecutionPolicySpec(retryable_error_codes=["teapot"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"model_id": "m", "provider": "anthropic"}, "use 'openai', 'vllm', a generator id"),
        ({"model_id": "m", "provider": "vllm"}, "needs extras.base_url"),
        ({"model_id": "m", "provider": "openai", "extras": {"model": "x"}}, "model is model_id"),
        ({"model_id": "", "provider": "openai"}, "model_id"),
    ],
)
def test_bad_model_specs_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelSpec.model_validate(fields)


def test_dataset_specs_need_a_location() -> None:
    assert DatasetSpec(source="local", dataset_id="data.jsonl").split == "test"
    pinned = DatasetSpec(dataset_id="openai/gsm8k", config_name="main", revision="e53f048")
    assert pinned.source == "huggingface" and pinned.revision == "e53f048"
    with pytest.raises(ValidationError, match="needs a dataset_id"):
        DatasetSpec(source="huggingface")
    with pytest.raises(ValidationError, match="needs dataset_id"):
        DatasetSpec(source="local")


def test_generation_specs_render_into_a_prompt_spec() -> None:
    generation = GenerationSpec.model_validate(
        {
            "messages": [
                {"role": "system", "content": "Answer with a number."},
                {"role": "user", "content": "1+1"},
                {"role": "assistant", "content": "2"},
            ],
            "num_samples": 3,
        }
    )
    prompt = generation.prompt_spec()
    assert prompt is not None and prompt.instructions == "Answer with a number."
    assert prompt.blocks == [
        {"role": "user", "content": "1+1"},
        {"role": "assistant", "content": "2"},
    ]
    assert GenerationSpec().prompt_spec() is None
    with pytest.raises(ValidationError, match="system messages must come before"):
        GenerationSpec.model_validate(
            {"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]}
        )


def test_a_judge_spec_carries_its_model_params_and_metric_settings() -> None:
    judge = JudgeInferenceSpec.model_validate(
        {
            "model": {"model_id": "gpt-4o-mini", "provider": "openai"},
            "extras": {"rubric": "Is it correct?"},
        }
    )
    assert judge.params == InferenceParamsSpec()
    assert judge.extras == {"rubric": "Is it correct?"}
    with pytest.raises(ValidationError, match="takes no inference params"):
        JudgeInferenceSpec.model_validate(
            {"model": {"model_id": "d", "provider": "builtin/demo_judge"}, "params": {}}
        )


def test_specs_load_from_files(tmp_path: Path) -> None:
    from themis.core.authoring.config_files import read_config_file

    path = tmp_path / "project.toml"
    path.write_text(PROJECT_TOML, encoding="utf-8")
    assert ProjectSpec.model_validate(read_config_file(path)).project_name == "sweep"


def test_every_spec_loads_from_a_yaml_or_toml_file_with_errors_naming_file_and_field(
    tmp_path: Path,
) -> None:
    from themis.core.authoring.config_files import ConfigError

    yaml_file = tmp_path / "project.yaml"
    yaml_file.write_text(PROJECT_YAML, encoding="utf-8")
    assert ProjectSpec.from_file(yaml_file).global_seed == 7
    toml_file = tmp_path / "grid.toml"
    toml_file.write_text(
        "[[params]]\nmax_tokens = 64\n\n[overrides]\ntemperature = [0.0, 0.7]\n", encoding="utf-8"
    )
    assert [p.temperature for p in InferenceGridSpec.from_file(toml_file).expand()] == [0.0, 0.7]
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_id: m\nprovider: openai\nextra: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid ModelSpec\n  extra: Extra inputs"):
        ModelSpec.from_file(bad)


def test_execution_policy_defaults_follow_the_reference() -> None:
    policy = ExecutionPolicySpec()
    assert (
        policy.max_retries,
        policy.retry_backoff_factor,
        policy.circuit_breaker_threshold,
        policy.max_in_flight_work_items,
        policy.retryable_error_codes,
    ) == (3, 1.5, 5, 32, [])


def test_the_execution_backend_may_be_written_as_the_reference_writes_it() -> None:
    """``execution_backend: {kind: local}`` (the reference's backend spec) is 'local';
    a backend that is not built is refused, not ignored."""
    storage = {"backend": "sqlite_blob", "root_dir": "runs"}
    base = {"project_name": "p", "researcher_id": "r", "storage": storage}
    assert ProjectSpec(**base, execution_backend={"kind": "local"}).execution_backend == "local"
    with pytest.raises(ValidationError, match="'worker_pool' is not available"):
        ProjectSpec(**base, execution_backend={"kind": "worker_pool"})


def test_the_references_storage_options_are_refused_by_what_differs() -> None:
    """``store_item_payloads`` and ``compression`` (reference fields) are accepted with the
    values Themis honours and refused with the reason otherwise, never ignored."""
    union = TypeAdapter(StorageConfig)
    kept = union.validate_python(
        {
            "backend": "sqlite_blob",
            "root_dir": "x",
            "store_item_payloads": True,
            "compression": "none",
        }
    )
    assert kept.root_dir == "x"
    with pytest.raises(ValidationError, match=r"compression\n.*'zstd' is not available"):
        union.validate_python(
            {
                "backend": "postgres_blob",
                "database_url": "postgresql://h/d",
                "blob_root_dir": "b",
                "compression": "zstd",
            }
        )
    with pytest.raises(ValidationError, match="always stores item payloads"):
        union.validate_python(
            {"backend": "sqlite_blob", "root_dir": "x", "store_item_payloads": False}
        )

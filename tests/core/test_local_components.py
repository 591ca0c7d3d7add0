"""Config files name project-local components as ``python:MODULE:ATTR``."""

from __future__ import annotations

from pathlib import Path

import pytest

from themis import Experiment
from themis.core.authoring.config_files import ConfigError

METRIC = """
class Shorter:
    component_id = "local/shorter"
    version = "{version}"

    def __init__(self, limit=10):
        self.limit = limit

    def fingerprint(self):
        return f"shorter-{{self.limit}}-{version}"

    def score(self, parsed, case, ctx):
        from themis.core.models import Score
        return Score(metric_id=self.component_id, value=float(len(str(parsed.value)) < self.limit))
"""


def _project(directory: Path, version: str = "1", spec: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scoring.py").write_text(METRIC.format(version=version))
    spec = spec or '{id: "python:scoring:Shorter", options: {limit: 20}}'
    config = directory / "experiment.yaml"
    config.write_text(
        "generation: {generator: builtin/demo_generator}\n"
        f"evaluation: {{metrics: [builtin/exact_match, {spec}]}}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: '2+2', expected_output: '4'}]}]\n"
    )
    return config


def test_local_metric_is_built_with_its_options_and_recorded_by_its_own_identity(
    tmp_path: Path,
) -> None:
    experiment = Experiment.from_config(_project(tmp_path / "one"))
    ref = experiment.compile().component_refs.metrics[1]
    assert (ref.component_id, ref.version, ref.fingerprint) == (
        "local/shorter",
        "1",
        "shorter-20-1",
    )
    result = experiment.run()
    assert result.metric_means == {"builtin/exact_match": 1.0, "local/shorter": 1.0}


def test_same_project_elsewhere_has_the_same_run_id_and_edits_are_picked_up(
    tmp_path: Path,
) -> None:
    first = Experiment.from_config(_project(tmp_path / "a")).compile().run_id
    moved = Experiment.from_config(_project(tmp_path / "b")).compile().run_id
    assert moved == first
    # Two projects with a module of the same name never see each other's code.
    edited = Experiment.from_config(_project(tmp_path / "c", version="2")).compile().run_id
    assert edited != first
    assert Experiment.from_config(tmp_path / "a" / "experiment.yaml").compile().run_id == first


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("python:scoring", "not of the form python:MODULE:ATTR"),
        ("python:scoring:Longer", "has no attribute 'Longer'"),
        ("python:missing_module:Shorter", "cannot find module 'missing_module'"),
        ('{id: "python:scoring:Shorter", options: {width: 2}}', "cannot build"),
        ('{id: "python:scoring:Shorter", name: other}', "'name' is not supported"),
    ],
)
def test_bad_local_specs_say_what_and_where(tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"evaluation\.metrics\[1\]") as caught:
        Experiment.from_config(_project(tmp_path, spec=spec))
    assert message in str(caught.value)


def test_a_module_that_fails_to_import_is_named(tmp_path: Path) -> None:
    config = _project(tmp_path)
    (tmp_path / "scoring.py").write_text("import not_a_real_dependency\n")
    with pytest.raises(ConfigError, match=r"importing .*scoring\.py failed: ModuleNotFoundError"):
        Experiment.from_config(config)


def test_importable_modules_work_too(tmp_path: Path) -> None:
    config = _project(tmp_path, spec="python:themis.builtins.metrics:Contains")
    ref = Experiment.from_config(config).compile().component_refs.metrics[1]
    assert ref.component_id == "builtin/contains"

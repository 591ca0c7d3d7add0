"""Bad values never poison the store: non-finite scores and colliding case keys."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_experiment
from themis import Reporter, sqlite_store
from themis.core.analysis.case_details import resolve_case_key
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset, Score, case_key_for, split_case_key
from themis.core.storage.events import ScoreCompletedEvent, ScoreFailedEvent
from themis.core.storage.stores.sqlite import SqliteRunStore


class ValueMetric:
    """A pure metric that returns one fixed value, as a Score or a bare float."""

    version = "1"
    metric_family = "pure"

    def __init__(self, value: float, *, bare: bool = False) -> None:
        self.value = value
        self.bare = bare
        self.component_id = f"test/value_{value}_{bare}"

    def fingerprint(self) -> str:
        return self.component_id

    def score(self, parsed: Any, case: Case, ctx: Any) -> Score | float:
        if self.bare:
            return self.value
        return Score(metric_id="ignored", value=self.value, details={"raw": self.value})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("bare", [False, True])
def test_a_non_finite_score_is_the_metric_error_naming_metric_and_case(
    tmp_path: Path, value: float, bare: bool
) -> None:
    metric = ValueMetric(value, bare=bare)
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=[metric]),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )
    result = experiment.run()

    assert result.status.value == "failed"
    case = result.cases[0]
    assert not case.scores
    reason = case.score_errors[0].reason
    assert "not a finite number" in reason
    assert metric.component_id.split("/")[0] in reason or "value_" in reason
    assert case.case_key in reason
    # The result prints as strict JSON, and the stored run reads back, again and again.
    json.loads(result.model_dump_json())
    again = experiment.run()
    assert again.status == result.status
    store = sqlite_store(tmp_path / "runs.sqlite")
    report = json.loads(Reporter(store).export_json(result.run_id), parse_constant=_no_constant)
    assert report["scores"][0]["outcome"] != "success"


def _no_constant(name: str) -> None:
    raise AssertionError(f"report JSON holds {name}")


def test_a_run_stored_with_a_null_score_still_reads_back(tmp_path: Path) -> None:
    """Before the fix, a NaN score was stored as JSON null and the run never read again."""
    path = tmp_path / "runs.sqlite"
    experiment = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(path)),
    )
    result = experiment.run()
    store = SqliteRunStore(path)
    store.initialize()
    stored = [e for e in store.iter_events(result.run_id) if isinstance(e, ScoreCompletedEvent)]
    poisoned = stored[0].model_copy(
        update={
            "event_id": "poisoned",
            "score": stored[0].score.model_copy(update={"value": math.nan}),
        }
    )
    store.append_events([poisoned])
    store.close()

    reopened = SqliteRunStore(path)
    reopened.initialize()
    events = list(reopened.iter_events(result.run_id))
    repaired = [e for e in events if e.event_id == "poisoned"]
    assert isinstance(repaired[0], ScoreFailedEvent)
    assert "not a finite number" in repaired[0].score_error.reason
    reopened.close()
    assert experiment.run().run_id == result.run_id  # and the run itself reads again


def test_case_keys_are_injective() -> None:
    pairs = [
        ("d", "x::y"),
        ("d::x", "y"),
        ("d:", ":x"),
        ("d", "::x"),
        ("d%3A", "x"),
        ("d:", "x"),
        ("a%", "b"),
        ("a%25", "b"),
        ("plain", "c1"),
    ]
    keys = [case_key_for(dataset_id, case_id) for dataset_id, case_id in pairs]
    assert len(set(keys)) == len(keys), keys
    assert [split_case_key(key) for key in keys] == pairs
    assert case_key_for("gsm8k", "test-0001") == "gsm8k::test-0001"  # what users type


def test_two_datasets_whose_ids_join_alike_keep_both_cases(tmp_path: Path) -> None:
    datasets = [
        Dataset(dataset_id="d", cases=[Case(case_id="x::y", input="1", expected_output="1")]),
        Dataset(dataset_id="d::x", cases=[Case(case_id="y", input="2", expected_output="0")]),
    ]
    experiment = make_experiment(
        generation=GenerationConfig(generator="builtin/demo_generator"),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=datasets,
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )
    result = experiment.run()
    assert len({case.case_key for case in result.cases}) == 2
    table = Reporter(sqlite_store(tmp_path / "runs.sqlite")).export_score_table(result.run_id)
    assert len(table) == 2
    by_dataset = {row["dataset_id"]: row["value"] for row in table}
    run_values = {case.dataset_id: case.scores[0].value for case in result.cases}
    assert by_dataset == run_values
    # each case is found by its own key, or by its case id alone, never the other's
    snapshot = experiment.compile()
    for case in result.cases:
        assert resolve_case_key(snapshot, case.case_key) == case.case_key
        assert resolve_case_key(snapshot, case.case_id) == case.case_key


class NonFiniteDetails:
    """A finite score whose details hold NaN and infinity (an undefined ratio)."""

    component_id = "test/non_finite_details"
    version = "1"
    metric_family = "pure"

    def fingerprint(self) -> str:
        return self.component_id

    def score(self, parsed: Any, case: Case, ctx: Any) -> Score:
        return Score(metric_id="x", value=1.0, details={"ratio": math.nan, "big": -math.inf})


def test_non_finite_score_details_are_stored_as_null_and_reports_stay_strict_json(
    tmp_path: Path,
) -> None:
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=[NonFiniteDetails()]),
        storage=StorageConfig(store="sqlite", path=str(tmp_path / "runs.sqlite")),
    )
    result = experiment.run()
    assert result.status.value == "completed"
    store = sqlite_store(tmp_path / "runs.sqlite")
    report = json.loads(Reporter(store).export_json(result.run_id), parse_constant=_no_constant)
    assert report["scores"][0]["details"] == {"big": None, "ratio": None}

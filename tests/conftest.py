"""Shared fixtures: stores of every kind and small experiments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from themis import Experiment, InMemoryRunStore, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    """Every store implementation, for contract tests."""
    if request.param == "memory":
        instance: object = InMemoryRunStore()
    else:
        instance = SqliteRunStore(tmp_path / "runs.sqlite")
    instance.initialize()  # type: ignore[attr-defined]
    yield instance
    instance.close()  # type: ignore[attr-defined]


def arithmetic_dataset(dataset_id: str = "arith", count: int = 4) -> Dataset:
    cases = [
        Case(
            case_id=f"c{i}",
            input={"question": f"{i}+{i}"},
            expected_output={"answer": str(2 * i)},
        )
        for i in range(count)
    ]
    return Dataset(dataset_id=dataset_id, cases=cases)


def make_experiment(**changes: object) -> Experiment:
    """A small demo-generator experiment; keyword arguments replace its fields."""
    fields: dict[str, object] = {
        "generation": GenerationConfig(
            generator="builtin/demo_generator",
            candidate_policy={"num_samples": 1},  # type: ignore[arg-type]
            reducer="builtin/majority_vote",
        ),
        "evaluation": EvaluationConfig(
            metrics=["builtin/exact_match"], parsers=["builtin/json_identity"]
        ),
        "storage": StorageConfig(store="memory"),
        "datasets": [arithmetic_dataset()],
        "seeds": [7],
    }
    fields.update(changes)
    return Experiment(**fields)  # type: ignore[arg-type]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in the log whether the real-model tests ran: CI runs them wherever the
    prebuilt llama-cpp-python wheel is present, and a skip there must show."""
    outcomes: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "realmodel" in getattr(report, "keywords", {}):
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        terminalreporter.write_line(f"real-model tests (llama.cpp, Gemma 3 270M): {counts}")

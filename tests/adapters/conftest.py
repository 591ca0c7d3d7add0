"""Fixtures for adapter tests: a local OpenAI-compatible server and small experiments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.fake_openai_server import FakeOpenAIServer, running_server
from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset

SECRET_KEY = "sk-themis-test-5f1c0b7e"
"""An API key that must reach the server and must never reach storage."""


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with running_server() as instance:
        yield instance


@pytest.fixture
def runtime() -> RuntimeConfig:
    """Quick retries, so retry tests take milliseconds."""
    return RuntimeConfig(
        max_retries=3, retry_initial_delay_s=0.001, retry_max_delay_s=1.0, progress="off"
    )


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteRunStore]:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    store.initialize()
    yield store
    store.close()


def arithmetic(count: int = 1) -> Dataset:
    return Dataset(
        dataset_id="arith",
        cases=[
            Case(
                case_id=f"c{i}",
                input={"question": f"{i}+{i}"},
                expected_output={"answer": str(2 * i)},
            )
            for i in range(count)
        ],
    )


def experiment(generator: Any, *, count: int = 1, **changes: Any) -> Experiment:
    """A small experiment around ``generator``; keyword arguments replace its fields."""
    fields: dict[str, Any] = {
        "generation": GenerationConfig(generator=generator),
        "evaluation": EvaluationConfig(
            metrics=["builtin/exact_match"], parsers=["builtin/json_identity"]
        ),
        "storage": StorageConfig(store="memory"),
        "datasets": [arithmetic(count)],
        "seeds": [7],
    }
    fields.update(changes)
    return Experiment(**fields)


def stored_bytes(path: Path) -> bytes:
    """Everything SQLite wrote, the WAL included."""
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))

"""Shared fixtures: stores of every kind and small experiments."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import postgres_server
from themis import Experiment, InMemoryRunStore, PostgresRunStore, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# PostgreSQL stores opened without a blob_root keep blobs in the default local
# directory; in tests (and the processes they start) that is a throwaway one.
os.environ.setdefault("THEMIS_BLOB_ROOT", tempfile.mkdtemp(prefix="themis-test-blobs-"))

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a throwaway PostgreSQL 15 server, started once per session.

    Skipped where the server binaries are missing, except under CI (``CI=true``),
    where ``.ci/run`` installs them and a missing server is a failure.
    ``THEMIS_TEST_POSTGRES_URL`` names a server of your own instead (the tests
    create fresh schemas and databases in it, so the user needs CREATEDB).
    """
    existing = os.environ.get("THEMIS_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    require_postgres_binaries()
    with postgres_server.throwaway_postgres() as url:
        yield url


def require_postgres_binaries() -> None:
    """Skip without PostgreSQL server binaries, except under CI, where that fails."""
    if postgres_server.binaries() is None:
        message = "PostgreSQL server binaries not found (apt-get install postgresql)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)


def fresh_postgres_database(url: str) -> str:
    """The URL of a new, empty database on the server at ``url``."""
    import psycopg

    name = f"db_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return url.rsplit("/", 1)[0] + f"/{name}"


def fresh_postgres_schema() -> str:
    """A schema name no other test uses: each test gets an empty store."""
    return f"t_{uuid.uuid4().hex[:16]}"


STORE_KINDS = ["memory", "sqlite", "postgres"]


def open_test_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A new, initialized store of ``kind`` (PostgreSQL in a fresh schema)."""
    instance: Any
    if kind == "memory":
        instance = InMemoryRunStore()
    elif kind == "sqlite":
        instance = SqliteRunStore(tmp_path / "runs.sqlite")
    else:
        url = request.getfixturevalue("postgres_url")
        instance = PostgresRunStore(url, schema=fresh_postgres_schema(), pool_size=2)
    instance.initialize()
    return instance


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Every store implementation, for contract tests."""
    instance = open_test_store(request.param, request, tmp_path)
    yield instance
    instance.close()


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

"""A stored SQLite run with judged cases, a wrong answer, a retried call and a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.viewing.helpers import TalkativeGenerator, talkative_experiment
from themis import SqliteRunStore


@pytest.fixture(scope="package")
def talkative_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(store path, run id) of a 5-case judged run: c1 wrong, c2 retried, c3 failed."""
    path = tmp_path_factory.mktemp("viewing") / "runs.sqlite"
    store = SqliteRunStore(path)
    try:
        result = talkative_experiment(TalkativeGenerator()).run(store=store)
    finally:
        store.close()
    return path, result.run_id

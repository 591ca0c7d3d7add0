"""Shared helpers for the benchmarks: datasets, an instant generator, stores, machine facts."""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from themis.core.models import Case, Dataset, GenerationResult


class InstantGenerator:
    """Answers immediately: measures the framework, not a model."""

    component_id = "bench/instant"
    version = "1"

    def fingerprint(self) -> str:
        return "bench-instant"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "4"})


def dataset(count: int, dataset_id: str = "bench") -> Dataset:
    return Dataset(
        dataset_id=dataset_id,
        cases=[
            Case(case_id=f"c{i}", input={"question": "2+2"}, expected_output={"answer": "4"})
            for i in range(count)
        ],
    )


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


STORES = ("sqlite", "postgres")


@contextlib.contextmanager
def bench_store(
    kind: str, directory: Path, *, synchronous: str = "FULL"
) -> Iterator[tuple[Any, Callable[[], int]]]:
    """A fresh store of ``kind`` and a function counting its committed events.

    ``postgres`` starts a throwaway PostgreSQL server (tests/postgres_server.py)
    with its default durability (fsync and synchronous commit on), the match
    of SQLite's ``synchronous=FULL``.
    """
    if kind == "sqlite":
        import sqlite3

        from themis import SqliteRunStore

        path = directory / "bench.sqlite"

        def sqlite_events() -> int:
            with sqlite3.connect(path) as conn:
                count: int = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            return count

        store = SqliteRunStore(path, synchronous=synchronous)  # type: ignore[arg-type]
        yield store, sqlite_events
        store.close()
        return
    if kind != "postgres":
        raise ValueError(f"unknown store {kind!r}; choose from {STORES}")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.postgres_server import throwaway_postgres

    from themis import postgres_store

    with throwaway_postgres(durable=True) as url:
        pg = postgres_store(url)

        def postgres_events() -> int:
            with pg._connection() as conn:
                count: int = conn.execute("SELECT count(*) FROM events").fetchone()[0]
            return count

        yield pg, postgres_events
        pg.close()

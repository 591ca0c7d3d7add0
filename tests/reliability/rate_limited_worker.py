"""One of several processes running one rate-limited run on one store (see
test_rate_limits.py).

Usage: python -m tests.reliability.rate_limited_worker BASE_URL STORE LIMIT CASES OUT_JSON
       BARRIER_DIR WORKERS

Waits until WORKERS processes have reached BARRIER_DIR (so that they run
side by side, whatever their start-up times), then runs an OpenAI-adapter
experiment against BASE_URL with
``provider_rate_limits={"openai": {"requests_per_minute": LIMIT}}`` on the
SQLite store STORE, the engine's minute shortened to one second as in the
tests, and writes what its RunResult covers to OUT_JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from themis import Experiment, RuntimeConfig, sqlite_store
from themis.adapters import openai
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.engine import ratelimit
from themis.core.models import Case, Dataset
from themis.core.storage.events import GenerationCompletedEvent


class StoredHere:
    """Counts the generations this process stored itself."""

    def __init__(self) -> None:
        self.generations = 0

    def on_event(self, event: object) -> None:
        self.generations += isinstance(event, GenerationCompletedEvent)


def wait_for_each_other(barrier: Path, workers: int) -> None:
    barrier.mkdir(exist_ok=True)
    (barrier / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(barrier.iterdir())) < workers and time.monotonic() < deadline:
        time.sleep(0.01)


def main(
    base_url: str, store: str, limit: str, cases: str, out: str, barrier: str, workers: str
) -> None:
    ratelimit.SECONDS_PER_MINUTE = 1.0
    os.environ.setdefault("OPENAI_API_KEY", "sk-rate-limit-test")
    experiment = Experiment(
        generation=GenerationConfig(
            generator=openai("test-model", api_mode="chat_completions", base_url=base_url)
        ),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[
            Dataset(
                dataset_id="d",
                cases=[
                    Case(case_id=f"c{i}", input=f"{i}+{i}", expected_output="4")
                    for i in range(int(cases))
                ],
            )
        ],
        seeds=[7],
    )
    runtime = RuntimeConfig(
        progress="off",
        max_concurrent_tasks=4,
        lease_s=1.0,
        provider_rate_limits={"openai": {"requests_per_minute": float(limit)}},
    )
    wait_for_each_other(Path(barrier), int(workers))
    here = StoredHere()
    result = experiment.run(store=sqlite_store(store), runtime=runtime, subscribers=[here])
    with open(out, "w") as handle:
        json.dump(
            {
                "status": result.status.value,
                "cases": len(result.cases),
                "generated_here": here.generations,
            },
            handle,
        )


if __name__ == "__main__":
    main(*sys.argv[1:8])

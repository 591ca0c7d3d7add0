"""The experiment the batch tests run, importable by a subprocess the tests kill.

``python -m tests.adapters.batch_experiment BASE_URL STORE CASES [WINDOW]`` runs it on
a SQLite store (a path) or a PostgreSQL one (a URL) and prints the run's
status; the test process builds the same experiment (same run id) to resume it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import openai as openai_sdk

from themis import Experiment, RuntimeConfig
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset
from themis_adapters_openai import openai

SECRET_KEY = "sk-themis-batch-test-9c2e44a1"


def dataset(count: int) -> Dataset:
    return Dataset(
        dataset_id="arith",
        cases=[
            Case(case_id=f"c{i}", input={"question": f"{i}+{i}"}, expected_output=str(2 * i))
            for i in range(count)
        ],
    )


PROCESS_HEADER = "x-themis-test-process"
"""Names the process a request came from, so a test can tell two processes' requests apart."""


def client_factory(base_url: str, process: str = "test") -> Any:
    def make() -> openai_sdk.AsyncOpenAI:
        return openai_sdk.AsyncOpenAI(
            api_key=SECRET_KEY,
            base_url=base_url,
            max_retries=0,
            default_headers={PROCESS_HEADER: process},
        )

    return make


def build(
    base_url: str,
    store: str,
    count: int,
    *,
    api_mode: str = "chat_completions",
    process: str = "test",
    **batch_options: Any,
) -> Experiment:
    options: dict[str, Any] = {
        "batch": True,
        "batch_window_s": 0.5,
        "poll_interval_s": 0.05,
        "max_poll_interval_s": 0.2,
        **batch_options,
    }
    generator = openai(
        "test-model",
        client=client_factory(base_url, process),
        api_mode=api_mode,  # type: ignore[arg-type]
        temperature=0.0,
        **options,
    )
    return Experiment(
        generation=GenerationConfig(generator=generator),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match"], parsers=["builtin/json_identity"]
        ),
        storage=(
            StorageConfig(store="postgres", parameters={"url": store})
            if "://" in store
            else StorageConfig(store="sqlite", path=store)
        ),
        datasets=[dataset(count)],
        seeds=[7],
    )


RUNTIME = RuntimeConfig(max_concurrent_tasks=4, progress="off", lease_s=2.0, lease_poll_s=0.1)
"""Short leases: a killed process's cases are taken over 2 s after its last heartbeat."""


def main() -> None:
    base_url, store, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    window = float(sys.argv[4]) if len(sys.argv) > 4 else 0.5
    if "://" not in store:
        Path(store).parent.mkdir(parents=True, exist_ok=True)
    experiment = build(base_url, store, count, process="subprocess", batch_window_s=window)
    result = experiment.run(runtime=RUNTIME)
    print(result.status.value, flush=True)


if __name__ == "__main__":
    main()

"""Memory: peak RSS of a 100,000-case run (instant generator, exact match,
SQLite store). Target: under 1 GiB.

    ./dev python bench/memory.py [--cases 100000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import InstantGenerator, dataset, machine, peak_rss_mib

from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    args = parser.parse_args()
    before = peak_rss_mib()
    experiment = Experiment(
        generation=GenerationConfig(generator=InstantGenerator()),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[dataset(args.cases)],
        seeds=[0],
    )
    after_dataset = peak_rss_mib()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteRunStore(Path(tmp) / "bench.sqlite", synchronous="NORMAL")
        started = time.perf_counter()
        result = experiment.run(
            store=store, runtime=RuntimeConfig(max_concurrent_tasks=64, progress="off")
        )
        elapsed = time.perf_counter() - started
    peak = peak_rss_mib()
    print(
        json.dumps(
            {
                "benchmark": "memory",
                "cases": args.cases,
                "status": result.status.value,
                "seconds": round(elapsed, 1),
                "rss_at_start_mib": round(before, 1),
                "rss_after_building_dataset_mib": round(after_dataset, 1),
                "peak_rss_mib": round(peak, 1),
                "target_mib": 1024,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

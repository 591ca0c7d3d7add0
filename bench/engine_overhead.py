"""Engine overhead: N cases, one sample each, an instant generator, exact match,
every event durably committed to SQLite (or PostgreSQL). Target: >= 2,000 cases/s.

    ./dev python bench/engine_overhead.py [--cases 10000] [--synchronous FULL|NORMAL] [--profile]
                                          [--store sqlite|postgres]

``--store postgres`` starts a throwaway PostgreSQL server for the run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import STORES, InstantGenerator, bench_store, dataset, machine, peak_rss_mib

from themis import Experiment, RuntimeConfig
from themis.core.config import EvaluationConfig, GenerationConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--store", default="sqlite", choices=STORES)
    args = parser.parse_args()
    experiment = Experiment(
        generation=GenerationConfig(generator=InstantGenerator()),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[dataset(args.cases)],
        seeds=[0],
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_store(args.store, Path(tmp), synchronous=args.synchronous) as (store, count_events),
    ):
        runtime = RuntimeConfig(max_concurrent_tasks=args.concurrency, progress="off")
        started = time.perf_counter()
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            result = profiler.runcall(experiment.run, store=store, runtime=runtime)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            result = experiment.run(store=store, runtime=runtime)
        elapsed = time.perf_counter() - started
        events = count_events()
    print(
        json.dumps(
            {
                "benchmark": "engine_overhead",
                "cases": args.cases,
                "status": result.status.value,
                "store": args.store,
                "synchronous": args.synchronous if args.store == "sqlite" else None,
                "seconds": round(elapsed, 3),
                "cases_per_second": round(args.cases / elapsed, 1),
                "events_committed": events,
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

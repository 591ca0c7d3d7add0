"""Durability window: how much answered work a kill would lose at any moment.

A generator answers after ``--latency-ms`` with ``--concurrency`` calls in
flight, so answers arrive faster than one at a time. A sampler thread reads
the SQLite file from its own connection every ``--sample-ms`` and compares
the answers given so far with the generation events committed so far:
their difference is what a SIGKILL at that instant would lose (it would be
asked again on resume). Reported: the peak and 95th percentile of that
count and of the age of the oldest answered-but-uncommitted generation.

    ./dev python bench/durability_window.py [--cases 20000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import dataset, machine

from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, GenerationResult


class TimedGenerator:
    """Answers after a fixed latency and records when each answer was given."""

    component_id = "bench/timed"
    version = "1"

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.answered_at: list[float] = []

    def fingerprint(self) -> str:
        return "bench-timed"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        await asyncio.sleep(self.latency_s)
        self.answered_at.append(time.monotonic())
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "4"})


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-ms", type=float, default=2.0)
    parser.add_argument("--sample-ms", type=float, default=20.0)
    args = parser.parse_args()
    generator = TimedGenerator(args.latency_ms / 1000)
    experiment = Experiment(
        generation=GenerationConfig(generator=generator),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[dataset(args.cases)],
        seeds=[0],
    )
    counts: list[float] = []
    ages: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        store = SqliteRunStore(db)
        store.initialize()
        done = threading.Event()

        def sample() -> None:
            conn = sqlite3.connect(db)
            committed, last_seq = 0, 0
            while not done.wait(args.sample_ms / 1000):
                answered = list(generator.answered_at)
                # counted incrementally (by the primary key), so sampling stays cheap
                (newly, seq) = conn.execute(
                    "SELECT count(*) FILTER (WHERE event_type = 'generation_completed'), "
                    "max(seq) FROM events WHERE seq > ?",
                    (last_seq,),
                ).fetchone()
                committed += newly
                last_seq = seq if seq is not None else last_seq
                waiting = len(answered) - committed
                counts.append(max(0, waiting))
                # answers commit in about the order they came: the oldest still
                # waiting is the first one past those committed
                ages.append(time.monotonic() - answered[committed] if waiting > 0 else 0.0)
            conn.close()

        sampler = threading.Thread(target=sample, daemon=True)
        runtime = RuntimeConfig(max_concurrent_tasks=args.concurrency, progress="off")
        started = time.perf_counter()
        sampler.start()
        try:
            result = experiment.run(store=store, runtime=runtime)
        finally:
            done.set()
            sampler.join()
        elapsed = time.perf_counter() - started
        store.close()
    print(
        json.dumps(
            {
                "benchmark": "durability_window",
                "cases": args.cases,
                "status": result.status.value,
                "concurrency": args.concurrency,
                "latency_ms": args.latency_ms,
                "seconds": round(elapsed, 3),
                "cases_per_second": round(args.cases / elapsed, 1),
                "samples": len(counts),
                "uncommitted_answers_peak": int(max(counts, default=0)),
                "uncommitted_answers_p95": int(percentile(counts, 0.95)),
                "oldest_uncommitted_ms_peak": round(1000 * max(ages, default=0.0), 1),
                "oldest_uncommitted_ms_p95": round(1000 * percentile(ages, 0.95), 1),
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

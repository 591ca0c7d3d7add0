"""A run that a test kills with SIGKILL and then resumes (see test_resume.py).

Usage: python resume_worker.py DB_PATH CALL_LOG CASES DELAY_S
Every generator call appends one line to CALL_LOG before returning.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, Dataset, GenerationResult


class LoggingGenerator:
    component_id = "test/logging"
    version = "1"

    def __init__(self, log_path: str, delay: float) -> None:
        self.log_path = log_path
        self.delay = delay

    def fingerprint(self) -> str:
        return "logging-generator"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        time.sleep(self.delay)
        with open(self.log_path, "a") as log:
            log.write(f"{case.case_id}\n")
            log.flush()
            os.fsync(log.fileno())
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": case.case_id})


def experiment(log_path: str, cases: int, delay: float) -> Experiment:
    return Experiment(
        generation=GenerationConfig(generator=LoggingGenerator(log_path, delay)),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[
            Dataset(
                dataset_id="d",
                cases=[
                    Case(case_id=f"c{i}", input=str(i), expected_output={"answer": f"c{i}"})
                    for i in range(cases)
                ],
            )
        ],
        seeds=[0],
    )


class StallingStore(SqliteRunStore):
    """Stops inside the write transaction of batch N (after its rows are
    inserted, before COMMIT), announces it with a marker file, and waits to
    be killed: a deterministic "killed mid-write"."""

    def __init__(self, path: str, stall_batch: int, marker: str) -> None:
        super().__init__(path, synchronous="NORMAL")
        self.stall_batch = stall_batch
        self.marker = marker
        self.batches = 0

    def _append_locked(self, conn: Any, events: Any) -> Any:
        persisted = super()._append_locked(conn, events)
        self.batches += 1
        if self.batches == self.stall_batch:
            with open(self.marker, "w") as handle:
                handle.write(str(len(persisted)))
            time.sleep(60)
        return persisted


if __name__ == "__main__":
    db, log, count, delay = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    stall = os.environ.get("STALL_BATCH")
    store = (
        StallingStore(db, int(stall), os.environ["STALL_MARKER"])
        if stall
        else SqliteRunStore(db, synchronous="NORMAL")
    )
    result = experiment(log, count, delay).run(
        store=store,
        runtime=RuntimeConfig(max_concurrent_tasks=4, progress="off"),
    )
    print(result.status.value, result.run_id)

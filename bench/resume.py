"""Resume: kill a run with SIGKILL about half way, resume it, and report the
extra wall time and the count of repeated generator calls (must be 0 beyond
the calls that were in flight at the kill, whose results were never stored).

    ./dev python bench/resume.py [--cases 4000] [--delay 0.002]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "core" / "resume_worker.py"


def completed_generations(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(
                "SELECT count(*) FROM events WHERE event_type = 'generation_completed'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def run_worker(db: Path, log: Path, cases: int, delay: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(log), str(cases), str(delay)],
        env=env,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument("--delay", type=float, default=0.002)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db, log = Path(tmp) / "runs.sqlite", Path(tmp) / "calls.log"
        started = time.perf_counter()
        full = run_worker(
            Path(tmp) / "uninterrupted.sqlite", Path(tmp) / "u.log", args.cases, args.delay
        )
        full.wait()
        uninterrupted = time.perf_counter() - started

        started = time.perf_counter()
        first = run_worker(db, log, args.cases, args.delay)
        while completed_generations(db) < args.cases // 2:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_after = time.perf_counter() - started
        stored_at_kill = completed_generations(db)
        calls_at_kill = len(log.read_text().splitlines())

        started = time.perf_counter()
        resumed = run_worker(db, log, args.cases, args.delay)
        resumed.wait()
        resume_seconds = time.perf_counter() - started
        calls = log.read_text().splitlines()
        resumed_calls = calls[calls_at_kill:]
        repeated = len(set(resumed_calls) & set(calls[:calls_at_kill]))
        in_flight_lost = calls_at_kill - stored_at_kill
    print(
        json.dumps(
            {
                "benchmark": "resume",
                "cases": args.cases,
                "generator_delay_s": args.delay,
                "uninterrupted_seconds": round(uninterrupted, 3),
                "killed_after_seconds": round(killed_after, 3),
                "resume_seconds": round(resume_seconds, 3),
                "extra_wall_seconds": round(killed_after + resume_seconds - uninterrupted, 3),
                "generations_stored_at_kill": stored_at_kill,
                "calls_in_flight_at_kill": in_flight_lost,
                "repeated_generator_calls": repeated,
                "repeated_calls_of_stored_work": repeated - in_flight_lost,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Memory: peak RSS of a large run, and how soon its resume sends new work.

Each measurement runs in a fresh process (an instant generator, exact match,
a SQLite store, ``synchronous=NORMAL``), so each peak is its own:

1. ``run``: the whole run; peak RSS of the process, the dataset included.
   Target: under 1 GiB for 1,000,000 cases.
2. ``kill``: the same run into another store, SIGKILLed by its own generator
   once half the cases were asked (what was stored by then stays).
3. ``resume``: the same experiment run again on that store (``resume()``):
   seconds from the call to the first generator call (new work), and to the
   end; peak RSS. Target: new work within seconds.

    ./dev python bench/memory.py [--cases 1000000] [--skip-run | --skip-resume]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import InstantGenerator, dataset, machine, peak_rss_mib

from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, GenerationResult


class TimedGenerator(InstantGenerator):
    """Answers at once; notes when it was first asked, and may kill its process."""

    def __init__(self, kill_after: int | None = None, note: Path | None = None) -> None:
        self.calls = 0
        self.first_call: float | None = None
        self.started: float | None = None
        self.kill_after = kill_after
        self.note = note

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        if self.first_call is None:
            self.first_call = time.perf_counter()
            if self.note is not None and self.started is not None:
                # Written at once, so that a long run shows it before it ends.
                seconds = round(self.first_call - self.started, 2)
                self.note.write_text(json.dumps({"seconds_to_first_generator_call": seconds}))
        self.calls += 1
        if self.kill_after is not None and self.calls >= self.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return await super().generate(case, ctx)


def child(mode: str, cases: int, path: Path) -> dict[str, Any]:
    before = peak_rss_mib()
    generator = TimedGenerator(
        kill_after=cases // 2 if mode == "kill" else None, note=path.with_suffix(".first-call")
    )
    experiment = Experiment(
        generation=GenerationConfig(generator=generator),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[dataset(cases)],
        seeds=[0],
    )
    after_dataset = peak_rss_mib()
    store = SqliteRunStore(path, synchronous="NORMAL")
    runtime = RuntimeConfig(max_concurrent_tasks=64, progress="off")
    started = generator.started = time.perf_counter()
    if mode == "resume":
        result = experiment.resume(store=store, runtime=runtime)
    else:
        result = experiment.run(store=store, runtime=runtime)
    elapsed = time.perf_counter() - started
    first = None if generator.first_call is None else generator.first_call - started
    return {
        "status": result.status.value,
        "cases_in_result": len(result.cases),
        "seconds": round(elapsed, 1),
        "seconds_to_first_generator_call": None if first is None else round(first, 2),
        "generator_calls": generator.calls,
        "rss_at_start_mib": round(before, 1),
        "rss_after_building_dataset_mib": round(after_dataset, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }


def spawn(mode: str, cases: int, path: Path) -> dict[str, Any] | None:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--cases", str(cases), "--path", str(path)],
        capture_output=True,
        text=True,
    )
    if mode == "kill":
        if done.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the killed run ended with {done.returncode}: {done.stderr}")
        return None
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--skip-run", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    parser.add_argument("--child", choices=("run", "kill", "resume"))
    parser.add_argument("--path", type=Path)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.cases, args.path)))
        return
    report: dict[str, Any] = {"benchmark": "memory", "cases": args.cases, "target_mib": 1024}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_run:
            report["run"] = spawn("run", args.cases, Path(tmp) / "run.sqlite")
        if not args.skip_resume:
            interrupted = Path(tmp) / "resume.sqlite"
            started = time.perf_counter()
            spawn("kill", args.cases, interrupted)
            report["killed_after_seconds"] = round(time.perf_counter() - started, 1)
            report["resume"] = spawn("resume", args.cases, interrupted)
    report["machine"] = machine()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

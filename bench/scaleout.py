"""Scale-out: 1, 2 and 4 worker processes sharing one run on one PostgreSQL store.

    ./dev python bench/scaleout.py [--cases 4000] [--delay 0.1] [--concurrency 16]
                                   [--workers 1,2,4] [--kill-lease-s 5]

A local server answers every completion after ``--delay`` seconds (100 ms);
each worker process runs the same experiment (the vLLM adapter, at most
``--concurrency`` calls in flight) against one throwaway PostgreSQL server,
sharing the run through work leases. Workers import and build everything
first and start together, so the numbers measure sharing, not Python's
start-up. Reported per worker count: throughput (cases per second from the
server's first request to its last answer) relative to one worker, and
duplicated calls (completions asked for beyond one per case). Then the kill
scenario: with the largest worker count, one worker is SIGKILLed at 40% of
the run (``lease_s`` = ``--kill-lease-s``): the extra wall time and calls it
costs, and whether every case is stored once.
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
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from _common import dataset, machine

ROOT = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    """One worker process: build, wait for the start signal, run, report."""
    from themis import Experiment, PostgresRunStore, RuntimeConfig
    from themis.adapters import vllm
    from themis.core.config import EvaluationConfig, GenerationConfig

    experiment = Experiment(
        generation=GenerationConfig(generator=vllm("bench", base_url=f"{args.base_url}/v1")),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[dataset(args.cases)],
        seeds=[0],
    )
    store = PostgresRunStore(args.url, schema=args.schema)
    store.initialize()
    runtime = RuntimeConfig(
        max_concurrent_tasks=args.concurrency, progress="off", lease_s=args.lease_s
    )
    go = Path(args.go)
    Path(f"{args.out}.ready").touch()
    while not go.exists():
        time.sleep(0.005)
    started = time.perf_counter()
    result = experiment.run(store=store, runtime=runtime)
    Path(args.out).write_text(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "ended_at": time.time(),
                "cases": len(result.cases),
                "status": result.status.value,
            }
        )
    )


def server_stats(base_url: str) -> dict[str, Any]:
    """What the server saw since it was last asked (and start over)."""
    with urllib.request.urlopen(f"{base_url}/bench-stats") as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def stored_once(url: str, schema: str) -> bool:
    """Whether every generated work key of the run has exactly one completed event."""
    import psycopg

    with psycopg.connect(url, options=f"-c search_path={schema}") as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT payload::json->>'work_key') FROM events "
            "WHERE event_type = 'generation_completed'"
        ).fetchone()
    assert row is not None
    return bool(row[0] == row[1])


def scenario(
    args: argparse.Namespace,
    url: str,
    base_url: str,
    tmp: Path,
    workers: int,
    *,
    kill_after_s: float | None = None,
) -> dict[str, Any]:
    schema = f"scaleout_{uuid.uuid4().hex[:12]}"
    go = tmp / f"go-{schema}"
    outs = [tmp / f"{schema}-{index}.json" for index in range(workers)]
    lease_s = args.kill_lease_s if kill_after_s is not None else 60.0
    command = [
        sys.executable,
        __file__,
        "--worker",
        "--url",
        url,
        "--schema",
        schema,
        "--base-url",
        base_url,
        "--cases",
        str(args.cases),
        "--concurrency",
        str(args.concurrency),
        "--lease-s",
        str(lease_s),
        "--go",
        str(go),
    ]
    processes = [
        subprocess.Popen([*command, "--out", str(out)], cwd=ROOT, env=os.environ.copy())
        for out in outs
    ]
    while not all(Path(f"{out}.ready").exists() for out in outs):
        if any(process.poll() is not None for process in processes):
            raise RuntimeError("a worker stopped before the start")
        time.sleep(0.01)
    server_stats(base_url)  # start counting now
    started, go_at = time.perf_counter(), time.time()
    go.touch()
    killed_at = None
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        processes[0].send_signal(signal.SIGKILL)
        killed_at = time.perf_counter() - started
    for process in processes:
        process.wait(timeout=600)
    wall = time.perf_counter() - started
    stats = server_stats(base_url)
    reports = [json.loads(out.read_text()) for out in outs if out.exists()]
    span = stats["last_response"] - stats["first_request"]
    return {
        "workers": workers,
        "wall_seconds": round(wall, 2),
        "server_span_seconds": round(span, 2),
        "cases_per_second": round(args.cases / span, 1),
        "calls": stats["completions"],
        "duplicated_calls": stats["completions"] - args.cases,
        "run_seconds": [round(r["seconds"], 2) for r in reports],
        # start-up: the start signal to the first request any worker sent;
        # wind-down: the last answer to each worker's run() returning
        "startup_seconds": round(stats["first_request"] - go_at, 2),
        "wind_down_seconds": [round(r["ended_at"] - stats["last_response"], 2) for r in reports],
        "every_result_covers_the_run": all(r["cases"] == args.cases for r in reports),
        "every_case_stored_once": stored_once(url, schema),
        **({"killed_at_s": round(killed_at, 2), "lease_s": lease_s} if killed_at else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=4000)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--kill-lease-s", type=float, default=5.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name in ("--url", "--schema", "--base-url", "--go", "--out"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    parser.add_argument("--lease-s", type=float, default=60.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, str(ROOT))
    from tests.postgres_server import throwaway_postgres

    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory() as directory, throwaway_postgres(durable=True) as url:
        tmp = Path(directory)
        port_file = tmp / "port"
        slow_server = str(Path(__file__).with_name("slow_server.py"))
        server = subprocess.Popen([sys.executable, slow_server, str(port_file), str(args.delay)])
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.02)
            base_url = f"http://127.0.0.1:{port_file.read_text()}"
            runs = [scenario(args, url, base_url, tmp, n) for n in counts]
            largest = runs[-1]
            killed = scenario(
                args,
                url,
                base_url,
                tmp,
                largest["workers"],
                kill_after_s=0.4 * largest["wall_seconds"],
            )
        finally:
            server.kill()
            server.wait()
    single = runs[0]["cases_per_second"]
    for run in runs:
        run["speedup"] = round(run["cases_per_second"] / single, 2)
    killed["extra_seconds"] = round(
        killed["server_span_seconds"] - largest["server_span_seconds"], 2
    )
    print(
        json.dumps(
            {
                "benchmark": "scaleout",
                "store": "postgres",
                "cases": args.cases,
                "delay_s": args.delay,
                "concurrency_per_worker": args.concurrency,
                "runs": runs,
                "killed_worker": killed,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Latency-bound: N cases against a local server that answers after 100 ms,
at 64 concurrent requests. Target: wall time within 10% of N x 0.1 s / 64.

    ./dev python bench/latency_bound.py [--cases 2000] [--concurrency 64] [--delay 0.1]
                                        [--store sqlite|postgres]

The generator is the vLLM adapter when themis-adapters-vllm is installed
(the real wire path: aiohttp to an OpenAI-compatible server), else a minimal
httpx generator with the same request shape. For reference, the same
requests are first sent by a bare aiohttp client with no Themis at all: the
floor this machine and server allow. For both, the server's log gives the
start-up (until the first request arrives) and the wind-down (from the last
answer until the client returns). ``--store postgres`` stores the run in a
throwaway PostgreSQL server instead of SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx2 as httpx
from _common import STORES, bench_store, dataset, machine
from slow_server import event_loop_name

from themis import Experiment, RuntimeConfig
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, GenerationResult

CHAT_BODY = {"model": "bench", "messages": [{"role": "user", "content": "2+2"}]}
"""What every request of this benchmark sends, from the bare client or not."""


class HttpChatGenerator:
    component_id = "bench/http_chat"
    version = "1"

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.base_url = base_url
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30)

    def fingerprint(self) -> str:
        return "bench-http-chat"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        response = await self.client.post(
            "/v1/chat/completions",
            json=CHAT_BODY,
        )
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": text})


def generator_for(base_url: str, concurrency: int) -> tuple[Any, str]:
    try:
        from themis.adapters import vllm

        return vllm("bench", base_url=f"{base_url}/v1"), "themis-adapters-vllm"
    except Exception:
        return HttpChatGenerator(base_url, concurrency), "bench httpx generator"


async def bare_client(base_url: str, cases: int, concurrency: int) -> None:
    """The same requests with no framework: aiohttp, a semaphore, nothing stored."""
    import aiohttp

    url = f"{base_url}/v1/chat/completions"
    slots = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with slots, session.post(url, json=CHAT_BODY) as response:
                (await response.json())["choices"][0]["message"]["content"]

        await asyncio.gather(*(one() for _ in range(cases)))


def server_stats(base_url: str, started: float, ended: float) -> dict[str, float]:
    """How long the client took to send its first request, and to return after
    the server answered its last one (wall clock, from the server's log)."""
    with urllib.request.urlopen(f"{base_url}/bench-stats") as response:
        stats = json.loads(response.read())
    return {
        "startup_ms": round((stats["first_request"] - started) * 1000, 1),
        "wind_down_ms": round((ended - stats["last_response"]) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--plain", action="store_true", help="use the bench httpx generator")
    parser.add_argument("--store", default="sqlite", choices=STORES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        server = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("slow_server.py")),
                str(port_file),
                str(args.delay),
            ]
        )
        try:
            while not port_file.exists() or not port_file.read_text():
                time.sleep(0.02)
            base_url = f"http://127.0.0.1:{port_file.read_text()}"
            if args.plain:
                generator, which = (
                    HttpChatGenerator(base_url, args.concurrency),
                    "bench httpx generator",
                )
            else:
                generator, which = generator_for(base_url, args.concurrency)
            # Timed end to end, event loop included, as the run below is.
            started, wall_started = time.perf_counter(), time.time()
            asyncio.run(bare_client(base_url, args.cases, args.concurrency))
            reference = time.perf_counter() - started
            bare_stats = server_stats(base_url, wall_started, time.time())
            experiment = Experiment(
                generation=GenerationConfig(generator=generator),
                evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
                datasets=[dataset(args.cases)],
                seeds=[0],
            )
            runtime = RuntimeConfig(max_concurrent_tasks=args.concurrency, progress="off")
            with bench_store(args.store, Path(tmp)) as (store, _):
                started, wall_started = time.perf_counter(), time.time()
                result = experiment.run(store=store, runtime=runtime)
                elapsed = time.perf_counter() - started
                themis_stats = server_stats(base_url, wall_started, time.time())
        finally:
            server.kill()
            server.wait()
    ideal = args.cases * args.delay / args.concurrency
    print(
        json.dumps(
            {
                "benchmark": "latency_bound",
                "generator": which,
                "store": args.store,
                "cases": args.cases,
                "status": result.status.value,
                "concurrency": args.concurrency,
                "delay_s": args.delay,
                "server_event_loop": event_loop_name(),
                "seconds": round(elapsed, 3),
                "ideal_seconds": round(ideal, 3),
                "overhead_percent": round((elapsed / ideal - 1) * 100, 1),
                **themis_stats,
                "bare_client_seconds": round(reference, 3),
                "bare_client_overhead_percent": round((reference / ideal - 1) * 100, 1),
                "bare_client_startup_ms": bare_stats["startup_ms"],
                "bare_client_wind_down_ms": bare_stats["wind_down_ms"],
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

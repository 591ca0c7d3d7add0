"""The benchmarks under bench/ keep running, at a size that takes a second.

Their numbers are not checked here (they live in docs/performance.md); what
is checked is that each one completes and reports what it promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import require_postgres_binaries

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_engine_overhead_bench() -> None:
    report = run_bench("engine_overhead.py", "--cases", "200")
    assert report["status"] == "completed" and report["cases"] == 200


def test_engine_overhead_bench_on_postgres() -> None:
    require_postgres_binaries()
    report = run_bench("engine_overhead.py", "--cases", "200", "--store", "postgres")
    assert report["status"] == "completed" and report["store"] == "postgres"
    assert report["events_committed"] == 200 * 4 + 2  # 4 stages per case, run start and end


def test_latency_bound_bench_on_postgres() -> None:
    require_postgres_binaries()
    report = run_bench(
        "latency_bound.py",
        "--cases",
        "64",
        "--concurrency",
        "16",
        "--delay",
        "0.01",
        "--store",
        "postgres",
    )
    assert report["status"] == "completed" and report["store"] == "postgres"
    assert report["seconds"] >= report["ideal_seconds"] == 0.04


def test_latency_bound_bench_times_themis_and_a_bare_client() -> None:
    report = run_bench(
        "latency_bound.py", "--cases", "64", "--concurrency", "16", "--delay", "0.01"
    )
    assert report["status"] == "completed"
    assert report["generator"] == "themis-adapters-vllm"
    assert report["server_event_loop"] == "uvloop"
    # Nobody beats the server's delay: 4 rounds of 16 requests, 10 ms each.
    assert report["seconds"] >= report["ideal_seconds"] == 0.04
    assert report["bare_client_seconds"] >= 0.04
    assert report["startup_ms"] > 0 and report["wind_down_ms"] > 0


def test_resume_bench_repeats_no_stored_work() -> None:
    report = run_bench("resume.py", "--cases", "300")
    assert report["repeated_calls_of_stored_work"] == 0
    assert 0 < report["generations_stored_at_kill"] < 300


def test_memory_bench() -> None:
    report = run_bench("memory.py", "--cases", "300")
    assert report["run"]["status"] == report["resume"]["status"] == "completed"
    assert report["run"]["cases_in_result"] == report["resume"]["cases_in_result"] == 300
    assert report["run"]["generator_calls"] == 300
    assert 0 < report["resume"]["generator_calls"] < 300  # only what the killed run left
    assert report["resume"]["seconds_to_first_generator_call"] is not None


def test_html_report_bench_exports_and_browses() -> None:
    browser = Path("/usr/bin/chromium").exists()
    report = run_bench("html_report.py", "--cases", "300", *([] if browser else ["--no-browser"]))
    assert report["status"] == "completed" and report["cases"] == 300
    assert report["html_mib"] > 0
    if browser:
        assert report["browser"]["load_s"] > 0 and report["browser"]["open_case_s"] > 0


def test_durability_window_bench_reports_the_uncommitted_window() -> None:
    report = run_bench("durability_window.py", "--cases", "400", "--sample-ms", "5")
    assert report["status"] == "completed" and report["samples"] > 0
    assert report["uncommitted_answers_peak"] >= report["uncommitted_answers_p95"] >= 0
    assert report["oldest_uncommitted_ms_peak"] >= report["oldest_uncommitted_ms_p95"] >= 0


def test_startup_bench_times_import_and_help_without_numpy() -> None:
    report = run_bench("startup.py", "--runs", "1")
    assert report["import themis"]["median_s"] > 0 and report["themis --help"]["median_s"] > 0
    assert report["numpy imported by import themis"] is False


def test_scaleout_bench() -> None:
    require_postgres_binaries()
    report = run_bench(
        "scaleout.py",
        "--cases",
        "64",
        "--delay",
        "0.01",
        "--workers",
        "1,2",
        "--kill-lease-s",
        "1",
    )
    assert [run["workers"] for run in report["runs"]] == [1, 2]
    for run in [*report["runs"], report["killed_worker"]]:
        assert run["every_result_covers_the_run"] and run["every_case_stored_once"]
        assert run["calls"] >= 64
    assert report["runs"][0]["duplicated_calls"] == 0

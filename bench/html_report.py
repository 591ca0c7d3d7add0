"""HTML report at scale: build a run, export it as one HTML file, and time a
real headless Chromium loading it, searching it and opening a case.

    ./dev python bench/html_report.py [--cases 100000] [--no-browser] [--keep report.html]

Each case has a sentence-long answer, an exact-match score and a judge call
(prompt, verdict) from the demo judge, so the detail a drill-down opens is
the size of a real judged case. Needs /usr/bin/chromium for the browser part.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, peak_rss_mib

from themis import Experiment, Reporter, RuntimeConfig, SqliteRunStore
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, Dataset, GenerationResult

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


class SentenceGenerator:
    """Answers ``a+b`` in a sentence at once; every seventh case is wrong."""

    component_id = "bench/sentence"
    version = "1"

    def fingerprint(self) -> str:
        return "bench-sentence"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        number = int(case.case_id[1:])
        answer = number * 2 + (1 if number % 7 == 0 else 0)
        return GenerationResult(
            candidate_id=case.case_id,
            final_output=f"Adding {number} and {number} gives {answer}; so the answer is {answer}.",
            token_usage={"input_tokens": 24, "output_tokens": 18},
        )


def dataset(count: int) -> Dataset:
    return Dataset(
        dataset_id="bench",
        cases=[
            Case(case_id=f"c{i}", input={"question": f"{i}+{i}"}, expected_output=str(2 * i))
            for i in range(count)
        ],
    )


def browse(report: Path, case_id: str) -> dict[str, float]:
    """Seconds to load the page, to find one case by search, to open its detail."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        started = time.perf_counter()
        page.goto(report.as_uri(), timeout=300_000)
        page.wait_for_selector("body[data-ready=true]", timeout=300_000)
        loaded = time.perf_counter() - started
        key = f"bench::{case_id}"
        started = time.perf_counter()
        page.fill("#search", f"{key} ")
        row = page.locator(f'#case-table tbody tr[data-case="{key}"]')
        row.wait_for(timeout=60_000)
        page.wait_for_selector("#case-table tbody tr >> nth=0")
        searched = time.perf_counter() - started
        filter_ms = page.inner_text("#search-time")
        started = time.perf_counter()
        row.click()
        page.wait_for_selector("#detail-body pre.verdict", timeout=60_000)
        opened = time.perf_counter() - started
        started = time.perf_counter()
        page.fill("#search", "")
        page.locator("#case-table tbody tr >> nth=49").wait_for(timeout=60_000)
        page.click("#next")
        page.wait_for_selector("text=page 2 of")
        paged = time.perf_counter() - started
        browser.close()
    if problems:
        raise RuntimeError(f"the page reported errors: {problems}")
    return {
        "load_s": round(loaded, 2),
        "search_s": round(searched, 3),
        "search_filter_in_page": filter_ms,
        "open_case_s": round(opened, 3),
        "clear_search_and_page_s": round(paged, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", type=Path, help="Also save the report here.")
    args = parser.parse_args()
    experiment = Experiment(
        generation=GenerationConfig(generator=SentenceGenerator()),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/number"],
            judge_models=["builtin/demo_judge"],
        ),
        datasets=[dataset(args.cases)],
        seeds=[0],
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteRunStore(Path(tmp) / "bench.sqlite", synchronous="NORMAL")
        started = time.perf_counter()
        result = experiment.run(
            store=store, runtime=RuntimeConfig(max_concurrent_tasks=64, progress="off")
        )
        run_s = time.perf_counter() - started
        rss_before_export = peak_rss_mib()
        started = time.perf_counter()
        html = Reporter(store).export_html(result.run_id)
        export_s = time.perf_counter() - started
        store.close()
        report = Path(tmp) / "report.html"
        report.write_text(html, encoding="utf-8")
        if args.keep:
            shutil.copyfile(report, args.keep)
        browser = None
        if not args.no_browser:
            browser = browse(report, f"c{args.cases * 7 // 9}")
    print(
        json.dumps(
            {
                "benchmark": "html_report",
                "cases": args.cases,
                "status": result.status.value,
                "run_s": round(run_s, 1),
                "export_html_s": round(export_s, 1),
                "html_mib": round(len(html.encode()) / 2**20, 1),
                "peak_rss_after_run_mib": round(rss_before_export, 1),
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "browser": browser,
                "machine": machine(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

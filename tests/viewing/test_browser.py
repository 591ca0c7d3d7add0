"""The HTML report, the comparison and the viewer in a real headless Chromium.

Each test opens a view, searches for a case, opens its drill-down and checks
that the model's output and a judge's verdict are on screen and that the
console stayed clean, then takes a screenshot. With THEMIS_UPDATE_SCREENSHOTS=1
the screenshots also replace the ones in docs/images/.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from tests.conftest import REPO_ROOT
from tests.viewing.conftest import WatchedPage
from tests.viewing.helpers import TalkativeGenerator, talkative_experiment
from themis import Reporter, SqliteRunStore
from themis.core.analysis.viewer import RunViewer, ViewerServer

DOCS_IMAGES = REPO_ROOT / "docs" / "images"
T = TypeVar("T")


def off_the_loop(work: Callable[[], T]) -> T:
    """Run ``work`` in its own thread: Playwright's sync API keeps an event loop
    running in this one, where Themis's sync API refuses to run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def screenshot(page: WatchedPage, tmp_path: Path, name: str, *, full_page: bool = False) -> Path:
    shot = tmp_path / f"{name}.png"
    page.page.screenshot(path=str(shot), full_page=full_page)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one
    if os.environ.get("THEMIS_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_IMAGES / f"{name}.png")
    return shot


def open_case(page: WatchedPage, query: str, key: str) -> str:
    """Search, click the one matching row, wait for the drill-down; its text."""
    p = page.page
    p.fill("#search", query)
    p.wait_for_function(
        "k => document.querySelectorAll('#case-table tbody tr').length === 1 && "
        "document.querySelector('#case-table tbody tr').dataset.case === k",
        arg=key,
    )
    p.click(f'#case-table tbody tr[data-case="{key}"]')
    p.wait_for_selector("#detail-body h2")
    return p.inner_text("#detail-body")


@pytest.fixture
def two_runs(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(path)
    first = off_the_loop(
        lambda: talkative_experiment(TalkativeGenerator(), count=12).run(store=store)
    )
    second = off_the_loop(
        lambda: talkative_experiment(
            TalkativeGenerator(wrong=("c4",), model="other"), count=12
        ).run(store=store)
    )
    store.close()
    yield path, first.run_id, second.run_id


def test_html_report_search_and_drill_down(
    page: WatchedPage, two_runs: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, run_id, _ = two_runs
    store = SqliteRunStore(path)
    report = tmp_path / "report.html"
    report.write_text(Reporter(store).export_html(run_id), encoding="utf-8")
    store.close()
    p = page.page
    p.goto(report.as_uri())
    p.wait_for_selector("body[data-ready=true]")
    assert "12 cases" in p.inner_text("#count")
    assert p.locator("#metrics svg.plot").count() == 2
    screenshot(page, tmp_path, "report", full_page=True)
    # Filter by status: the one failed case.
    p.select_option("#status-filter", "failed")
    p.wait_for_function("document.querySelectorAll('#case-table tbody tr').length === 1")
    assert "arith::c3" in p.inner_text("#case-table tbody")
    p.select_option("#status-filter", "")
    text = open_case(page, "c1 21", "arith::c1")
    assert "The answer is 21, said talker." in text  # the model's output
    assert "VERDICT: FAIL" in text  # the judge's verdict
    assert "think" in text and "Parsed value" in text
    screenshot(page, tmp_path, "report-case")
    verdict = p.locator("#detail-body pre.verdict").first
    assert verdict.is_visible() and verdict.inner_text().startswith("VERDICT: FAIL")
    verdict.scroll_into_view_if_needed()
    screenshot(page, tmp_path, "report-judge")
    # The drill-down is linkable: reopening the URL reopens the case.
    assert p.url.endswith("#case=arith%3A%3Ac1")
    p.reload()
    p.wait_for_selector("#detail-body h2")
    assert "The answer is 21" in p.inner_text("#detail-body")
    # The failed case shows its error and the retried attempts.
    p.click("#close-detail")
    failed = open_case(page, "c3", "arith::c3")
    assert "ConnectionError: model server hung up on arith::c3" in failed
    assert "3 attempts" in failed
    assert page.problems == []


def test_comparison_shows_disagreeing_outputs_side_by_side(
    page: WatchedPage, two_runs: tuple[Path, str, str], tmp_path: Path
) -> None:
    path, first, second = two_runs
    store = SqliteRunStore(path)
    comparison = tmp_path / "compare.html"
    comparison.write_text(Reporter(store).export_comparison_html([first, second]))
    store.close()
    p = page.page
    p.goto(comparison.as_uri())
    p.wait_for_selector("body[data-ready=true]")
    assert p.locator("#case-table tbody tr").count() == 2  # c1 and c4 disagree
    text = open_case(page, "c4", "arith::c4")
    assert "The answer is 8, said talker." in text
    assert "The answer is 81, said other." in text
    assert "VERDICT: FAIL" in text and "VERDICT: PASS" in text
    screenshot(page, tmp_path, "compare")
    assert page.problems == []


@pytest.fixture
def viewer(two_runs: tuple[Path, str, str]) -> Iterator[tuple[ViewerServer, Path]]:
    path = two_runs[0]
    store = SqliteRunStore(path)
    server = ViewerServer(RunViewer(store))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server, path
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        store.close()


def test_viewer_lists_runs_opens_a_report_and_compares(
    page: WatchedPage,
    viewer: tuple[ViewerServer, Path],
    two_runs: tuple[Path, str, str],
    tmp_path: Path,
) -> None:
    server, _ = viewer
    _, first, second = two_runs
    assert server.url.startswith("http://127.0.0.1:")
    p = page.page
    p.goto(server.url)
    p.wait_for_selector("body[data-ready=true]")
    listing = p.inner_text("#runs")
    assert first in listing and second in listing and "test/talkative" in listing
    screenshot(page, tmp_path, "viewer")
    p.click(f"text={first}")
    p.wait_for_selector("body[data-ready=true]")
    text = open_case(page, "c1 21", "arith::c1")
    assert "The answer is 21, said talker." in text and "VERDICT: FAIL" in text
    screenshot(page, tmp_path, "viewer-case")
    p.goto(server.url)
    p.check(f'input[value="{first}"]')
    p.check(f'input[value="{second}"]')
    p.click("#compare")
    p.wait_for_selector("body[data-ready=true]")
    assert p.locator("#case-table tbody tr").count() == 2
    # Ticked in a newest-first list, compared with the oldest run as the baseline.
    baseline_row = p.locator("table.static tbody tr").first.inner_text()
    assert baseline_row.startswith("baseline") and first in baseline_row
    assert page.problems == []


def test_viewer_page_refreshes_while_the_run_goes_on(
    page: WatchedPage, viewer: tuple[ViewerServer, Path]
) -> None:
    server, path = viewer
    experiment = talkative_experiment(TalkativeGenerator(model="live"), count=6)
    store = SqliteRunStore(path)
    partial = off_the_loop(lambda: experiment.run(store=store, until_stage="generate"))
    p = page.page
    p.goto(f"{server.url}runs/{partial.run_id}")
    p.wait_for_selector("body[data-ready=true]")
    assert p.locator("#metrics svg.plot").count() == 0
    # Scoring and judging land while the page is open.
    off_the_loop(lambda: experiment.resume(store=store))
    store.close()
    # The page polls the viewer and reloads itself (a selector wait survives the reload).
    p.locator("#metrics svg.plot").nth(1).wait_for(timeout=15_000)
    assert "through judge" in p.inner_text("#run-header")
    assert page.problems == []

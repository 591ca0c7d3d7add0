"""A stored SQLite run with judged cases, a wrong answer, a retried call and a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.viewing.helpers import TalkativeGenerator, talkative_experiment
from themis import SqliteRunStore

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page


@pytest.fixture(scope="package")
def talkative_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(store path, run id) of a 5-case judged run: c1 wrong, c2 retried, c3 failed."""
    path = tmp_path_factory.mktemp("viewing") / "runs.sqlite"
    store = SqliteRunStore(path)
    try:
        result = talkative_experiment(TalkativeGenerator()).run(store=store)
    finally:
        store.close()
    return path, result.run_id


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium driven by Playwright; skipped locally when
    chromium is not installed, an error under CI (CI=true), where .ci/run installs it.

    Module-scoped: Playwright's sync API keeps an event loop running in the
    test thread while it is open, where Themis's own sync API will not run.
    """
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class WatchedPage:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")


@pytest.fixture
def page(browser: Browser) -> Iterator[WatchedPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    try:
        yield WatchedPage(context.new_page())
    finally:
        context.close()

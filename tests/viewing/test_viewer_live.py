"""The viewer's run list follows a run while it goes, not only its status changes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.conftest import make_experiment
from themis import SqliteRunStore, sqlite_store
from themis.core.analysis.viewer import RunViewer
from themis.core.config import GenerationConfig, RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, Dataset, GenerationResult


class Gated:
    """Answers case ``a`` at once, ``b`` once ``gate`` opens, ``c`` once ``last`` opens."""

    component_id = "test/gated"
    version = "1"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.last = threading.Event()

    def fingerprint(self) -> str:
        return "gated"

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        if case.case_id != "a":
            (self.gate if case.case_id == "b" else self.last).wait(30)
        return GenerationResult(candidate_id=ctx.case_key, final_output="1")


def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_run_list_version_moves_while_a_run_stores_results(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    generator = Gated()
    experiment = make_experiment(
        generation=GenerationConfig(generator=generator),
        datasets=[
            Dataset(
                dataset_id="d",
                cases=[Case(case_id=c, input=c, expected_output=1) for c in "abc"],
            )
        ],
        runtime=RuntimeConfig(progress="off"),
    )
    store = sqlite_store(path)
    store.initialize()  # the viewer opens an existing store
    viewer = RunViewer(SqliteRunStore(path))
    running = threading.Thread(target=lambda: experiment.run(store=store))
    running.start()
    try:
        # Case a is stored through scoring while b and c wait: the run is still running.
        _until(lambda: ":running:" in viewer.store_version() and viewer.overviews()[0].work_items)
        _until(lambda: viewer.overviews()[0].metric_means)
        first = viewer.store_version()
        items = viewer.overviews()[0].work_items
        assert ":running:" in first
        # Case b is stored; c still waits, so the run's status has not changed.
        generator.gate.set()
        _until(lambda: viewer.overviews()[0].work_items > items)
        assert ":running:" in viewer.store_version()
        assert viewer.store_version() != first
    finally:
        generator.gate.set()
        generator.last.set()
        running.join()

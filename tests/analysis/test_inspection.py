"""Inspection helpers on local and imported runs: quickcheck, execution state, snapshot report."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.analysis.helpers import ReplayableGenerator, replayable_experiment
from themis import (
    InMemoryRunStore,
    RuntimeConfig,
    export_generation_bundle,
    get_execution_state,
    get_run_snapshot,
    import_generation_bundle,
    quickcheck,
    snapshot_report,
)
from themis.core.storage.stores.base import UnknownRunError


class HalfBroken(ReplayableGenerator):
    def generate(self, case: Any, ctx: Any) -> Any:
        if case.case_id in ("c3", "c4"):
            raise ConnectionError("server went away")
        return super().generate(case, ctx)


def test_quickcheck_counts_stages_failures_and_means(store: Any) -> None:
    run = replayable_experiment(HalfBroken()).run(store=store, runtime=RuntimeConfig(max_retries=0))
    summary = quickcheck(store, run.run_id)
    assert summary["status"] == "partial_failure"
    assert summary["stages"]["generate"] == {"pending": 0, "done": 3, "failed": 2, "cached": 0}
    assert summary["stages"]["score"]["done"] == 6  # 3 cases x 2 metrics
    assert summary["failures_by_category"] == {"connection": 2}
    assert summary["metric_means"] == {
        "builtin/exact_match": pytest.approx(2 / 3),
        "builtin/token_f1": pytest.approx(2 / 3),
    }
    json.dumps(summary)  # plain JSON


def test_imported_run_shows_what_is_left_to_do() -> None:
    source = InMemoryRunStore()
    run = replayable_experiment(ReplayableGenerator()).run(store=source)
    target = InMemoryRunStore()
    import_generation_bundle(target, export_generation_bundle(source, run.run_id))
    state = get_execution_state(target, run.run_id)
    assert state.stages["generate"].done == 5
    assert state.stages["reduce"].pending == 5 and state.stages["score"].pending == 10
    assert quickcheck(target, run.run_id)["metric_means"] == {}


def test_snapshot_report_summarises_identity_and_provenance() -> None:
    store = InMemoryRunStore()
    run = replayable_experiment(ReplayableGenerator()).run(store=store)
    report = snapshot_report(get_run_snapshot(store, run.run_id), {"note": "nightly"})
    assert report["run_id"] == run.run_id
    assert report["datasets"] == [{"dataset_id": "arith", "revision": None, "cases": 5}]
    kinds = [component["kind"] for component in report["components"]]  # type: ignore[index]
    assert kinds == ["generator", "reducer", "parser", "metric", "metric"]
    assert report["seeds"] == [7] and report["run_metadata"] == {"note": "nightly"}
    with pytest.raises(UnknownRunError, match="recent runs"):
        get_run_snapshot(store, "run-unknown")

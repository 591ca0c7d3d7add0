"""RuntimeConfig.existing_run_policy: what run() does with a run the store already holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import themis, user_error
from tests.conftest import arithmetic_dataset, make_experiment
from themis import RuntimeConfig, SqliteRunStore
from themis.core.config import GenerationConfig
from themis.core.engine.runner import ExistingRunError
from themis.core.events import GenerationCompletedEvent, RunStartedEvent
from themis.core.models import Case, GenerationResult, RunStatus


class Counting:
    component_id = "test/policy_counting"
    version = "1"

    def __init__(self) -> None:
        self.calls = 0

    def fingerprint(self) -> str:
        return "policy-counting"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        self.calls += 1
        return GenerationResult(
            candidate_id=f"{case.case_id}-{self.calls}", final_output={"answer": "0"}
        )


def experiment(generator: Counting) -> Any:
    return make_experiment(
        generation=GenerationConfig(generator=generator, reducer="builtin/majority_vote"),
        datasets=[arithmetic_dataset(count=2)],
    )


def runtime(policy: str) -> RuntimeConfig:
    return RuntimeConfig(existing_run_policy=policy, progress="off")  # type: ignore[arg-type]


def test_auto_reuses_what_is_stored(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    generator = Counting()
    experiment(generator).run(store=store, runtime=runtime("auto"))
    experiment(generator).run(store=store, runtime=runtime("auto"))
    assert generator.calls == 2  # two cases, generated once


def test_error_refuses_a_stored_run_before_any_work(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    generator = Counting()
    first = experiment(generator).run(store=store, runtime=runtime("error"))  # not stored yet
    assert first.status is RunStatus.completed
    events = len(list(store.iter_events(first.run_id)))
    with pytest.raises(ExistingRunError, match=rf"{first.run_id} is already in the store"):
        experiment(generator).run(store=store, runtime=runtime("error"))
    assert generator.calls == 2
    assert len(list(store.iter_events(first.run_id))) == events


def test_rerun_recomputes_everything_and_keeps_the_old_events(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    generator = Counting()
    first = experiment(generator).run(store=store)
    old_ids = {e.event_id for e in store.iter_events(first.run_id)}
    again = experiment(generator).run(store=store, runtime=runtime("rerun"))
    assert again.run_id == first.run_id
    assert generator.calls == 4  # generated again, not reused
    assert again.stage_counts["generate"].cached == 0
    events = list(store.iter_events(first.run_id))
    assert old_ids <= {e.event_id for e in events}  # the old events are still readable
    generated = [e for e in events if isinstance(e, GenerationCompletedEvent)]
    assert len(generated) == 4
    assert [e.mode for e in events if isinstance(e, RunStartedEvent)] == ["run", "rerun"]
    newest = {c.generated_candidates[0].candidate_id for c in again.cases}
    assert newest == {"c0-3", "c1-4"} or newest == {"c0-4", "c1-3"}  # the new candidates
    # The read models show the rerun's results, one row per work item.
    assert (
        len(store.work_items(first.run_id))
        == len([e for e in events if getattr(e, "work_key", None)]) // 2
    )
    assert store.resume(first.run_id) is not None


def test_a_bad_policy_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="existing_run_policy"):
        RuntimeConfig(existing_run_policy="sometimes")  # type: ignore[arg-type]


def test_the_cli_reports_error_policy_as_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "generation: {generator: builtin/demo_generator}\n"
        "evaluation: {parsers: [builtin/number], metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: {question: '2+2'},\n"
        "  expected_output: '4'}]}]\n"
        "storage: {store: sqlite, path: runs.sqlite}\n"
    )
    first = themis("run", "--config", "e.yaml", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    line = user_error(
        themis(
            "run", "--config", "e.yaml", "--set", "runtime.existing_run_policy=error", cwd=tmp_path
        )
    )
    assert "already in the store" in line
    rerun = themis(
        "run", "--config", "e.yaml", "--set", "runtime.existing_run_policy=rerun", cwd=tmp_path
    )
    assert rerun.returncode == 0, rerun.stderr

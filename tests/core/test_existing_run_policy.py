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
from themis.core.models import Case, GenerationResult, RunStatus
from themis.core.storage.events import GenerationCompletedEvent, RunStartedEvent


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


@pytest.mark.parametrize("policy", ["error", "rerun"])
def test_resume_continues_the_stored_run_whatever_the_policy(tmp_path: Path, policy: str) -> None:
    """A resume is for a run the store holds: `error` must not refuse it and
    `rerun` must not throw its finished work away."""
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    generator = Counting()
    built = experiment(generator).model_copy(update={"runtime": runtime(policy)})
    stopped = built.run(store=store, until_stage="generate")
    assert generator.calls == 2
    resumed = built.resume(store=store)
    assert resumed.run_id == stopped.run_id and resumed.status is RunStatus.completed
    assert generator.calls == 2  # the stored candidates were reused
    again = built.resume(store=store, runtime=runtime(policy))
    assert again.status is RunStatus.completed and generator.calls == 2


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


def test_the_cli_takes_the_policy_as_an_option(tmp_path: Path) -> None:
    """`themis run --existing-run-policy` overrides the config's runtime setting,
    as `--progress` does: error refuses the stored run, rerun regenerates it."""
    (tmp_path / "e.yaml").write_text(
        "generation: {generator: builtin/demo_generator}\n"
        "evaluation: {parsers: [builtin/number], metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: {question: '2+2'},\n"
        "  expected_output: '4'}]}]\n"
        "runtime: {existing_run_policy: error}\n"
        "storage: {store: sqlite, path: runs.sqlite}\n"
    )
    assert themis("run", "--config", "e.yaml", cwd=tmp_path).returncode == 0
    assert "already in the store" in user_error(themis("run", "--config", "e.yaml", cwd=tmp_path))
    rerun = themis("run", "--config", "e.yaml", "--existing-run-policy", "rerun", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    store.initialize()
    (stored,) = store.list_runs()
    events = store.iter_events(stored.run_id)
    generated = [e for e in events if isinstance(e, GenerationCompletedEvent)]
    assert len(generated) == 2  # generated once by the first run, again by the rerun
    refused = themis("run", "--config", "e.yaml", "--existing-run-policy", "error", cwd=tmp_path)
    assert "existing_run_policy is 'error'" in user_error(refused)
    resumed = themis("resume", "--config", "e.yaml", cwd=tmp_path)  # resume ignores the policy
    assert resumed.returncode == 0, resumed.stderr


def test_the_errors_are_public_names() -> None:
    """What a user catches is importable from themis.core, not only from the engine."""
    import themis.core
    from themis.core.engine.plan import CandidateSeedsError

    assert themis.core.ExistingRunError is ExistingRunError
    assert themis.core.CandidateSeedsError is CandidateSeedsError
    assert {"ExistingRunError", "CandidateSeedsError"} <= set(themis.core.__all__)

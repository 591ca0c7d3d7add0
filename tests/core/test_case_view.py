"""RunResult.cases reads a run's cases back from its store (issue 19, item 6).

The view must return exactly the cases the run used to hold in a list (the
fold of each case's latest stored events), on every store, and must not hold
them: a run's memory does not grow with its cases.
"""

from __future__ import annotations

import gc
import json
import pickle
import sqlite3
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, fresh_postgres_schema, make_experiment
from themis import Experiment, RuntimeConfig, SqliteRunStore, postgres_store
from themis.core.analysis.inspection import load_run_result
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.engine.case_view import StoredCaseResults
from themis.core.engine.plan import plan_cases
from themis.core.engine.results import build_run_result, fold_case, latest_by_key, stage_counts
from themis.core.errors import StoreError
from themis.core.models import (
    Case,
    CaseResult,
    CaseResults,
    Dataset,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    RunResult,
    RunStatus,
    Score,
    ScoreError,
)


class Moody:
    """A generator that fails on every fifth case and answers badly on every third."""

    component_id = "tests/moody"
    version = "1"

    def fingerprint(self) -> str:
        return "moody-1"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        number = int(case.case_id[1:])
        if number % 5 == 4:
            raise RuntimeError(f"no answer for {case.case_id}")
        answer = "not json" if number % 3 == 2 else f'{{"answer": "{2 * number}"}}'
        return GenerationResult(candidate_id=f"{case.case_id}-a", final_output=answer)


class Picky:
    """Parses JSON text, and fails on anything else."""

    component_id = "tests/picky"
    version = "1"

    def fingerprint(self) -> str:
        return "picky-1"

    def parse(self, candidate: ReducedCandidate, ctx: Any) -> ParsedOutput:
        return ParsedOutput(value=json.loads(str(candidate.final_output)), format="json")


class Fussy:
    """Exact match that refuses to score every seventh case."""

    component_id = "tests/fussy"
    version = "1"

    def fingerprint(self) -> str:
        return "fussy-1"

    def score(self, parsed: ParsedOutput, case: Case, ctx: Any) -> Score | ScoreError:
        if int(case.case_id[1:]) % 7 == 6:
            return ScoreError(metric_id="fussy", reason="cannot judge this one", retryable=False)
        value = parsed.value.get("answer") if isinstance(parsed.value, dict) else None
        expected = case.expected_output or {}
        return Score(metric_id="fussy", value=float(value == expected.get("answer")))


def moody_experiment(count: int = 40) -> Experiment:
    """Two datasets that reuse case ids; failures at every stage after the first."""
    return make_experiment(
        generation=GenerationConfig(generator=Moody(), reducer="builtin/majority_vote"),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match", Fussy()], parsers=[Picky()]),
        datasets=[arithmetic_dataset("left", count), arithmetic_dataset("right", count // 2)],
    )


def folded_list(store: Any, run_id: str, until: str = "judge") -> list[CaseResult]:
    """What RunResult.cases held before it was a view: every case folded from
    the latest of its stored events."""
    snapshot = store.get_snapshot(run_id)
    latest = latest_by_key(store.iter_events(run_id))
    return [fold_case(plan, latest.get(plan.case_key, {}), until) for plan in plan_cases(snapshot)]


def test_the_view_returns_exactly_the_cases_the_list_held(store: Any) -> None:
    result = moody_experiment().run(store=store)
    expected = folded_list(store, result.run_id)
    assert isinstance(result.cases, StoredCaseResults)
    assert result.status is RunStatus.partial_failure
    statuses = {case.status for case in expected}
    assert statuses == {RunStatus.completed, RunStatus.failed}
    assert any(case.score_errors for case in expected)  # every kind of outcome is covered
    assert any(error.stage == "parse" for case in expected for error in case.errors)
    assert list(result.cases) == expected
    assert result.cases == expected and expected == result.cases
    assert len(result.cases) == 60
    assert [result.cases[i] for i in range(60)] == expected
    assert result.cases[-1] == expected[-1] and result.cases[-60] == expected[0]
    assert result.cases[5:17] == expected[5:17] and result.cases[::7] == expected[::7]
    assert result.cases[50:200] == expected[50:] and result.cases[30:10] == []
    assert expected[3] in result.cases
    with pytest.raises(IndexError, match="out of range for a run of 60 cases"):
        result.cases[60]
    assert result.failed_cases == [case for case in expected if case.status is RunStatus.failed]
    # The aggregates, tallied as cases finished, are those of the folded list.
    plans = plan_cases(result_snapshot := store.get_snapshot(result.run_id))
    folded = build_run_result(
        result.run_id,
        expected,
        "judge",
        stage_counts(plans, latest_by_key(store.iter_events(result.run_id))),
        metric_ids=[ref.name for ref in result_snapshot.component_refs.metrics],
    )
    assert folded.model_dump() == result.model_dump()
    assert result == folded == load_run_result(store, result.run_id)


def test_a_small_page_size_reads_the_same_cases(store: Any) -> None:
    result = moody_experiment(12).run(store=store)
    snapshot = store.get_snapshot(result.run_id)
    for page_size in (1, 5, 7, 100):
        view = StoredCaseResults(store, snapshot, "judge", page_size=page_size)
        assert list(view) == folded_list(store, result.run_id)
        assert [view[i] for i in reversed(range(len(view)))] == list(reversed(list(view)))


def test_a_run_stopped_early_folds_to_its_last_stage(store: Any) -> None:
    result = moody_experiment(12).run(store=store, until_stage="parse")
    assert result.cases == folded_list(store, result.run_id, "parse")
    assert all(not case.scores for case in result.cases)


def test_the_result_dumps_and_validates_like_a_list_of_cases(store: Any) -> None:
    result = make_experiment().run(store=store)
    dumped = result.model_dump()
    assert [case["case_id"] for case in dumped["cases"]] == ["c0", "c1", "c2", "c3"]
    again = RunResult.model_validate_json(result.model_dump_json())
    assert type(again.cases) is CaseResults and again == result
    assert again.cases == result.cases and repr(again.cases).startswith("[CaseResult(")
    assert RunResult.model_validate(dumped) == result
    assert RunResult.model_json_schema()["properties"]["cases"]["items"] == {
        "$ref": "#/$defs/CaseResult"
    }
    assert "cases=4" in repr(result.cases)
    copied = pickle.loads(pickle.dumps(result))  # the cases themselves, not the store
    assert type(copied.cases) is CaseResults and copied == result


def test_the_view_reopens_a_closed_store_and_names_one_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(path)
    result = make_experiment().run(store=store)
    expected = list(result.cases)
    store.close()
    assert list(result.cases) == expected  # a closed SQLite store reopens on the next read
    store.close()
    path.unlink()
    with pytest.raises(StoreError, match=f"RunResult.cases of run {result.run_id} reads"):
        list(result.cases)


def instant_experiment(count: int) -> Experiment:
    class Instant:
        component_id = "tests/instant"
        version = "1"

        def fingerprint(self) -> str:
            return "instant-1"

        async def generate(self, case: Case, ctx: Any) -> GenerationResult:
            return GenerationResult(candidate_id=case.case_id, final_output={"answer": "4"})

    cases = [
        Case(case_id=f"c{i}", input={"q": i}, expected_output={"answer": "4"}) for i in range(count)
    ]
    return Experiment(
        generation=GenerationConfig(generator=Instant()),
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
        datasets=[Dataset(dataset_id="many", cases=cases)],
        seeds=[0],
    )


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_a_run_and_its_resume_share_the_callers_cases(tmp_path: Path) -> None:
    """The dataset dominates a large run's memory: the snapshot a run (or a
    resume) works from holds the caller's Case objects, never a second copy
    (read back from the store, or revalidated)."""
    experiment = instant_experiment(50)
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    runtime = RuntimeConfig(progress="off")
    for result in (
        experiment.run(store=store, runtime=runtime),
        experiment.resume(store=store, runtime=runtime),
    ):
        assert isinstance(result.cases, StoredCaseResults)
        (used,) = result.cases.snapshot.datasets
        assert used.cases is experiment.datasets[0].cases
        assert result.cases[7].case_id == "c7"


def test_a_run_does_not_hold_its_cases(tmp_path: Path) -> None:
    count = 3_000
    experiment = instant_experiment(count)
    experiment.compile()  # the snapshot (the dataset's cases) is not what is measured
    store = SqliteRunStore(tmp_path / "runs.sqlite", synchronous="NORMAL")
    runtime = RuntimeConfig(max_concurrent_tasks=32, progress="off")
    tracemalloc.start()
    try:
        before = _traced()
        result = experiment.run(store=store, runtime=runtime)
        after_run = _traced()
        for _ in result.cases:
            pass
        after_iterating_once = _traced()
        for _ in result.cases:
            pass
        after_iterating = _traced()
        held = list(result.cases)
        holding = _traced()
    finally:
        tracemalloc.stop()
    assert result.status is RunStatus.completed and result.metric_means == {
        "builtin/exact_match": 1.0
    }
    assert len(held) == count and held[-1].case_id == f"c{count - 1}"
    as_list = holding - after_iterating  # what holding every CaseResult costs
    assert as_list > count * 1000
    # What the run keeps is a small fraction of that, and iterating keeps nothing.
    assert after_run - before < as_list / 10, (after_run - before, as_list)
    assert after_iterating_once - after_run < as_list / 10, (
        after_iterating_once - after_run,
        as_list,
    )
    assert after_iterating - after_iterating_once < as_list / 100, (
        after_iterating - after_iterating_once,
        as_list,
    )


def test_a_version_2_sqlite_store_is_migrated_and_reads_its_cases(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(path)
    result = moody_experiment(12).run(store=store)
    expected = folded_list(store, result.run_id)
    store.close()
    with sqlite3.connect(path) as conn:  # back to schema 2: no event_seq, snapshot in its row
        parts = conn.execute("SELECT data FROM snapshot_parts ORDER BY part").fetchall()
        conn.execute("UPDATE runs SET snapshot = ?", (b"".join(row[0] for row in parts).decode(),))
        conn.execute("DROP TABLE snapshot_parts")
        for table in ("lease_runs", "leases", "lease_workers"):  # schema 4
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP INDEX work_items_by_case")
        conn.execute("ALTER TABLE work_items DROP COLUMN event_seq")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    reopened = SqliteRunStore(path)
    snapshot_model = reopened.get_snapshot(result.run_id)
    assert snapshot_model is not None
    assert list(StoredCaseResults(reopened, snapshot_model, "judge")) == expected
    again = moody_experiment(12).resume(store=reopened)  # nothing left but the failures
    assert again.cases == folded_list(reopened, result.run_id)
    reopened.close()


def test_a_version_2_postgres_store_is_migrated_and_reads_its_cases(postgres_url: str) -> None:
    schema = fresh_postgres_schema()
    store = postgres_store(postgres_url, schema=schema)
    result = moody_experiment(12).run(store=store)
    expected = folded_list(store, result.run_id)
    with store._connection() as conn:
        conn.execute("DROP INDEX work_items_by_case")
        conn.execute("ALTER TABLE work_items DROP COLUMN event_seq")
        conn.execute("DROP TABLE lease_runs, leases, lease_workers")  # schema 4
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    store.close()
    reopened = postgres_store(postgres_url, schema=schema)
    snapshot = reopened.get_snapshot(result.run_id)
    assert snapshot is not None
    assert list(StoredCaseResults(reopened, snapshot, "judge")) == expected
    reopened.close()


class ProgressAtFirstCall:
    """Notes how many cases a run had finished when it first asked the generator."""

    def __init__(self) -> None:
        self.finished = 0
        self.at_first_generate: int | None = None

    def on_progress(self, snapshot: Any) -> None:
        self.finished = snapshot.completed_cases + snapshot.failed_cases

    def before_generate(self, **_: Any) -> None:
        if self.at_first_generate is None:
            self.at_first_generate = self.finished


class FailsFrom:
    """Answers cases numbered below ``first_failure``; the others fail."""

    component_id = "tests/fails_from"
    version = "1"

    def __init__(self, first_failure: int) -> None:
        self.first_failure = first_failure

    def fingerprint(self) -> str:
        return "fails-from"  # the same run, whatever the threshold

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        if int(case.case_id[1:]) >= self.first_failure:
            raise RuntimeError("not yet")
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "4"})


def test_a_resume_sends_new_work_before_the_cases_it_finished(store: Any) -> None:
    def experiment(first_failure: int) -> Experiment:
        cases = [
            Case(case_id=f"c{i}", input={"q": i}, expected_output={"answer": "4"})
            for i in range(64)
        ]
        return Experiment(
            generation=GenerationConfig(generator=FailsFrom(first_failure)),
            evaluation=EvaluationConfig(metrics=["builtin/exact_match"]),
            datasets=[Dataset(dataset_id="d", cases=cases)],
            seeds=[0],
        )

    # Unshared (share_run=False): a run shared through leases walks its chunks instead.
    runtime = RuntimeConfig(max_concurrent_tasks=1, share_run=False)
    first = experiment(48).run(store=store, runtime=runtime)
    assert first.status is RunStatus.partial_failure
    watcher = ProgressAtFirstCall()
    resumed = experiment(64).resume(store=store, runtime=runtime, subscribers=[watcher])
    assert resumed.run_id == first.run_id and resumed.status is RunStatus.completed
    # Cases 0-31 (a whole chunk, all finished) are put off; 32-47 share a chunk
    # with the new work and are folded in order before it.
    assert watcher.at_first_generate == 16
    assert resumed.cases == folded_list(store, resumed.run_id)
    assert resumed.metric_counts["builtin/exact_match"].n == 64


class _Unread(CaseResults):
    """Cases whose iteration is an error: what must not be read is not."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[CaseResult]:
        raise AssertionError("the cases were read back")


def test_failed_count_reads_no_case_back_when_the_status_says_none_or_all() -> None:
    """The CLI summary and each campaign point count failures from the status
    where it says none or all, so a million-case run is not read back."""
    completed = RunResult(run_id="r", status=RunStatus.completed, cases=_Unread(1_000_000))
    failed = RunResult(run_id="r", status=RunStatus.failed, cases=_Unread(7))
    assert completed.failed_count == 0
    assert failed.failed_count == 7
    partial = RunResult(
        run_id="r",
        status=RunStatus.partial_failure,
        cases=CaseResults(
            [
                CaseResult(case_key=f"d::{case}", dataset_id="d", case_id=case, status=status)
                for case, status in (("a", RunStatus.completed), ("b", RunStatus.failed))
            ]
        ),
    )
    assert partial.failed_count == 1

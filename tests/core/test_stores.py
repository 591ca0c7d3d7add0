"""One store contract, run against every store implementation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_experiment
from themis import SqliteRunStore
from themis.core.analysis.inspection import get_execution_state, load_run_result
from themis.core.batching import unfinished_batches
from themis.core.models import GenerationResult, RunStatus
from themis.core.storage.events import (
    BatchFinishedEvent,
    BatchSubmittedEvent,
    GenerationCompletedEvent,
    RunCompletedEvent,
)


def _generation_event(event_id: str, run_id: str = "run-x", work_key: str = "k1") -> Any:
    return GenerationCompletedEvent(
        event_id=event_id,
        run_id=run_id,
        case_key="d::c1",
        dataset_id="d",
        case_id="c1",
        work_key=work_key,
        candidate=GenerationResult(candidate_id="c1-a", final_output={"answer": "4"}),
        seed=1,
        sample_index=0,
    )


def test_append_is_idempotent(store: Any) -> None:
    event = _generation_event("e1")
    assert store.append_events([event]) == [event]
    assert store.append_events([event]) == []
    assert store.append_events([event, _generation_event("e2", work_key="k2")])[0].event_id == "e2"
    assert [e.event_id for e in store.iter_events("run-x")] == ["e1", "e2"]


def test_events_round_trip_with_their_types(store: Any) -> None:
    store.append_events([_generation_event("e1")])
    (event,) = list(store.iter_events("run-x"))
    assert isinstance(event, GenerationCompletedEvent)
    assert event.candidate.final_output == {"answer": "4"}


def test_batch_records_round_trip_and_project_nothing(store: Any) -> None:
    """A provider batch's record lives in the run's stream (see core.batching)."""
    submitted = [
        BatchSubmittedEvent(
            event_id=f"b{n}",
            run_id="run-x",
            component_id="openai/generator",
            component_fingerprint="fp",
            batch_id=f"batch-{n}",
            input_file_id=f"file-{n}",
            endpoint="/v1/chat/completions",
            custom_ids=[f"themis-{n}-{i}" for i in range(3)],
        )
        for n in range(2)
    ]
    finished = BatchFinishedEvent(
        event_id="f0",
        run_id="run-x",
        component_id="openai/generator",
        component_fingerprint="fp",
        batch_id="batch-0",
        status="completed",
    )
    store.append_events([*submitted, finished, _generation_event("e1")])
    events = list(store.iter_events("run-x"))
    assert events[:3] == [*submitted, finished]
    assert [record.batch_id for record in unfinished_batches(events, "fp")] == ["batch-1"]
    assert unfinished_batches(events, "another component") == []
    assert [item.work_key for item in store.work_items("run-x")] == ["k1"]


def test_find_completed_prefers_the_asking_run(store: Any) -> None:
    store.append_events(
        [_generation_event("a", run_id="run-a"), _generation_event("b", run_id="run-b")]
    )
    assert store.find_completed(["k1"], prefer_run_id="run-b")["k1"].run_id == "run-b"
    assert store.find_completed(["k1"], prefer_run_id="run-a")["k1"].run_id == "run-a"
    assert store.find_completed(["missing"]) == {}


def test_projections_follow_events(store: Any) -> None:
    result = make_experiment().run(store=store)
    assert result.status is RunStatus.completed
    rows = store.score_rows(result.run_id)
    assert len(rows) == 4 and all(row.value == 1.0 for row in rows)
    state = get_execution_state(store, result.run_id)
    assert state.status is RunStatus.completed
    assert state.stages["generate"].done == 4 and state.stages["generate"].pending == 0
    stored = store.resume(result.run_id)
    assert stored is not None and stored.status is RunStatus.completed
    assert [run.run_id for run in store.list_runs()] == [result.run_id]


def test_run_result_rebuilt_from_events_matches(store: Any) -> None:
    result = make_experiment().run(store=store)
    rebuilt = load_run_result(store, result.run_id)
    assert rebuilt.model_dump() == result.model_dump()


def test_run_status_projection_updates(store: Any) -> None:
    result = make_experiment().run(store=store)
    store.append_events(
        [RunCompletedEvent(event_id="late", run_id=result.run_id, status=RunStatus.partial_failure)]
    )
    assert store.resume(result.run_id).status is RunStatus.partial_failure


def test_snapshots_are_stored_once_and_unknown_runs_are_none(store: Any) -> None:
    experiment = make_experiment()
    snapshot = experiment.compile()
    store.save_snapshot(snapshot)
    store.save_snapshot(snapshot)
    assert store.get_snapshot(snapshot.run_id) == snapshot
    assert store.get_snapshot("no-such-run") is None and store.resume("no-such-run") is None
    (stored,) = store.list_runs()
    assert stored.status is RunStatus.pending and stored.snapshot == snapshot


def test_runs_are_listed_in_the_order_they_were_stored(store: Any) -> None:
    first = make_experiment(seeds=[1]).run(store=store)
    second = make_experiment(seeds=[2]).run(store=store)
    assert [run.run_id for run in store.list_runs()] == [first.run_id, second.run_id]


def test_many_events_keep_their_order_and_are_all_found(store: Any) -> None:
    events = [_generation_event(f"e{i:05d}", work_key=f"k{i}") for i in range(2500)]
    for start in range(0, len(events), 700):  # batches that straddle read pages and chunks
        store.append_events(events[start : start + 700])
    assert [e.event_id for e in store.iter_events("run-x")] == [e.event_id for e in events]
    found = store.find_completed([f"k{i}" for i in range(2600)])
    assert len(found) == 2500 and found["k1234"].event_id == "e01234"
    assert len(store.work_items("run-x")) == 2500


def test_a_repeat_within_one_batch_is_stored_once(store: Any) -> None:
    event = _generation_event("e1")
    assert store.append_events([event, event]) == [event]
    assert len(list(store.iter_events("run-x"))) == 1


def test_a_10_mb_payload_round_trips(store: Any) -> None:
    big = "0123456789abcdef" * (10 * 1024 * 1024 // 16)
    event = GenerationCompletedEvent(
        event_id="big",
        run_id="run-x",
        case_key="d::c1",
        dataset_id="d",
        case_id="c1",
        work_key="k1",
        candidate=GenerationResult(candidate_id="c", final_output={"answer": "4", "raw": big}),
        seed=1,
        sample_index=0,
    )
    store.append_events([event])
    (read,) = list(store.iter_events("run-x"))
    assert read == event
    assert store.find_completed(["k1"])["k1"] == event


def test_an_error_message_with_control_characters_is_stored(store: Any) -> None:
    from themis.core.models import ScoreError, StageError
    from themis.core.storage.events import ScoreFailedEvent

    reason = "parser choked on \x00\x01 bytes"
    event = ScoreFailedEvent(
        event_id="f1",
        run_id="run-x",
        case_key="d::c1",
        dataset_id="d",
        case_id="c1",
        work_key="k1",
        metric_id="m",
        score_error=ScoreError(metric_id="m", reason=reason),
        error=StageError(stage="score", error_type="ValueError", message=reason),
    )
    assert store.append_events([event]) == [event]
    assert list(store.iter_events("run-x")) == [event]  # the event keeps it exactly
    (row,) = store.score_rows("run-x")
    assert row.outcome == "error" and row.error_message.startswith("parser choked on ")


def test_sqlite_run_is_read_back_by_another_process(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    result = make_experiment().run(store=SqliteRunStore(path))
    code = (
        "import sys, json\n"
        "from themis import sqlite_store\n"
        "from themis.core.analysis.inspection import load_run_result\n"
        f"r = load_run_result(sqlite_store({str(path)!r}), {result.run_id!r})\n"
        "print(json.dumps({'status': r.status.value, 'means': r.metric_means}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert '"status": "completed"' in out.stdout
    assert '"builtin/exact_match": 1.0' in out.stdout


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "wal.sqlite")
    store.initialize()
    mode = store._read().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_store_written_by_a_newer_themis_is_refused_before_any_work(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "newer.sqlite"
    SqliteRunStore(path).initialize()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError, match=r"newer Themis \(store schema 99"):
        make_experiment().run(store=SqliteRunStore(path))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def _open_and_append(path: str, start_at: float, index: int) -> str:
    """In a child process: wait for a shared instant, then open the store and write."""
    import time

    from themis.core.storage.events import RunStartedEvent

    while time.time() < start_at:
        pass
    store = SqliteRunStore(path)
    try:
        store.initialize()
        store.append_events(
            [RunStartedEvent(event_id=f"e{index}", run_id=f"run-{index}", until_stage="judge")]
        )
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def test_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """A bug fix: several processes creating the same SQLite file at the same
    moment failed with 'database is locked' while switching it to WAL."""
    import multiprocessing
    import time

    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        for attempt in range(4):
            path = str(tmp_path / f"race-{attempt}.sqlite")
            start_at = time.time() + 1.0
            outcomes = pool.starmap(_open_and_append, [(path, start_at, i) for i in range(4)])
            assert outcomes == ["ok"] * 4, outcomes
            events = SqliteRunStore(path)._read().execute("SELECT count(*) FROM events")
            assert events.fetchone()[0] == 4

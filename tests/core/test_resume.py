"""Durability: a run killed at any moment resumes without losing or redoing work."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.core.resume_worker import experiment
from themis import SqliteRunStore, get_execution_state
from themis.core.models import RunStatus

WORKER = Path(__file__).with_name("resume_worker.py")
ROOT = Path(__file__).resolve().parents[2]
CASES = 120


def _count(db: Path, event_type: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute(
                "SELECT count(*) FROM events WHERE event_type = ?", (event_type,)
            ).fetchone()[0]
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _kill_after(db: Path, log: Path, generations: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(log), str(CASES), "0.004"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while _count(db, "generation_completed") < generations:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)


@pytest.mark.parametrize("kill_at", [1, 37, 90])
def test_killed_run_resumes_without_redoing_finished_work(tmp_path: Path, kill_at: int) -> None:
    db, log = tmp_path / "runs.sqlite", tmp_path / "calls.log"
    _kill_after(db, log, kill_at)
    done_before = _count(db, "generation_completed")
    calls_before = len(log.read_text().splitlines())
    assert done_before >= kill_at
    assert calls_before >= done_before  # calls in flight at the kill may be lost, never more

    store = SqliteRunStore(db)
    result = experiment(str(log), CASES, 0.0).resume(store=store)
    assert result.status is RunStatus.completed
    calls = log.read_text().splitlines()
    resumed_calls = calls[calls_before:]
    # nothing finished before the kill is generated again
    finished = {
        e.case_id
        for e in store.iter_events(result.run_id)
        if getattr(e, "event_type", "") == "generation_completed" and e.created_at
    }
    assert len(resumed_calls) == CASES - done_before
    assert len(finished) == CASES
    # no event is duplicated: one completed event per work item and stage
    keys = Counter(
        (e.event_type, e.work_key)
        for e in store.iter_events(result.run_id)
        if getattr(e, "work_key", None)
    )
    assert max(keys.values()) == 1
    state = get_execution_state(store, result.run_id)
    assert state.stages["generate"].done == CASES and state.stages["score"].done == CASES
    assert state.stages["generate"].pending == 0


def test_execution_state_of_an_interrupted_run_reports_pending_work(tmp_path: Path) -> None:
    db, log = tmp_path / "runs.sqlite", tmp_path / "calls.log"
    _kill_after(db, log, 10)
    store = SqliteRunStore(db)
    (run,) = store.list_runs()
    assert run.status is RunStatus.running
    state = get_execution_state(store, run.run_id)
    generate = state.stages["generate"]
    assert generate.done >= 10 and generate.pending == CASES - generate.done


def test_killed_mid_write_the_open_transaction_is_lost_whole_and_resume_completes(
    tmp_path: Path,
) -> None:
    db, log, marker = tmp_path / "runs.sqlite", tmp_path / "calls.log", tmp_path / "stalled"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STALL_BATCH": "5", "STALL_MARKER": str(marker)}
    process = subprocess.Popen(
        [sys.executable, str(WORKER), str(db), str(log), str(CASES), "0.002"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    in_transaction = int(marker.read_text())
    process.send_signal(signal.SIGKILL)  # rows inserted, COMMIT not reached
    process.wait(timeout=10)
    assert in_transaction > 0

    store = SqliteRunStore(db)
    with sqlite3.connect(db) as conn:
        events = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        items = conn.execute("SELECT count(*) FROM work_items").fetchone()[0]
        results = conn.execute("SELECT count(*) FROM stage_results").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Projections agree with the committed events: nothing half-written survived.
    assert items == results == events - 1  # every event but run_started is a work item
    done_before = _count(db, "generation_completed")
    calls_before = len(log.read_text().splitlines())
    result = experiment(str(log), CASES, 0.0).resume(store=store)
    assert result.status is RunStatus.completed
    assert len(log.read_text().splitlines()) - calls_before == CASES - done_before
    state = get_execution_state(store, result.run_id)
    assert all(state.stages[s].done == CASES for s in ("generate", "reduce", "parse", "score"))

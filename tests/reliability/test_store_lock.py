"""Another process and the store: its write lock is waited out, never fatal at once;
two processes run into one store side by side; the durability window is bounded by time.

The lock is held by a real second process (``BEGIN IMMEDIATE`` on the same
SQLite file); the store's busy timeout is set short so that SQLite gives up
quickly and Themis's own waiting is what the test sees.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from tests.cli.helpers import ARITHMETIC_CASES, THEMIS, themis, write_config
from themis import SqliteRunStore
from themis.core.engine.writer import MAX_UNCOMMITTED_S, EventWriter
from themis.core.storage.events import RunStartedEvent

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").write("locked")
time.sleep(float(sys.argv[3]))
conn.execute("COMMIT")
"""


@contextmanager
def lock_held(db: Path, seconds: float, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another process holding the store's write lock for ``seconds``."""
    marker = tmp_path / "lock-held"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(marker), str(seconds)])
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield holder
    finally:
        holder.kill()
        holder.wait()


def locked_config(tmp_path: Path, **runtime: object) -> Path:
    config = write_config(tmp_path, cases=ARITHMETIC_CASES * 1)
    data = yaml.safe_load(config.read_text())
    data["storage"]["parameters"] = {"busy_timeout_ms": 200}
    data["runtime"] = {"progress": "off", **runtime}
    config.write_text(yaml.safe_dump(data))
    SqliteRunStore(tmp_path / "runs.sqlite").initialize()  # the file exists: the holder locks it
    return config


def committed(db: Path, event_type: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM events WHERE event_type = ?", (event_type,)
            ).fetchone()[0]
        )


def test_a_lock_held_longer_than_sqlites_busy_timeout_is_waited_out(tmp_path: Path) -> None:
    """The lock is released only once the run has said it is waiting, however
    long the run takes to start (a loaded machine), so the wait is real."""
    config = locked_config(tmp_path)
    notice = "is locked by another process; retrying until it is free"
    with lock_held(tmp_path / "runs.sqlite", 120, tmp_path) as holder:
        run = subprocess.Popen(
            [THEMIS, "run", "-c", str(config)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert run.stderr is not None
        first_line = run.stderr.readline()
        assert notice in first_line, first_line
        holder.kill()  # the lock goes with its process
        _, rest = run.communicate(timeout=120)
    stderr = first_line + rest
    assert run.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.count(notice) == 1, stderr  # one notice per wait, however many writes wait
    assert committed(tmp_path / "runs.sqlite", "generation_completed") == len(ARITHMETIC_CASES)


def test_past_the_limit_the_run_fails_with_one_line_and_exit_4_then_resumes(
    tmp_path: Path,
) -> None:
    config = locked_config(tmp_path, store_lock_timeout_s=1.0)
    with lock_held(tmp_path / "runs.sqlite", 30, tmp_path):
        started = time.monotonic()
        done = themis("run", "-c", config, cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    assert lines[-1].startswith("error: ") and "stayed locked by another process" in lines[-1]
    assert elapsed < 15
    # the lock is gone: running again (a resume of whatever was committed) completes
    resumed = themis("run", "-c", config, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr


def test_two_processes_run_into_one_store_side_by_side(tmp_path: Path) -> None:
    """Two runs at once on one SQLite file: each waits for the other's commits."""
    configs = []
    for seed in (1, 2):
        config = locked_config(tmp_path)
        data = yaml.safe_load(config.read_text())
        data["seeds"] = [seed]
        data["datasets"][0]["cases"] = [
            {"case_id": f"q{i}", "input": {"question": f"{i}+{i}"}, "expected_output": str(2 * i)}
            for i in range(150)
        ]
        path = tmp_path / f"experiment-{seed}.yaml"
        path.write_text(yaml.safe_dump(data))
        configs.append(path)
    processes = [
        subprocess.Popen(
            [str(Path(sys.executable).parent / "themis"), "run", "-c", str(c)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for c in configs
    ]
    outcomes = [p.communicate(timeout=120) for p in processes]
    for process, (_, stderr) in zip(processes, outcomes, strict=True):
        assert process.returncode == 0, stderr
    db = tmp_path / "runs.sqlite"
    assert committed(db, "generation_completed") == 300
    assert committed(db, "run_completed") == 2
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_producers_pause_once_a_result_has_waited_too_long_for_its_commit(
    tmp_path: Path,
) -> None:
    """The durability window is bounded by time, not only by count: one event
    that cannot commit pauses new work after MAX_UNCOMMITTED_S."""
    db = tmp_path / "runs.sqlite"
    store = SqliteRunStore(db, busy_timeout_ms=50)
    store.initialize()

    async def scenario() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        writer = EventWriter(store, loop, lambda events: None, lock_timeout_s=None)
        with lock_held(db, 1.5, tmp_path):
            writer.submit(RunStartedEvent(event_id="e1", run_id="r", until_stage="judge"))
            await asyncio.sleep(MAX_UNCOMMITTED_S + 0.05)
            try:
                await asyncio.wait_for(writer.wait_for_room(), 0.3)
                paused = False
            except TimeoutError:
                paused = True
        await asyncio.wait_for(writer.wait_for_room(), 10)  # the lock is gone: room again
        await writer.close()
        return paused, writer.error is None

    paused, clean = asyncio.run(scenario())
    assert paused and clean
    assert committed(db, "run_started") == 1
    store.close()


def test_a_limit_shorter_than_sqlites_busy_timeout_is_honoured(tmp_path: Path) -> None:
    """At the store's default busy timeout (30 s), a 1 s limit still ends the
    run in about 1 s, not after SQLite's own 30 s wait."""
    config = locked_config(tmp_path, store_lock_timeout_s=1.0)
    data = yaml.safe_load(config.read_text())
    del data["storage"]["parameters"]  # SQLite's default busy timeout
    config.write_text(yaml.safe_dump(data))
    with lock_held(tmp_path / "runs.sqlite", 25, tmp_path):
        started = time.monotonic()
        done = themis("run", "-c", config, cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert done.returncode == 4, done.stderr
    assert "stayed locked by another process" in done.stderr.strip().splitlines()[-1]
    assert elapsed < 12, elapsed
    assert "4 the store stayed locked" in " ".join(themis("--help", cwd=tmp_path).stdout.split())

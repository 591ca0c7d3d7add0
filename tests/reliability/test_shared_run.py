"""Several OS processes running the same run on one store share it through
work leases (SQLite file and PostgreSQL server, a local model server that
counts its calls): almost no generator call is made twice, every case is
stored once, each process's RunResult covers every case, and a SIGKILLed
process's unfinished cases are taken over by the others."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply
from tests.conftest import REPO_ROOT, fresh_postgres_schema
from tests.reliability.fault_server import COMPLETION_PATHS
from themis.core.config import StorageConfig
from themis.core.experiment import open_store
from themis.core.storage.events import GenerationCompletedEvent

THEMIS = str(Path(sys.executable).parent / "themis")


class CountingServer(FakeOpenAIServer):
    """Answers every completion after ``latency_s``, and counts calls per prompt."""

    def __init__(self, latency_s: float) -> None:
        super().__init__()
        self.latency_s = latency_s

    def _reply_for(self, method: str, path: str, body: Any) -> Reply:
        reply = super()._reply_for(method, path, body)
        if method == "POST" and path in COMPLETION_PATHS:
            return dataclasses.replace(reply, delay_s=self.latency_s)
        return reply

    def calls(self) -> Counter[str]:
        return Counter(
            json.dumps(r.body, sort_keys=True)
            for r in list(self.requests)
            if r.method == "POST" and r.path in COMPLETION_PATHS
        )


def storage_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if kind == "sqlite":
        return {"store": "sqlite", "path": str(tmp_path / "runs.sqlite")}
    url = request.getfixturevalue("postgres_url")
    return {"store": "postgres", "parameters": {"url": url, "schema": fresh_postgres_schema()}}


def write_config(
    tmp_path: Path,
    server: CountingServer,
    storage: dict[str, Any],
    cases: int,
    *,
    lease_s: float | None = 2.0,
) -> Path:
    """``lease_s`` short where a killed process's chunks must expire soon, long
    where none dies (a heartbeat late on a loaded machine is not what the
    sharing tests measure); None keeps the default (60 s)."""
    runtime: dict[str, Any] = {"max_concurrent_tasks": 8, "lease_poll_s": 0.1, "progress": "off"}
    if lease_s is not None:
        runtime["lease_s"] = lease_s
    config = tmp_path / "experiment.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "generation": {
                    "generator": {
                        "id": "vllm/generator",
                        "options": {"model": "test-model", "base_url": server.base_url},
                    }
                },
                "evaluation": {"metrics": ["builtin/exact_match"]},
                "datasets": [
                    {
                        "dataset_id": "d",
                        "cases": [
                            {"case_id": f"c{i}", "input": f"{i}+{i}", "expected_output": "4"}
                            for i in range(cases)
                        ],
                    }
                ],
                "storage": storage,
                "runtime": runtime,
            }
        )
    )
    return config


def worker(config: Path, out: Path) -> subprocess.Popen[bytes]:
    """A process running the experiment through ``Experiment.run()``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.shared_run_worker", str(config), str(out)],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
    )


def stored_generations(storage: dict[str, Any], run_id: str) -> Counter[str]:
    """Completed generation events per work key, as the store holds them."""
    store = open_store(StorageConfig.model_validate(storage))
    try:
        return Counter(
            event.work_key
            for event in store.iter_events(run_id)
            if isinstance(event, GenerationCompletedEvent)
        )
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_four_processes_share_one_run(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cases = 800
    server = CountingServer(latency_s=0.04)
    server.start()
    try:
        storage = storage_for(kind, tmp_path, request)
        config = write_config(tmp_path, server, storage, cases, lease_s=30.0)
        outs = [tmp_path / f"worker{i}.json" for i in range(3)]
        processes = [worker(config, out) for out in outs]
        # ... and one plain `themis run` of the same config
        processes.append(
            subprocess.Popen(
                [THEMIS, "run", "-c", str(config)],
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
        outputs = [process.communicate(timeout=240) for process in processes]
        for process, (_, stderr) in zip(processes, outputs, strict=True):
            assert process.returncode == 0, stderr.decode()
        calls = server.calls()
        cli_output = outputs[-1][0].decode()
        assert "cases: 800 (0 failed)" in cli_output
        assert "computed by other processes sharing the run" in cli_output, cli_output
    finally:
        server.stop()
    results = [json.loads(out.read_text()) for out in outs]
    run_id = results[0]["run_id"]
    expected_keys = [f"d::c{i}" for i in range(cases)]
    for result in results:
        assert result["run_id"] == run_id and result["status"] == "completed"
        assert sorted(result["case_keys"]) == sorted(expected_keys)
        assert result["completed"] == cases
    duplicated = sum(calls.values()) - len(calls)
    print(
        f"{kind}: {sum(calls.values())} calls for {cases} cases, {duplicated} duplicated; "
        f"generated per worker: {[r['generated_here'] for r in results]}"
    )
    assert len(calls) == cases
    assert duplicated <= cases // 100
    stored = stored_generations(storage, run_id)
    assert len(stored) == cases and set(stored.values()) == {1}
    # the work was shared: the workers (started first) generated some of it
    assert sum(r["generated_here"] > 0 for r in results) >= 2


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("lease_s", [2.0, None], ids=["expiry", "default-lease"])
def test_a_killed_process_cases_are_taken_over(
    kind: str, lease_s: float | None, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """With ``lease_s=2`` the dead process's chunks are taken over once its
    leases expire; with the default 60 s, at once: the survivors see that it
    ran on this machine and its pid is gone."""
    cases = 600
    server = CountingServer(latency_s=0.04)
    server.start()
    try:
        storage = storage_for(kind, tmp_path, request)
        config = write_config(tmp_path, server, storage, cases, lease_s=lease_s)
        outs = [tmp_path / f"worker{i}.json" for i in range(3)]
        processes = [worker(config, out) for out in outs]
        victim = processes[0]
        deadline = time.monotonic() + 120
        while sum(server.calls().values()) < 150:  # every process is working by now
            assert victim.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        for process in processes[1:]:
            _, stderr = process.communicate(timeout=240)
            assert process.returncode == 0, stderr.decode()
        finished_at = time.monotonic()
        calls = server.calls()
    finally:
        server.stop()
    assert not outs[0].exists()
    results = [json.loads(out.read_text()) for out in outs[1:]]
    run_id = results[0]["run_id"]
    for result in results:
        assert result["status"] == "completed" and result["completed"] == cases
        assert len(set(result["case_keys"])) == cases
    assert len(calls) == cases  # nothing lost
    stored = stored_generations(storage, run_id)
    assert len(stored) == cases and set(stored.values()) == {1}  # nothing stored twice
    duplicated = sum(calls.values()) - len(calls)
    print(
        f"{kind}: killed worker; {duplicated} calls redone, survivors finished "
        f"{finished_at - killed_at:.1f}s after the kill"
    )
    # only what the killed process had in flight (8 calls) or answered but not
    # yet committed (the writer's ~100 ms window) is asked again
    assert duplicated <= 48

    if lease_s is None:
        # released at once, not after the 60 s a lease takes to expire (the
        # bound leaves room for the survivors' own work on a loaded machine).
        # The takeover line is not asserted: the victim may have been between
        # chunks when it died, holding nothing (the re-run test below, and
        # tests/core/test_leases.py, check the line where a chunk is certain).
        assert finished_at - killed_at < 45


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_rerun_after_a_kill_takes_over_the_dead_process_work_at_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The user's resume after a crash, with the default ``lease_s`` (60 s):
    the killed process's chunk is released on the re-run's first claim, so the
    re-run finishes in seconds, loses nothing and stores nothing twice."""
    cases = 300
    server = CountingServer(latency_s=0.04)
    server.start()
    try:
        storage = storage_for(kind, tmp_path, request)
        config = write_config(tmp_path, server, storage, cases, lease_s=None)
        victim = worker(config, tmp_path / "killed.json")
        deadline = time.monotonic() + 120
        while sum(server.calls().values()) < 60:
            assert victim.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        before = sum(server.calls().values())
        assert before < cases  # killed mid-run, holding unfinished chunks
        started = time.monotonic()
        rerun = worker(config, tmp_path / "rerun.json")
        _, stderr = rerun.communicate(timeout=240)
        took = time.monotonic() - started
        assert rerun.returncode == 0, stderr.decode()
        calls = server.calls()
    finally:
        server.stop()
    assert "taking over the unfinished work of process" in stderr.decode()
    result = json.loads((tmp_path / "rerun.json").read_text())
    assert result["status"] == "completed" and result["completed"] == cases
    assert len(calls) == cases  # nothing lost
    stored = stored_generations(storage, result["run_id"])
    assert len(stored) == cases and set(stored.values()) == {1}  # nothing stored twice
    print(f"{kind}: re-run after a kill finished in {took:.1f}s")
    # Without the release the re-run would wait out the lease (60 s) before
    # taking the chunk; the bound leaves room for process start-up and the
    # work itself on a loaded machine (a few seconds when it is idle).
    assert took < 45

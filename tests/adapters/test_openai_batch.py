"""OpenAI's Batch API through the real ``openai`` SDK against a local server.

The server (``fake_batch_server``) implements ``/v1/files``, ``/v1/batches``
and ``/v1/chat/completions`` on 127.0.0.1; the tests check what it received.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai as openai_sdk
import pytest

from tests.adapters.batch_experiment import (
    PROCESS_HEADER,
    RUNTIME,
    SECRET_KEY,
    build,
    client_factory,
)
from tests.adapters.conftest import stored_bytes
from tests.adapters.fake_batch_server import FakeBatchServer, running_batch_server
from tests.conftest import fresh_postgres_database
from themis import Experiment, RuntimeConfig, SqliteRunStore
from themis.core.analysis.inspection import load_run_result
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.storage.events import BatchFinishedEvent, BatchSubmittedEvent
from themis_adapters_openai import openai, openai_judge

REPO = Path(__file__).resolve().parents[2]
CHAT = "/v1/chat/completions"


def sums(path: str, body: Any) -> str:
    """Answers like a model that can add, and judges with a pass."""
    text = json.dumps(body)
    if "Rubric:" in text:
        return "VERDICT: PASS\nSCORE: 1"
    match = re.search(r"(\d+)\+(\d+)", text)
    return str(int(match.group(1)) + int(match.group(2))) if match else "?"


@pytest.fixture
def server() -> Iterator[FakeBatchServer]:
    with running_batch_server() as instance:
        instance.answer = sums
        yield instance


def direct(server: FakeBatchServer, count: int, store: str, **options: Any) -> Experiment:
    """The same experiment without batch mode."""
    experiment = build(server.base_url, store, count, batch=False, **options)
    return experiment


def outputs(result: Any) -> dict[str, Any]:
    return {
        case.case_key: [c.final_output for c in case.generated_candidates] for case in result.cases
    }


@pytest.mark.parametrize("api_mode", ["chat_completions", "responses"])
def test_a_batch_run_gathers_more_than_max_concurrent_tasks_and_matches_a_direct_run(
    server: FakeBatchServer, tmp_path: Path, api_mode: str
) -> None:
    count = 40
    batched = build(server.base_url, str(tmp_path / "b.sqlite"), count, api_mode=api_mode)
    result = batched.run(runtime=RUNTIME)  # max_concurrent_tasks=4

    assert result.status.value == "completed"
    assert len(server.batches) == 1, "40 requests, 4 at a time, still went as one batch"
    (batch,) = server.batches.values()
    assert len(batch.lines) == count
    assert batch.endpoint == ("/v1/responses" if api_mode == "responses" else CHAT)
    assert batch.metadata["themis_run_id"] == result.run_id
    assert not server.received(CHAT) and not server.received("/v1/responses")

    plain = direct(server, count, str(tmp_path / "d.sqlite"), api_mode=api_mode)
    expected = plain.run(runtime=RUNTIME)
    assert expected.run_id == result.run_id, "batch mode is not identity"
    assert outputs(result) == outputs(expected)
    assert result.metric_means == expected.metric_means == {"builtin/exact_match": 1.0}
    candidate = result.cases[0].generated_candidates[0]
    assert candidate.artifacts["batch"]["batch_id"] == batch.batch_id
    assert candidate.artifacts["batch"]["custom_id"].startswith("themis-")
    assert candidate.token_usage and candidate.token_usage["total_tokens"] > 0


def test_stored_batch_answers_are_reused_like_any_other(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    store = str(tmp_path / "runs.sqlite")
    first = build(server.base_url, store, 12).run(runtime=RUNTIME)
    again = build(server.base_url, store, 12).run(runtime=RUNTIME)
    assert len(server.batches) == 1
    assert outputs(again) == outputs(first)
    assert again.status.value == "completed"
    # a direct run on the same store finds them too: batch mode is not identity
    plain = direct(server, 12, store).run(runtime=RUNTIME)
    assert not server.received(CHAT) and plain.run_id == first.run_id

    replayed = build(server.base_url, store, 12).replay(stage="parse", runtime=RUNTIME)
    assert len(server.batches) == 1 and replayed.metric_means == first.metric_means

    sqlite = SqliteRunStore(store)
    assert load_run_result(sqlite, first.run_id).metric_means == first.metric_means
    events = list(sqlite.iter_events(first.run_id))
    submitted = [e for e in events if isinstance(e, BatchSubmittedEvent)]
    finished = [e for e in events if isinstance(e, BatchFinishedEvent)]
    sqlite.close()
    assert [e.batch_id for e in submitted] == [e.batch_id for e in finished]
    assert finished[0].status == "completed"
    assert len(submitted[0].custom_ids) == 12
    assert SECRET_KEY.encode() not in stored_bytes(Path(store))


def test_requests_beyond_the_batch_size_go_in_several_batches(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    result = build(server.base_url, str(tmp_path / "s.sqlite"), 25, batch_size=10).run(
        runtime=RUNTIME
    )
    assert result.status.value == "completed"
    assert sorted(len(b.lines) for b in server.batches.values()) == [5, 10, 10]


def test_a_judge_in_batch_mode(server: FakeBatchServer, tmp_path: Path) -> None:
    def judged(batch: bool, store: str) -> Any:
        return judged_experiment(batch, store).run(runtime=RUNTIME)

    def judged_experiment(batch: bool, store: str) -> Experiment:
        judge = openai_judge(
            "test-model",
            client=client_factory(server.base_url),
            api_mode="chat_completions",
            temperature=0.0,
            batch=batch,
            batch_window_s=0.5,
            poll_interval_s=0.05,
        )
        experiment = build(server.base_url, store, 10)
        return Experiment(
            generation=experiment.generation,
            evaluation=EvaluationConfig(
                metrics=["builtin/exact_match", "builtin/llm_rubric"],
                parsers=["builtin/json_identity"],
                judge_models=[judge],
                workflow_overrides={"rubric": "PASS if the answer is a number."},
            ),
            storage=StorageConfig(store="sqlite", path=store),
            datasets=experiment.datasets,
            seeds=[7],
        )

    result = judged(True, str(tmp_path / "judged.sqlite"))
    assert result.status.value == "completed"
    judge_batches = [b for b in server.batches.values() if "Rubric:" in json.dumps(b.lines)]
    assert len(judge_batches) == 1 and len(judge_batches[0].lines) == 10
    assert not server.received(CHAT)
    assert result.metric_means["builtin/llm_rubric"] == 1.0

    rejudged = judged_experiment(True, str(tmp_path / "judged.sqlite")).rejudge(runtime=RUNTIME)
    judge_batches = [b for b in server.batches.values() if "Rubric:" in json.dumps(b.lines)]
    assert len(judge_batches) == 2, "a rejudge asks the judge again, in a batch of its own"
    assert rejudged.metric_means == result.metric_means

    plain = judged(False, str(tmp_path / "plain.sqlite"))
    assert plain.run_id == result.run_id
    assert plain.metric_means == result.metric_means
    assert len(server.received(CHAT)) == 10  # the direct judge's calls, one per case
    assert all(score.value == 1.0 for case in result.cases for score in case.scores)


def failing_on(question: str, status: int, times: int | None = None) -> Any:
    left = [times]

    def line_error(body: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
        if f'"{question}"' not in json.dumps(body) and question not in json.dumps(body):
            return None
        if left[0] is not None:
            if left[0] <= 0:
                return None
            left[0] -= 1
        return status, {"error": {"message": f"refused {question}", "type": "invalid_request"}}

    return line_error


def test_each_sample_of_a_case_is_its_own_line(server: FakeBatchServer, tmp_path: Path) -> None:
    """The Responses API takes no seed, so a case's samples send equal requests:
    each must still be asked (and stored) on its own, never share one answer."""
    experiment = build(server.base_url, str(tmp_path / "n.sqlite"), 3, api_mode="responses")
    generation = GenerationConfig(
        generator=experiment.generation.generator,
        candidate_policy={"num_samples": 3},
        reducer="builtin/majority_vote",
    )
    result = Experiment(
        generation=generation,
        evaluation=experiment.evaluation,
        storage=experiment.storage,
        datasets=experiment.datasets,
        seeds=[7],
    ).run(runtime=RUNTIME)
    assert result.status.value == "completed"
    (batch,) = server.batches.values()
    assert len(batch.lines) == 9 and len({line["custom_id"] for line in batch.lines}) == 9
    assert len({json.dumps(line["body"]) for line in batch.lines}) == 3
    assert all(len(case.generated_candidates) == 3 for case in result.cases)


def test_a_failed_line_fails_its_case_with_the_error_and_the_run_goes_on(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    server.line_error = failing_on("3+3", 400)
    result = build(server.base_url, str(tmp_path / "f.sqlite"), 6).run(runtime=RUNTIME)
    assert result.status.value == "partial_failure"
    failed = [case for case in result.cases if case.status.value == "failed"]
    assert [case.case_id for case in failed] == ["c3"]
    (error,) = failed[0].errors
    assert error.stage == "generate" and error.category == "invalid_request"
    assert "HTTP 400" in error.message and "refused 3+3" in error.message
    assert len(server.batches) == 1, "a 400 is not retried"


def test_an_unreadable_output_line_is_skipped(server: FakeBatchServer, tmp_path: Path) -> None:
    server.garbage_line = True
    result = build(server.base_url, str(tmp_path / "g.sqlite"), 4).run(runtime=RUNTIME)
    assert result.status.value == "completed"


def test_a_retryable_line_error_is_asked_again_in_a_new_batch(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    server.line_error = failing_on("2+2", 500, times=1)
    runtime = RUNTIME.model_copy(update={"retry_initial_delay_s": 0.01})
    result = build(server.base_url, str(tmp_path / "r.sqlite"), 4).run(runtime=runtime)
    assert result.status.value == "completed"
    assert [len(b.lines) for b in server.batches.values()] == [4, 1]


@pytest.mark.parametrize("outcome", ["failed", "cancelled"])
def test_a_failed_or_cancelled_batch_fails_its_cases_and_a_resume_asks_again(
    server: FakeBatchServer, tmp_path: Path, outcome: str
) -> None:
    store = str(tmp_path / "x.sqlite")
    server.outcome = outcome
    result = build(server.base_url, store, 3).run(runtime=RUNTIME)
    assert result.status.value == "failed"
    (batch_id,) = server.batches
    for case in result.cases:
        assert f"batch {batch_id} ended {outcome}" in case.errors[0].message
    if outcome == "failed":
        assert "the input file is invalid" in result.cases[0].errors[0].message

    server.outcome = "completed"
    resumed = build(server.base_url, store, 3).run(runtime=RUNTIME)
    assert resumed.status.value == "completed"
    assert len(server.batches) == 2


def test_an_expired_batch_keeps_its_answers_and_fails_the_rest(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    server.outcome, server.expire_after_lines = "expired", 2
    result = build(server.base_url, str(tmp_path / "e.sqlite"), 5).run(runtime=RUNTIME)
    statuses = sorted(case.status.value for case in result.cases)
    assert statuses == ["completed", "completed", "failed", "failed", "failed"]
    messages = [error.message for case in result.cases for error in case.errors]
    assert len(messages) == 3 and all(
        "could not be executed before the completion window" in m for m in messages
    )


def test_a_batch_cancelled_while_polled_fails_its_cases(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    server.hold = True
    sync = openai_sdk.OpenAI(api_key=SECRET_KEY, base_url=server.base_url, max_retries=0)

    def cancel_when_created() -> None:
        while not server.batches:
            time.sleep(0.01)
        sync.batches.cancel(next(iter(server.batches)))

    canceller = threading.Thread(target=cancel_when_created)
    canceller.start()
    result = build(server.base_url, str(tmp_path / "c.sqlite"), 3).run(runtime=RUNTIME)
    canceller.join()
    assert result.status.value == "failed"
    assert all("ended cancelled" in case.errors[0].message for case in result.cases)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_process_killed_while_polling_resumes_the_same_batch(
    server: FakeBatchServer, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    server.hold = True
    store: Any = tmp_path / "killed.sqlite"
    if kind == "postgres":
        store = fresh_postgres_database(request.getfixturevalue("postgres_url"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.adapters.batch_experiment",
            server.base_url,
            str(store),
            "30",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        # polling starts only once the batch is committed to the store
        while not any(b.polls >= 2 for b in server.batches.values()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the subprocess never polled a batch"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(server.batches) == 1
    (batch_id,) = server.batches

    server.release()
    experiment = build(server.base_url, str(store), 30)
    result = experiment.run(runtime=RUNTIME)
    assert result.status.value == "completed"
    assert len(server.batches) == 1, "the resumed run submitted (and paid for) a second batch"
    assert len([r for r in server.requests if r.path == "/v1/files"]) == 1
    assert not server.received(CHAT)
    assert result.metric_means == {"builtin/exact_match": 1.0}
    assert {c.generated_candidates[0].artifacts["batch"]["batch_id"] for c in result.cases} == {
        batch_id
    }


def test_batch_options_are_not_identity_and_are_checked() -> None:
    plain = openai("m", client=lambda: None, api_mode="chat_completions")
    batched = openai("m", client=lambda: None, api_mode="chat_completions", batch=True)
    assert plain.fingerprint() == batched.fingerprint()
    assert batched.batch_capacity == 50_000 and plain.batch_capacity is None
    with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 50000"):
        openai("m", client=lambda: None, batch=True, batch_size=60_000)
    with pytest.raises(ValueError, match="poll_interval_s must be a positive number"):
        openai_judge("m", client=lambda: None, batch=True, poll_interval_s=0)
    with pytest.raises(ValueError, match="batch must be True or False"):
        openai("m", client=lambda: None, batch="yes")  # type: ignore[arg-type]


def test_vllm_offers_no_batch_mode() -> None:
    from themis_adapters_vllm import vllm

    with pytest.raises(TypeError, match="batch"):
        vllm("m", "http://127.0.0.1:1/v1", batch=True)  # type: ignore[call-arg]
    assert vllm("m", "http://127.0.0.1:1/v1").batch_capacity is None


def test_a_configuration_file_may_ask_for_batch_mode_without_changing_the_run_id(
    server: FakeBatchServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)

    def config(extra: str) -> Path:
        path = tmp_path / f"c{len(extra)}.toml"
        path.write_text(
            f"""
[generation.generator]
id = "openai/generator"
options = {{ model = "test-model", base_url = "{server.base_url}"{extra} }}

[evaluation]
metrics = ["builtin/exact_match", "builtin/llm_rubric"]
parsers = ["builtin/json_identity"]
workflow_overrides = {{ rubric = "PASS if the answer is a number." }}

[[evaluation.judge_models]]
id = "openai/judge"
options = {{ model = "test-model", base_url = "{server.base_url}"{extra} }}

[storage]
store = "sqlite"
path = "{tmp_path / "cfg.sqlite"}"

[[datasets]]
dataset_id = "arith"
cases = [{{ case_id = "c1", input = {{ question = "1+1" }}, expected_output = "2" }}]
""",
            encoding="utf-8",
        )
        return path

    batched = Experiment.from_config(
        config(", batch = true, batch_window_s = 0.2, poll_interval_s = 0.05")
    )
    plain = Experiment.from_config(config(""))
    assert batched.compile().run_id == plain.compile().run_id
    result = batched.run(runtime=RuntimeConfig(progress="off"))
    assert result.metric_means == {"builtin/exact_match": 1.0, "builtin/llm_rubric": 1.0}
    # the generator's batch, then the judge's; nothing sent directly
    assert len(server.batches) == 2 and not server.received("/v1/responses")


def test_a_process_taking_over_a_dead_ones_cases_polls_its_batch(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    """Two processes share a run through leases; the one holding the cases
    submits a batch and is killed; the other, started before that batch
    existed, takes the cases over when the lease expires and, before
    submitting, finds the dead one's batch in the store and polls it."""
    server.hold = True
    store = tmp_path / "shared.sqlite"
    # The subprocess claims the cases, gathers them for a 10 s quiet spell, submits.
    other = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.adapters.batch_experiment",
            server.base_url,
            str(store),
            "30",
            "100",
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    results: list[Any] = []
    try:
        deadline = time.monotonic() + 60
        while not _leases_held(store):
            assert other.poll() is None, other.communicate()
            assert time.monotonic() < deadline, "the subprocess never claimed its cases"
            time.sleep(0.05)
        assert not server.batches
        # This process starts now: nothing to claim, it waits for the other's lease.
        here = threading.Thread(
            target=lambda: results.append(
                build(server.base_url, str(store), 30).run(runtime=RUNTIME)
            )
        )
        here.start()
        while not any(b.polls >= 2 for b in server.batches.values()):
            assert other.poll() is None, other.communicate()
            assert time.monotonic() < deadline, "the subprocess never polled a batch"
            time.sleep(0.02)
    finally:
        other.send_signal(signal.SIGKILL)
        other.wait()
    (batch_id,) = server.batches
    (upload,) = server.received("/v1/files")
    assert upload.headers[PROCESS_HEADER] == "subprocess"
    server.release()
    here.join(timeout=60)
    assert not here.is_alive()
    (result,) = results
    assert result.status.value == "completed"
    assert list(server.batches) == [batch_id], "this process submitted the same requests again"
    assert {c.generated_candidates[0].artifacts["batch"]["batch_id"] for c in result.cases} == {
        batch_id
    }


def _leases_held(store: Path) -> bool:
    if not store.exists():
        return False
    try:
        with sqlite3.connect(store, timeout=0.1) as conn:
            (count,) = conn.execute("SELECT count(*) FROM leases WHERE done = 0").fetchone()
    except sqlite3.Error:
        return False
    return bool(count)


def test_a_rerun_asks_again_rather_than_reusing_an_unfinished_batch(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    store = tmp_path / "rerun.sqlite"
    server.hold = True
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.adapters.batch_experiment", server.base_url, str(store), "3"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(b.polls >= 2 for b in server.batches.values()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    server.release()
    rerun = RUNTIME.model_copy(update={"existing_run_policy": "rerun"})
    result = build(server.base_url, str(store), 3).run(runtime=rerun)
    assert result.status.value == "completed"
    assert len(server.batches) == 2, "a rerun recomputes: it submits a batch of its own"
    # and the stored batch is marked finished, so a later resume does not pick it up
    sqlite = SqliteRunStore(store)
    finished = {
        e.batch_id: e.status
        for e in sqlite.iter_events(result.run_id)
        if isinstance(e, BatchFinishedEvent)
    }
    sqlite.close()
    assert sorted(finished.values()) == ["completed", "superseded"]


def test_a_batch_run_whose_own_leases_lapse_while_it_waits_still_completes(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    """A lease shorter than the loop's busiest moment lapses while the process
    still works on its chunk; claiming that chunk again must not schedule or
    count its cases twice (it used to end in a KeyError in the lease bookkeeping)."""
    runtime = RUNTIME.model_copy(update={"lease_s": 0.05})
    result = build(server.base_url, str(tmp_path / "lapse.sqlite"), 300).run(runtime=runtime)
    assert result.status.value == "completed"
    assert sum(len(b.lines) for b in server.batches.values()) == 300


def test_themis_run_in_batch_mode_killed_and_resumed_from_the_command_line(
    server: FakeBatchServer, tmp_path: Path
) -> None:
    """A YAML config asks for batch mode; ``themis run`` is SIGKILLed while it
    polls; ``themis resume`` polls that batch instead of paying twice. Both
    say the batch id on stderr: it is what a user looks up with the provider."""
    server.hold = True
    cases = ", ".join(
        f'{{case_id: c{i}, input: {{question: "{i}+{i}"}}, expected_output: "{2 * i}"}}'
        for i in range(12)
    )
    config = tmp_path / "batch.yaml"
    config.write_text(
        f"""
generation:
  generator:
    id: openai/generator
    options: {{model: test-model, base_url: "{server.base_url}", batch: true,
               batch_window_s: 0.3, poll_interval_s: 0.05, max_poll_interval_s: 0.2}}
evaluation:
  metrics: [builtin/exact_match]
  parsers: [builtin/json_identity]
storage: {{store: sqlite, path: "{tmp_path / "cli.sqlite"}"}}
runtime:
  lease_s: 2.0
  lease_poll_s: 0.1
  provider_rate_limits: {{openai: {{requests_per_minute: 600}}}}
datasets:
  - dataset_id: arith
    cases: [{cases}]
""",
        encoding="utf-8",
    )
    themis = [sys.executable, "-m", "themis.cli.main", "--debug"]
    env = {**os.environ, "OPENAI_API_KEY": SECRET_KEY, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [*themis, "run", "--config", str(config), "--progress", "off"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(b.polls >= 2 for b in server.batches.values()):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "themis run never polled a batch"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        _, killed_stderr = process.communicate()
    (batch_id,) = server.batches
    assert f"batch {batch_id} submitted with 12 requests" in killed_stderr

    server.release()
    resumed = subprocess.run(
        [*themis, "resume", "--config", str(config), "--progress", "off"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"polling batch {batch_id}" in resumed.stderr
    assert len(server.batches) == 1, "the resumed run submitted (and paid for) a second batch"
    assert not server.received(CHAT)
    assert "cases: 12 (0 failed)" in resumed.stdout
    assert SECRET_KEY.encode() not in stored_bytes(tmp_path / "cli.sqlite")

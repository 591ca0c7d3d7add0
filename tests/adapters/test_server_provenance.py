"""What a server says about its model is recorded in the snapshot, outside the run id.

A chat template, a quantisation or the weights behind a served name are
server-side: they can change while every identity-bearing input stays the
same. The adapters read the model's ``/v1/models`` entry when a run starts and
the engine stores it in ``RunSnapshot.provenance.servers``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import openai as openai_sdk
import pytest

from tests.adapters.conftest import SECRET_KEY, experiment, stored_bytes
from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply, running_server
from themis import RuntimeConfig, SqliteRunStore, get_run_snapshot
from themis.adapters import openai, vllm
from themis.core.config import EvaluationConfig
from themis.core.models import RunStatus
from themis_adapters_vllm import vllm_judge

MODEL = "test-model"
VLLM_ENTRY = {"root": "/models/qwen2.5-1.5b-instruct-awq", "max_model_len": 4096}


def test_vllm_run_records_the_served_models_entry(
    server: FakeOpenAIServer, runtime: RuntimeConfig, tmp_path: Path
) -> None:
    server.model_details[MODEL] = VLLM_ENTRY
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    result = experiment(vllm(MODEL, server.base_url)).run(store=store, runtime=runtime)

    assert result.status is RunStatus.completed
    (recorded,) = get_run_snapshot(store, result.run_id).provenance.servers
    assert recorded == {
        "component_id": "vllm/generator",
        "model": MODEL,
        "server": server.base_url,
        "models_entry": {"id": MODEL, "object": "model", "owned_by": "test", **VLLM_ENTRY},
    }


def test_a_different_server_side_model_keeps_the_run_id(
    runtime: RuntimeConfig, tmp_path: Path
) -> None:
    run_ids, roots = [], []
    for root in ("/models/a", "/models/b"):
        with running_server() as server:
            server.model_details[MODEL] = {"root": root}
            store = SqliteRunStore(tmp_path / f"{root[-1]}.sqlite")
            result = experiment(vllm(MODEL, server.base_url)).run(store=store, runtime=runtime)
            run_ids.append(result.run_id)
            (recorded,) = get_run_snapshot(store, result.run_id).provenance.servers
            roots.append(recorded["models_entry"]["root"])
    assert run_ids[0] == run_ids[1]  # provenance, not identity
    assert roots == ["/models/a", "/models/b"]


def test_a_config_naming_another_server_keeps_the_run_id_and_the_work(
    runtime: RuntimeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configuration file names adapters by id with options: the URL, the
    timeout and the key's variable say where and how to call, not what is
    asked, so a server restarted on another port (or serving another chat
    template) keeps the run id, and the stored generations are reused."""
    monkeypatch.setenv("QA_KEY", SECRET_KEY)
    path = tmp_path / "runs.sqlite"
    run_ids, roots, generated = [], [], []
    for root, timeout in (("/models/a", 30.0), ("/models/b", 5.0)):
        with running_server() as server:
            server.model_details[MODEL] = {"root": root}
            server.answer = lambda path, body: (
                "VERDICT: PASS\nSCORE: 1" if "Rubric:" in json.dumps(body) else "0"
            )
            options = {"model": MODEL, "base_url": server.base_url, "timeout_s": timeout}
            generator = {"id": "vllm/generator", "options": options}
            judge = {
                "id": "openai/judge",
                "options": {**options, "api_mode": "chat_completions", "api_key_env": "QA_KEY"},
            }
            run = experiment(
                generator,
                evaluation=EvaluationConfig(
                    metrics=["builtin/exact_match", "builtin/llm_rubric"],
                    parsers=["builtin/json_identity"],
                    judge_models=[judge],
                ),
            )
            store = SqliteRunStore(path)
            result = run.run(store=store, runtime=runtime)
            store.close()
            assert result.status is RunStatus.completed, result.status
            run_ids.append(result.run_id)
            generated.append(len(server.received("/v1/chat/completions")))
            fresh = SqliteRunStore(tmp_path / f"{root[-1]}.sqlite")
            again = run.run(store=fresh, runtime=runtime)
            recorded = get_run_snapshot(fresh, again.run_id).provenance.servers
            roots.append([entry["models_entry"]["root"] for entry in recorded])
            fresh.close()
    assert run_ids[0] == run_ids[1]  # the port and the timeout are not identity
    assert generated[0] > 0 and generated[1] == 0  # nothing asked again of the new server
    assert roots == [["/models/a", "/models/a"], ["/models/b", "/models/b"]]


def test_openai_sdk_generator_and_a_vllm_judge_are_both_recorded(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    client = openai_sdk.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    generator = openai(MODEL, client=client, api_mode="chat_completions")
    judge = vllm_judge(MODEL, server.base_url)
    run = experiment(
        generator,
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=[judge],
        ),
    )
    result = run.run(runtime=runtime)  # the judge's verdicts do not parse: no matter here

    servers = get_run_snapshot(run.resolve_store(), result.run_id).provenance.servers
    assert [(s["component_id"], s["server"]) for s in servers] == [
        ("openai/generator", server.base_url),
        ("vllm/judge", server.base_url),
    ]
    assert all(s["models_entry"]["id"] == MODEL for s in servers)


def test_credentials_in_the_server_url_are_not_recorded(
    server: FakeOpenAIServer, runtime: RuntimeConfig, tmp_path: Path
) -> None:
    secret = "pw-themis-3c9a1e"
    with_userinfo = server.base_url.replace("http://", f"http://user:{secret}@")
    path = tmp_path / "runs.sqlite"
    store = SqliteRunStore(path)
    result = experiment(vllm(MODEL, with_userinfo)).run(store=store, runtime=runtime)
    store.close()

    assert result.status is RunStatus.completed
    (recorded,) = get_run_snapshot(SqliteRunStore(path), result.run_id).provenance.servers
    assert recorded["server"] == server.base_url
    assert secret.encode() not in stored_bytes(path)


def test_a_client_that_cannot_list_models_records_nothing(runtime: RuntimeConfig) -> None:
    class Completions:
        async def create(self, **_: object) -> dict[str, object]:
            return {"choices": [{"message": {"content": "4"}}]}

    class Chat:
        completions = Completions()

    class NoModelList:  # shaped like the SDK, without ``models``
        chat = Chat()
        api_key = None

    run = experiment(openai(MODEL, client=NoModelList(), api_mode="chat_completions"))
    result = run.run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert get_run_snapshot(run.resolve_store(), result.run_id).provenance.servers == []


def test_a_server_without_a_model_list_is_logged_and_the_run_goes_on(
    server: FakeOpenAIServer, runtime: RuntimeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    # The OpenAI generator's preflight does not list models: an OpenAI-compatible
    # proxy without /v1/models still runs, with nothing recorded for it.
    server.script("/v1/models", Reply(status=404, body={"error": {"message": "no such route"}}))
    client = openai_sdk.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    run = experiment(openai(MODEL, client=client, api_mode="chat_completions"))
    with caplog.at_level(logging.WARNING):
        result = run.run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert get_run_snapshot(run.resolve_store(), result.run_id).provenance.servers == []
    assert "openai/generator: could not read its server's description" in caplog.text

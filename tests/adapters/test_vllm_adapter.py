"""The vLLM adapter over real HTTP (aiohttp) against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import openai as openai_sdk
import pytest

from tests.adapters.conftest import SECRET_KEY, experiment, stored_bytes
from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply, running_server
from themis import PromptSpec, RuntimeConfig, SqliteRunStore
from themis.adapters import vllm
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.engine.runner import PreflightError
from themis.core.models import RunStatus
from themis_adapters_openai import openai_judge
from themis_adapters_vllm import vllm_judge

CHAT = "/v1/chat/completions"
MODEL = "test-model"


def test_chat_completions_carry_vllm_sampling_extras(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    generator = vllm(
        MODEL,
        base_url=server.base_url,
        instructions="Answer with the number only.",
        temperature=0.7,
        max_output_tokens=12,
        top_k=20,
        min_p=0.05,
        repetition_penalty=1.1,
        structured_outputs={"choice": ["0", "2", "4"]},
        extra_body={"ignore_eos": False},
    )
    spec = PromptSpec(prefix="Solve:")
    result = experiment(
        generator, generation=GenerationConfig(generator=generator, prompt_spec=spec)
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    (request,) = server.received(CHAT)
    body = request.body
    assert body["messages"] == [
        {"role": "system", "content": "Answer with the number only."},
        {"role": "user", "content": "Solve:\n\n0+0"},
    ]
    assert body["max_tokens"] == 12  # vLLM's name for the limit
    assert body["seed"] == 7
    assert (body["top_k"], body["min_p"], body["repetition_penalty"]) == (20, 0.05, 1.1)
    assert body["structured_outputs"] == {"choice": ["0", "2", "4"]}
    assert body["ignore_eos"] is False
    assert "authorization" not in request.headers  # no key configured, none sent
    candidate = result.cases[0].generated_candidates[0]
    assert candidate.final_output == "4"
    assert candidate.token_usage is not None and candidate.token_usage["output_tokens"] == 1
    assert (candidate.artifacts or {})["rate_limits"]["x-ratelimit-limit-requests"] == "600000"


@pytest.mark.parametrize(
    ("api_mode", "path", "prompt_field"),
    [("completions", "/v1/completions", "prompt"), ("responses", "/v1/responses", "input")],
)
def test_other_api_modes(
    server: FakeOpenAIServer,
    runtime: RuntimeConfig,
    api_mode: str,
    path: str,
    prompt_field: str,
) -> None:
    generator = vllm(MODEL, server.base_url, api_mode=api_mode, instructions="Be terse.", top_k=5)
    result = experiment(generator).run(runtime=runtime)

    assert result.status is RunStatus.completed
    (request,) = server.received(path)
    assert request.body["top_k"] == 5
    if api_mode == "completions":
        assert request.body["prompt"] == "Be terse.\n\n0+0"
        assert request.body["seed"] == 7
    else:
        assert request.body["instructions"] == "Be terse."
        assert request.body["input"] == [{"role": "user", "content": "0+0"}]
    assert result.cases[0].generated_candidates[0].final_output == "4"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=429, body={"error": "busy"}, headers={"retry-after-ms": "50"}),
        Reply(status=500, body={"error": {"message": "engine dead"}}),
        Reply(status=200, body=b"{broken"),
        Reply(status=200, body={"object": "error", "message": "no choices"}),
        Reply(delay_s=1.0),
    ],
    ids=["429", "500", "malformed-json", "wrong-shape", "timeout"],
)
def test_transient_failures_are_retried(
    server: FakeOpenAIServer, runtime: RuntimeConfig, reply: Reply
) -> None:
    server.script(CHAT, reply)
    result = experiment(vllm(MODEL, server.base_url, timeout_s=0.2)).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert len(server.received(CHAT)) == 2


def test_a_bad_request_is_fatal(server: FakeOpenAIServer, runtime: RuntimeConfig) -> None:
    server.script(
        CHAT, Reply(status=400, body={"object": "error", "message": "top_k must be >= -1"})
    )
    result = experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)

    assert result.status is RunStatus.failed
    assert len(server.received(CHAT)) == 1
    (error,) = result.cases[0].errors
    assert error.category == "invalid_request"
    assert f"vLLM model {MODEL!r} at {server.base_url}: HTTP 400: top_k must be >= -1" in (
        error.message
    )


def test_preflight_checks_health_and_the_served_model(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)
    asked_first = {(r.method, r.path) for r in server.requests[:2]}  # asked together
    assert asked_first == {("GET", "/health"), ("GET", "/v1/models")}

    with pytest.raises(PreflightError, match=r"does not serve 'other-model'.*\['test-model'\]"):
        experiment(vllm("other-model", server.base_url)).run(runtime=runtime)

    server.health_status = 503
    with pytest.raises(PreflightError, match="not healthy: GET /health answered HTTP 503"):
        experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)
    assert len(server.received(CHAT)) == 1  # only the first, healthy run generated


def test_a_server_without_health_endpoint_is_checked_by_its_model_list(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    server.health_status = None  # llama.cpp's server, for one, has no /health
    result = experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)
    assert result.status is RunStatus.completed


def test_each_run_closes_its_connections_and_the_next_run_opens_new_ones(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    generator = vllm(MODEL, server.base_url)
    for count in (3, 4):
        result = experiment(generator, count=count).run(runtime=runtime)
        assert result.status is RunStatus.completed
        deadline = time.monotonic() + 5
        while server.open_connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.open_connections == 0  # the run's session closed its keep-alive connections
    assert len(server.received(CHAT)) == 7


def test_requests_go_through_the_proxy_the_environment_names(
    server: FakeOpenAIServer, runtime: RuntimeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_server() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with pytest.raises(PreflightError):  # a fake proxy does not forward
            experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)
        seen = [r.path for r in proxy.requests]  # proxied requests carry the absolute URI
        assert seen and all(path.startswith(f"{server.url}/") for path in seen)

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        result = experiment(vllm(MODEL, server.base_url)).run(runtime=runtime)
        assert result.status is RunStatus.completed
        assert len(proxy.requests) == len(seen)  # NO_PROXY: straight to the server


def test_a_stopped_server_fails_before_the_run(runtime: RuntimeConfig) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PreflightError, match="cannot reach the server"):
        experiment(vllm(MODEL, f"http://127.0.0.1:{port}/v1")).run(runtime=runtime)


def test_an_injected_openai_client_works_and_is_checked_too(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    client = openai_sdk.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    generator = vllm(MODEL, server.base_url, client=client, top_k=3, repetition_penalty=1.2)
    result = experiment(generator).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert server.received("/v1/models")
    (request,) = server.received(CHAT)
    assert (request.body["top_k"], request.body["repetition_penalty"]) == (3, 1.2)


def test_the_servers_key_is_sent_and_never_stored(
    server: FakeOpenAIServer,
    runtime: RuntimeConfig,
    sqlite_store: SqliteRunStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", SECRET_KEY)
    server.script(CHAT, Reply(status=503, body={"message": f"rejected token {SECRET_KEY}"}))
    result = experiment(vllm(MODEL, server.base_url)).run(runtime=runtime, store=sqlite_store)
    sqlite_store.close()

    assert result.status is RunStatus.completed
    assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {SECRET_KEY}"}
    assert SECRET_KEY.encode() not in stored_bytes(Path(sqlite_store.path))


def test_identity_covers_vllm_extras_but_not_the_server_address() -> None:
    base = vllm(MODEL, "http://a:8000/v1")
    assert vllm(MODEL, "http://b:9000/v1", timeout_s=1).fingerprint() == base.fingerprint()
    variants = [
        vllm(MODEL, "http://a:8000/v1", top_k=2),
        vllm(MODEL, "http://a:8000/v1", min_p=0.1),
        vllm(MODEL, "http://a:8000/v1", repetition_penalty=1.3),
        vllm(MODEL, "http://a:8000/v1", structured_outputs={"regex": r"\d+"}),
        vllm(MODEL, "http://a:8000/v1", api_mode="completions"),
        vllm(MODEL, "http://a:8000/v1", instructions="x"),
    ]
    assert len({v.fingerprint() for v in variants} | {base.fingerprint()}) == len(variants) + 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"base_url": "localhost:8000"}, "base_url must be the server's http"),
        ({"api_mode": "embeddings"}, "api_mode must be one of"),
        ({"top_k": -2}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"structured_outputs": {"json": {}, "regex": "x"}}, "exactly one of"),
        (
            {"api_mode": "completions", "response_format": {"type": "json_object"}},
            "completions API does not accept response_format",
        ),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"base_url": "http://localhost:8000/v1", **options}
    with pytest.raises(ValueError, match=message):
        vllm(MODEL, **arguments)  # type: ignore[arg-type]


def test_a_judge_panel_of_vllm_and_openai_judges(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    def answer(path: str, body: dict[str, object]) -> str:
        if "Rubric:" not in json.dumps(body):
            return "4"
        return "VERDICT: PASS\nSCORE: 1" if body["model"] == MODEL else "VERDICT: FAIL\nSCORE: 0"

    server.answer = answer
    server.models = [MODEL, "judge-b"]
    judges = [
        vllm_judge(MODEL, server.base_url, temperature=0.0, structured_outputs={"regex": ".*"}),
        openai_judge(
            "judge-b",
            client=openai_sdk.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0),
            api_mode="chat_completions",
        ),
    ]
    result = experiment(
        vllm(MODEL, server.base_url),
        evaluation=EvaluationConfig(
            metrics=["builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=judges,
            judge_config={"aggregation": "mean"},
        ),
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    (score,) = result.cases[0].scores
    assert score.value == 0.5
    assert score.details["verdicts"] == ["pass", "fail"]
    judged = [r.body for r in server.received(CHAT) if "Rubric:" in json.dumps(r.body)]
    vllm_request = next(body for body in judged if body["model"] == MODEL)
    assert vllm_request["structured_outputs"] == {"regex": ".*"}
    assert vllm_request["temperature"] == 0.0


def test_judge_resolves_from_its_entry_point(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    server.answer = lambda path, body: "VERDICT: PASS" if "Rubric:" in json.dumps(body) else "0"
    result = experiment(
        {"id": "vllm/generator", "options": {"model": MODEL, "base_url": server.base_url}},
        evaluation=EvaluationConfig(
            metrics=["builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=[
                {"id": "vllm/judge", "options": {"model": MODEL, "base_url": server.base_url}}
            ],
        ),
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert result.cases[0].scores[0].value == 1.0


def test_the_completions_api_takes_logprobs_as_a_count(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    generator = vllm("test-model", server.base_url, api_mode="completions", logprobs=2)
    assert experiment(generator).run(runtime=runtime).status is RunStatus.completed
    assert server.received("/v1/completions")[0].body["logprobs"] == 2

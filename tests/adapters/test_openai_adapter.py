"""The OpenAI adapter over real HTTP: the official SDK talking to a local server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai as openai_sdk
import pytest

from tests.adapters.conftest import SECRET_KEY, experiment, stored_bytes
from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply
from themis import PromptSpec, RuntimeConfig, SqliteRunStore
from themis.adapters import openai
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.engine.runner import PreflightError
from themis.core.models import RunStatus
from themis_adapters_openai import OpenAIGenerator, openai_judge

RESPONSES = "/v1/responses"
CHAT = "/v1/chat/completions"


def sdk_client(server: FakeOpenAIServer, **options: object) -> openai_sdk.AsyncOpenAI:
    """The real SDK, pointed at the local server, its own retries off."""
    return openai_sdk.AsyncOpenAI(
        base_url=server.base_url, api_key="test-key", max_retries=0, **options
    )


def test_facade_resolves_the_installed_factory() -> None:
    from themis_adapters_openai import openai as factory

    assert openai is factory


def test_responses_api_renders_the_prompt_and_records_the_call(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    generator = openai(
        "test-model",
        client=sdk_client(server),
        instructions="Answer with the number only.",
        temperature=0.2,
        top_p=0.9,
        max_output_tokens=16,
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": schema}},
    )
    spec = PromptSpec(
        instructions="Be terse.",
        prefix="Question follows.",
        suffix="End of question.",
        blocks=[{"content": "Example: 1+1 -> 2"}],
    )
    result = experiment(
        generator, generation=GenerationConfig(generator=generator, prompt_spec=spec)
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    (request,) = server.received(RESPONSES)
    assert request.headers["authorization"] == "Bearer test-key"
    body = request.body
    assert body["model"] == "test-model"
    assert body["instructions"] == "Answer with the number only.\n\nBe terse."
    assert body["input"] == [
        {
            "role": "user",
            "content": "Example: 1+1 -> 2\n\nQuestion follows.\n\n0+0\n\nEnd of question.",
        }
    ]
    assert (body["temperature"], body["top_p"], body["max_output_tokens"]) == (0.2, 0.9, 16)
    assert body["text"] == {"format": {"type": "json_schema", "name": "out", "schema": schema}}
    assert "seed" not in body  # the Responses API takes no seed

    candidate = result.cases[0].generated_candidates[0]
    assert candidate.final_output == "4"
    assert candidate.token_usage == {
        "input_tokens": _words(body),
        "output_tokens": 1,
        "total_tokens": _words(body) + 1,
    }
    artifacts = candidate.artifacts or {}
    assert artifacts["response_id"].startswith("resp-")
    assert artifacts["rate_limits"] == {
        "x-ratelimit-limit-requests": "600000",
        "x-ratelimit-remaining-requests": "599999",
        "x-ratelimit-reset-requests": "0.1ms",
    }
    assert artifacts["usage"] == candidate.token_usage
    assert artifacts["raw_response"]["output"][0]["content"][0]["text"] == "4"
    assert artifacts["request"]["instructions"] == body["instructions"]


def _words(body: object) -> int:
    return len(json.dumps(body).split())


def test_chat_completions_sends_the_candidate_seed_and_every_parameter(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    generator = openai(
        "test-model",
        client=sdk_client(server),
        api_mode="chat_completions",
        instructions="Answer with the number only.",
        temperature=0.0,
        max_output_tokens=8,
        stop="\n",
        response_format={"type": "json_object"},
        extra_body={"logit_bias": {"50256": -100}},
    )
    result = experiment(generator, count=2).run(runtime=runtime)

    assert result.status is RunStatus.completed
    bodies = sorted((r.body for r in server.received(CHAT)), key=lambda b: json.dumps(b))
    assert len(bodies) == 2
    for body in bodies:
        assert body["messages"][0] == {
            "role": "system",
            "content": "Answer with the number only.",
        }
        assert body["messages"][1]["role"] == "user"
        assert body["seed"] == 7  # the candidate's seed, from the experiment
        assert body["temperature"] == 0.0
        assert body["max_completion_tokens"] == 8
        assert body["stop"] == ["\n"]
        assert body["response_format"] == {"type": "json_object"}
        assert body["logit_bias"] == {"50256": -100}
    assert {b["messages"][1]["content"] for b in bodies} == {"0+0", "1+1"}
    candidate = result.cases[0].generated_candidates[0]
    assert candidate.final_output == "4"
    assert (candidate.artifacts or {})["response_id"].startswith("chatcmpl-")
    assert set(candidate.token_usage or {}) == {"input_tokens", "output_tokens", "total_tokens"}


def test_429_is_retried_after_the_servers_retry_after(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    server.script(
        RESPONSES,
        Reply(status=429, body={"error": {"message": "slow down"}}, headers={"Retry-After": "0.3"}),
    )
    result = experiment(openai("test-model", client=sdk_client(server))).run(runtime=runtime)

    assert result.status is RunStatus.completed
    first, second = server.received(RESPONSES)
    assert second.at - first.at >= 0.28  # waited as asked, though the backoff is 1ms
    assert result.cases[0].generated_candidates[0].final_output == "4"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=500, body={"error": {"message": "upstream exploded"}}),
        Reply(status=503, body=b"<html>bad gateway</html>"),
        Reply(status=200, body=b'{"id": "resp-x", "output": [trunc'),
    ],
    ids=["500", "503-html", "malformed-body"],
)
def test_transient_failures_are_retried(
    server: FakeOpenAIServer, runtime: RuntimeConfig, reply: Reply
) -> None:
    server.script(RESPONSES, reply)
    result = experiment(openai("test-model", client=sdk_client(server))).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert len(server.received(RESPONSES)) == 2


def test_a_timeout_is_retried(server: FakeOpenAIServer, runtime: RuntimeConfig) -> None:
    server.script(RESPONSES, Reply(delay_s=1.0))
    generator = openai("test-model", client=sdk_client(server, timeout=0.2))
    started = time.monotonic()
    result = experiment(generator).run(runtime=runtime)

    assert result.status is RunStatus.completed
    assert len(server.received(RESPONSES)) == 2
    assert time.monotonic() - started < 1.0  # gave up on the slow reply, did not wait it out


def test_a_body_that_stays_malformed_fails_the_case_with_a_clear_error(
    server: FakeOpenAIServer,
) -> None:
    server.script(RESPONSES, *[Reply(body=b"not json at all")] * 2)
    runtime = RuntimeConfig(max_retries=1, retry_initial_delay_s=0.001, progress="off")
    result = experiment(openai("test-model", client=sdk_client(server))).run(runtime=runtime)

    assert result.status is RunStatus.failed
    (error,) = result.cases[0].errors
    assert error.stage == "generate"
    assert "malformed response body" in error.message
    assert "OpenAI model 'test-model'" in error.message
    assert error.category == "server_error"


@pytest.mark.parametrize(
    ("status", "category", "hint"),
    [
        (400, "invalid_request", "check the model's parameters"),
        (401, "authentication", "check the API key"),
        (404, "not_found", "check the model name"),
    ],
)
def test_client_errors_are_fatal_with_the_servers_reason(
    server: FakeOpenAIServer, runtime: RuntimeConfig, status: int, category: str, hint: str
) -> None:
    server.script(
        RESPONSES, Reply(status=status, body={"error": {"message": f"reason for {status}"}})
    )
    result = experiment(openai("test-model", client=sdk_client(server))).run(runtime=runtime)

    assert result.status is RunStatus.failed
    assert len(server.received(RESPONSES)) == 1  # not retried
    (error,) = result.cases[0].errors
    assert error.category == category
    assert error.retryable is False
    assert f"HTTP {status}: reason for {status}" in error.message
    assert hint in error.message


def test_an_exhausted_quota_is_not_retried(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    error = {"message": "You exceeded your current quota.", "code": "insufficient_quota"}
    server.script(RESPONSES, Reply(status=429, body={"error": error}))
    result = experiment(openai("test-model", client=sdk_client(server))).run(runtime=runtime)

    assert result.status is RunStatus.failed
    assert len(server.received(RESPONSES)) == 1
    (failure,) = result.cases[0].errors
    assert failure.retryable is False
    assert "quota is exhausted" in failure.message


def test_the_api_key_comes_from_the_environment_and_is_never_stored(
    server: FakeOpenAIServer,
    runtime: RuntimeConfig,
    sqlite_store: SqliteRunStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    # A careless server echoes the key in an error message and in a response body.
    echoing = server.completion(RESPONSES, {"model": "test-model"})
    echoing["metadata"] = {"echo": f"Bearer {SECRET_KEY}"}
    server.script(
        RESPONSES,
        Reply(status=500, body={"error": {"message": f"bad key Bearer {SECRET_KEY}"}}),
        Reply(body=echoing),
    )
    generator = openai("test-model", base_url=server.base_url, timeout_s=5)
    result = experiment(generator, count=2).run(runtime=runtime, store=sqlite_store)
    sqlite_store.close()

    assert result.status is RunStatus.completed
    assert {r.headers["authorization"] for r in server.received(RESPONSES)} == {
        f"Bearer {SECRET_KEY}"
    }
    assert SECRET_KEY.encode() not in stored_bytes(Path(sqlite_store.path))
    assert SECRET_KEY not in json.dumps(generator.identity())


def test_a_missing_api_key_stops_the_run_before_any_request(
    server: FakeOpenAIServer, runtime: RuntimeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("THEMIS_TEST_OPENAI_KEY", raising=False)
    generator = openai("test-model", base_url=server.base_url, api_key_env="THEMIS_TEST_OPENAI_KEY")
    experiment(generator).compile()  # compiling needs no key

    with pytest.raises(PreflightError, match="set the THEMIS_TEST_OPENAI_KEY environment"):
        experiment(generator).run(runtime=runtime)
    assert server.requests == []


def test_identity_covers_inference_settings_and_never_where_or_how_to_call() -> None:
    base = openai("m", client=object())
    same = [
        openai("m", base_url="http://elsewhere:1/v1", timeout_s=3, api_key_env="OTHER"),
        openai("m", client=object()),
    ]
    different = [
        openai("m2", client=object()),
        openai("m", client=object(), api_mode="chat_completions"),
        openai("m", client=object(), instructions="Be terse."),
        openai("m", client=object(), temperature=0.5),
        openai("m", client=object(), top_p=0.5),
        openai("m", client=object(), max_output_tokens=5),
        openai("m", client=object(), api_mode="chat_completions", seed=3),
        openai("m", client=object(), api_mode="chat_completions", stop=["x"]),
        openai("m", client=object(), response_format={"type": "json_object"}),
        openai("m", client=object(), extra_body={"service_tier": "flex"}),
    ]
    assert all(g.fingerprint() == base.fingerprint() for g in same)
    fingerprints = {g.fingerprint() for g in different} | {base.fingerprint()}
    assert len(fingerprints) == len(different) + 1


def test_a_changed_prompt_regenerates_and_an_unchanged_one_is_reused(
    server: FakeOpenAIServer,
    runtime: RuntimeConfig,
    sqlite_store: SqliteRunStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    generator = openai("test-model", base_url=server.base_url)

    def run(spec: PromptSpec | None) -> None:
        config = GenerationConfig(generator=generator, prompt_spec=spec)
        result = experiment(generator, generation=config).run(runtime=runtime, store=sqlite_store)
        assert result.status is RunStatus.completed

    run(None)
    run(None)  # a second run in a fresh event loop: same client settings, all reused
    assert len(server.received(RESPONSES)) == 1
    run(PromptSpec(suffix="Think step by step."))
    assert len(server.received(RESPONSES)) == 2
    assert (
        server.received(RESPONSES)[-1].body["input"][0]["content"].endswith("Think step by step.")
    )


def test_a_client_factory_serves_every_run_and_a_client_object_only_one(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    made: list[openai_sdk.AsyncOpenAI] = []

    def make_client() -> openai_sdk.AsyncOpenAI:
        made.append(sdk_client(server))
        return made[-1]

    for suffix in ("first run", "second run"):
        generator = openai("test-model", client=make_client)
        spec = PromptSpec(suffix=suffix)
        config = GenerationConfig(generator=generator, prompt_spec=spec)
        assert experiment(generator, generation=config).run(runtime=runtime).status == "completed"
    assert len(made) == 2  # one client per run, each in its own event loop
    assert all(client.is_closed() for client in made)  # closed by the run that made it

    owned = sdk_client(server)
    shared = openai("test-model", client=owned)
    experiment(shared).run(runtime=runtime)
    assert not owned.is_closed()  # a client passed in is its owner's to close
    with pytest.raises(PreflightError, match=r"already served an earlier run.*client=lambda"):
        experiment(shared, seeds=[8]).run(runtime=runtime)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_mode": "batch"}, "api_mode must be one of"),
        ({"stop": ["x"]}, "the responses API does not accept stop"),
        ({"seed": 3}, "the responses API does not accept seed"),
        ({"temperature": 3}, "temperature"),
        ({"response_format": {"type": "yaml"}}, "response_format needs 'type'"),
        ({"timeout_s": 0}, "timeout_s must be a positive number"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        openai("m", **options)  # type: ignore[arg-type]


def test_an_openai_judge_grades_with_builtin_llm_rubric(
    server: FakeOpenAIServer, runtime: RuntimeConfig
) -> None:
    def answer(path: str, body: dict[str, object]) -> str:
        text = json.dumps(body)
        return "VERDICT: PASS\nSCORE: 0.75" if "Rubric:" in text else "4"

    server.answer = answer
    judge = openai_judge("judge-model", client=sdk_client(server), api_mode="chat_completions")
    generator = openai("test-model", client=sdk_client(server))
    result = experiment(
        generator,
        evaluation=EvaluationConfig(
            metrics=["builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=[judge],
            workflow_overrides={"rubric": "The answer must be a number."},
        ),
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    (score,) = result.cases[0].scores
    assert score.metric_id == "builtin/llm_rubric"
    assert score.value == 0.75
    (judge_request,) = server.received(CHAT)
    messages = judge_request.body["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "The answer must be a number." in messages[1]["content"]
    assert judge_request.body["model"] == "judge-model"
    assert isinstance(judge_request.body["seed"], int)


def test_judges_and_generators_resolve_from_entry_points(
    server: FakeOpenAIServer, runtime: RuntimeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    server.answer = lambda path, body: (
        "VERDICT: FAIL\nSCORE: 0" if "Rubric:" in json.dumps(body) else "0"
    )
    options = {"model": "test-model", "base_url": server.base_url}
    result = experiment(
        {"id": "openai/generator", "options": {**options, "api_mode": "chat_completions"}},
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=[{"id": "openai/judge", "options": options}],
        ),
    ).run(runtime=runtime)

    assert result.status is RunStatus.completed
    scores = {score.metric_id: score.value for score in result.cases[0].scores}
    assert scores == {"builtin/exact_match": 1.0, "builtin/llm_rubric": 0.0}
    assert len(server.received(CHAT)) == 1 and len(server.received(RESPONSES)) == 1


def test_generator_is_a_plain_component() -> None:
    generator = openai("m", client=object())
    assert isinstance(generator, OpenAIGenerator)
    assert (generator.component_id, generator.version, generator.api_mode) == (
        "openai/generator",
        "1",
        "responses",
    )


@pytest.mark.parametrize(
    ("api_mode", "path", "expected"),
    [
        ("chat_completions", CHAT, {"logprobs": True, "top_logprobs": 3}),
        (
            "responses",
            RESPONSES,
            {"top_logprobs": 3, "include": ["message.output_text.logprobs"]},
        ),
    ],
)
def test_logprobs_are_asked_for_in_each_apis_own_shape(
    server: FakeOpenAIServer,
    runtime: RuntimeConfig,
    api_mode: str,
    path: str,
    expected: dict[str, object],
) -> None:
    generator = openai(
        "test-model",
        client=sdk_client(server),
        api_mode=api_mode,
        logprobs=3,  # type: ignore[arg-type]
    )
    assert experiment(generator).run(runtime=runtime).status is RunStatus.completed
    body = server.received(path)[0].body
    assert {key: body[key] for key in expected} == expected
    without = openai("test-model", client=sdk_client(server), api_mode=api_mode)  # type: ignore[arg-type]
    assert generator.fingerprint() != without.fingerprint()
    with pytest.raises(ValueError, match="logprobs"):
        openai("test-model", logprobs=21)

"""Completion-style prompts stop where lm-eval's ``until`` stops them.

A base model given few-shot "Question: ... Answer: ..." text answers and
then writes the next question and its answer. The stop sequences of the
GSM8K ``fewshot`` variant must reach the request (where the API takes them)
and the output must be cut there again before parsing, because a server may
ignore them: this local server does, and replies with the run-on text.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai as openai_sdk
import pytest

from tests.adapters.fake_openai_server import FakeOpenAIServer, running_server
from themis import PromptSpec, RuntimeConfig, catalog
from themis.adapters import openai, vllm
from themis_catalog.stops import FEW_SHOT_STOP

ANSWERS = {"muffins": "7", "pages": "168", "pencils": "1,620 pencils"}


def run_on(path: str, body: Any) -> str:
    """The right answer, then a made-up next question whose answer is 1."""
    prompt = body.get("prompt") or body.get("messages") or body.get("input")
    asked = str(prompt).rsplit("Question:", 1)[-1]
    answer = next((a for key, a in ANSWERS.items() if key in asked), "unknown")
    return (
        f" Let me work it out.\n#### {answer}\n\nQuestion: Sam has 1 apple. How many apples?"
        "\nAnswer: Sam has 1 apple.\n#### 1"
    )


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with running_server() as instance:
        instance.answer = run_on
        yield instance


QUIET = RuntimeConfig(progress="off", max_retries=0)


@pytest.mark.parametrize("api_mode", ["completions", "chat_completions"])
def test_stop_sequences_reach_the_request_and_the_run_on_is_never_graded(
    server: FakeOpenAIServer, api_mode: str
) -> None:
    model = vllm("test-model", base_url=server.base_url, api_mode=api_mode, stop=["\n\n\n"])
    result = catalog.run("gsm8k:fewshot", model=model, source="sample", limit=3, runtime=QUIET)
    assert result.metric_means == {"accuracy": 1.0}
    bodies = [request.body for request in server.requests if request.method == "POST"]
    assert len(bodies) == 3
    for body in bodies:
        assert body["stop"] == ["\n\n\n", *FEW_SHOT_STOP]  # the model's own, then the prompt's
    parsed = result.cases[0].parsed_outputs
    assert parsed[0].metadata["cut_at"] < len(result.cases[0].generated_candidates[0].final_output)


def test_without_the_cut_the_run_on_answer_would_be_graded(server: FakeOpenAIServer) -> None:
    """The control: the chat variant has no stop sequences, so the run-on's "#### 1" wins."""
    model = vllm("test-model", base_url=server.base_url)
    result = catalog.run("gsm8k:direct", model=model, source="sample", limit=3, runtime=QUIET)
    assert result.metric_means == {"accuracy": 0.0}
    assert all(
        "stop" not in request.body for request in server.requests if request.method == "POST"
    )


def test_the_responses_api_takes_no_stop_so_parsing_alone_cuts(server: FakeOpenAIServer) -> None:
    client = openai_sdk.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    model = openai("test-model", client=client, api_mode="responses")
    result = catalog.run("gsm8k:fewshot", model=model, source="sample", limit=3, runtime=QUIET)
    assert result.metric_means == {"accuracy": 1.0}
    assert all("stop" not in r.body for r in server.requests if r.path == "/v1/responses")


def test_a_prompt_without_stop_sequences_keeps_its_identity() -> None:
    assert "stop" not in PromptSpec(prefix="Solve:").model_dump()
    assert (
        PromptSpec(prefix="Solve:").fingerprint()
        != PromptSpec(prefix="Solve:", stop=["Question:"]).fingerprint()
    )

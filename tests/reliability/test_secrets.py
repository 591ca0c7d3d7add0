"""Secrets an adapter knows never reach storage, reports, bundles, CLI output or logs.

Two leaks, through both adapters: credentials in the base URL (quoted by
every provider error message), and auth headers set on a client that a
careless server echoes back in its error body.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai as openai_sdk
import pytest

from tests.adapters.conftest import experiment, stored_bytes
from tests.cli.helpers import themis
from tests.reliability.fault_server import FaultServer, fault_server
from themis import Reporter, RuntimeConfig, SqliteRunStore
from themis.adapters import openai, vllm
from themis.core.analysis.bundles import export_generation_bundle
from themis.core.analysis.inspection import get_execution_state
from themis.core.observability.scrubbing import redact_url, scrub_text, secrets_in_url

URL_PASSWORD = "url-pass-3b9e1f77"
HEADER_TOKEN = "hdr-token-5c2a8d41"
API_KEY = "sk-env-key-9f8e7d6c"
RUNTIME = RuntimeConfig(max_retries=0, progress="off", max_concurrent_tasks=1)


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server() as instance:
        yield instance


def with_userinfo(server: FaultServer) -> str:
    return server.base_url.replace("http://", f"http://themis:{URL_PASSWORD}@")


def leaks(text: str | bytes) -> list[str]:
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    basic = base64.b64encode(f"themis:{URL_PASSWORD}".encode()).decode()
    return [s for s in (URL_PASSWORD, HEADER_TOKEN, API_KEY, basic) if s in data]


def everything_written(store_path: Path, run_id: str) -> str:
    store = SqliteRunStore(store_path)
    try:
        reporter = Reporter(store)
        parts = [
            reporter.export_json(run_id),
            reporter.export_markdown(run_id),
            reporter.export_csv(run_id),
            export_generation_bundle(store, run_id).model_dump_json(),
            get_execution_state(store, run_id).model_dump_json(),
        ]
    finally:
        store.close()
    return "\n".join(parts)


def generators(server: FaultServer) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {HEADER_TOKEN}", "X-Api-Key": HEADER_TOKEN}
    return {
        "openai-userinfo": openai(
            "test-model", api_mode="chat_completions", base_url=with_userinfo(server)
        ),
        "openai-client-headers": openai(
            "test-model",
            api_mode="chat_completions",
            client=lambda: openai_sdk.AsyncOpenAI(
                base_url=server.base_url,
                api_key=API_KEY,
                default_headers=headers,
                max_retries=0,
            ),
        ),
        "vllm-userinfo": vllm("test-model", with_userinfo(server)),
        "vllm-client-headers": vllm(
            "test-model",
            server.base_url,
            client=lambda: openai_sdk.AsyncOpenAI(
                base_url=server.base_url,
                api_key=API_KEY,
                default_headers=headers,
                max_retries=0,
            ),
        ),
    }


@pytest.mark.parametrize(
    "which", ["openai-userinfo", "openai-client-headers", "vllm-userinfo", "vllm-client-headers"]
)
def test_secrets_echoed_in_errors_are_scrubbed_everywhere(
    server: FaultServer,
    tmp_path: Path,
    which: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    server.echo_headers = True
    path = tmp_path / "runs.sqlite"
    caplog.set_level(logging.DEBUG)
    result = experiment(generators(server)[which], count=2).run(
        runtime=RUNTIME, store=SqliteRunStore(path)
    )

    assert result.status.value == "failed"
    message = result.cases[0].errors[0].message
    assert "HTTP 400" in message and "[redacted]" in message, message
    # the server did receive them: they are secrets, not absent values
    received = str(server.requests[-1].headers)
    assert leaks(received), received
    assert leaks(result.model_dump_json()) == []
    assert leaks(stored_bytes(path)) == []
    assert leaks(everything_written(path, result.run_id)) == []
    assert leaks(caplog.text) == []


def test_the_cli_never_prints_a_url_password(server: FaultServer, tmp_path: Path) -> None:
    server.start_outage(float("inf"))
    config = tmp_path / "experiment.yaml"
    config.write_text(
        "generation:\n"
        "  generator:\n"
        "    id: vllm/generator\n"
        f"    options: {{model: test-model, base_url: '{with_userinfo(server)}'}}\n"
        "evaluation: {metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: '1+1', expected_output: '2'}]}]\n"
        "storage: {store: sqlite, path: runs.sqlite}\n"
        "runtime: {max_retries: 0, progress: 'off'}\n"
    )
    runs = [themis("run", "-c", config, "--json", cwd=tmp_path)]
    runs += [themis("report", "-c", config, "--format", f, cwd=tmp_path) for f in ("md",)]
    runs.append(themis("inspect", "state", "-c", config, cwd=tmp_path))
    for done in runs:
        assert "Traceback" not in done.stderr, done.stderr
        assert URL_PASSWORD not in done.stdout + done.stderr
    assert "HTTP 503" in runs[0].stderr and "[redacted]@127.0.0.1" in runs[0].stderr
    assert URL_PASSWORD not in (tmp_path / "runs.sqlite").read_bytes().decode("latin-1")


def test_url_credentials_are_found_and_redacted_by_shape() -> None:
    url = "https://alice:s3cr3t-pass@example.com/v1?api_key=query-key-123"
    assert {"s3cr3t-pass", "alice:s3cr3t-pass", "query-key-123"} <= set(secrets_in_url(url))
    assert redact_url(url) == "https://[redacted]@example.com/v1?api_key=query-key-123"
    # userinfo is redacted by shape even when nobody registered it
    assert scrub_text("GET https://bob:pw@h/x failed") == "GET https://[redacted]@h/x failed"
    assert scrub_text("mail bob@example.com") == "mail bob@example.com"


def test_vllm_with_url_credentials_and_an_api_key_both_set_still_runs(
    server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp refuses a request that carries both an Authorization header and
    # credentials in the URL; the URL's credentials are sent (as httpx does).
    monkeypatch.setenv("VLLM_API_KEY", API_KEY)
    result = experiment(vllm("test-model", with_userinfo(server)), count=1).run(runtime=RUNTIME)
    assert result.status.value == "completed", [c.errors for c in result.cases]
    sent = server.requests[-1].headers
    assert sent.get("authorization", "").startswith("Basic "), sent
    assert leaks(result.model_dump_json()) == []

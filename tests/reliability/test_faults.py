"""Provider faults through the real adapters: random faults, short outages, a dead provider.

Every test here talks HTTP to a local fault-injecting server (127.0.0.1,
port 0) through both the OpenAI adapter (the official SDK) and the vLLM
adapter (httpx).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.adapters.conftest import experiment
from tests.reliability.fault_server import FaultServer, fault_server
from themis import RuntimeConfig
from themis.adapters import openai, vllm
from themis.core.models import RunStatus

MODEL = "test-model"


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with fault_server(seed=15) as instance:
        yield instance


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-reliability-test")


def generator_for(adapter: str, server: FaultServer, **options: Any) -> Any:
    if adapter == "openai":
        return openai(MODEL, api_mode="chat_completions", base_url=server.base_url, **options)
    return vllm(MODEL, server.base_url, **options)


ADAPTERS = ["openai", "vllm"]


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_seeded_random_faults_are_all_recovered(server: FaultServer, adapter: str) -> None:
    server.fault_rate = 0.2
    server.hang_s = 0.6
    runtime = RuntimeConfig(
        max_retries=8, retry_initial_delay_s=0.01, retry_max_delay_s=0.1, progress="off"
    )
    generator = generator_for(adapter, server, timeout_s=0.3)
    result = experiment(generator, count=60).run(runtime=runtime)

    assert result.status is RunStatus.completed, [c.errors for c in result.cases if c.errors]
    faults = {kind: n for kind, n in server.served.items() if kind != "ok"}
    assert sum(faults.values()) >= 5, server.served  # the run really went through faults
    assert len(faults) >= 3


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_a_one_second_outage_at_default_settings_fails_no_case(
    server: FaultServer, adapter: str
) -> None:
    server.start_outage(1.0)
    started = time.monotonic()
    result = experiment(generator_for(adapter, server), count=100).run(
        runtime=RuntimeConfig(progress="off")
    )
    assert result.status is RunStatus.completed, {
        c.errors[0].category for c in result.cases if c.errors
    }
    assert server.served["outage"] >= 10  # the breaker opened
    assert time.monotonic() - started < 15


@pytest.mark.parametrize(
    ("adapter", "runtime"),
    [
        ("openai", RuntimeConfig(progress="off")),
        ("vllm", RuntimeConfig(progress="off", retry_initial_delay_s=0.05)),
    ],
    ids=["openai-defaults", "vllm-quick-retries"],
)
def test_a_permanent_outage_ends_the_run_promptly(
    server: FaultServer, adapter: str, runtime: RuntimeConfig
) -> None:
    server.start_outage(float("inf"))
    started = time.monotonic()
    result = experiment(generator_for(adapter, server), count=100).run(runtime=runtime)
    elapsed = time.monotonic() - started

    assert result.status is RunStatus.failed
    assert all(case.status is RunStatus.failed for case in result.cases)
    categories = {case.errors[0].category for case in result.cases}
    assert categories == {"provider_unavailable"}, categories
    # defaults: probes after 0.5, 1, 2 and 4 s, then the provider is given up on
    assert elapsed < 20
    assert server.served["outage"] < 100  # most cases never sent a request

"""Execution policy: retries, Retry-After, circuit breaking, timeouts, per-component
and per-provider limits."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, make_experiment
from themis import RuntimeConfig
from themis.core.config import GenerationConfig
from themis.core.engine.breaker import CircuitBreaker
from themis.core.engine.policy import CallPolicy
from themis.core.errors import (
    ErrorCategory,
    ProviderError,
    ProviderUnavailableError,
    classify,
    parse_retry_after,
)
from themis.core.models import Case, GenerationResult, RunStatus

FAST = RuntimeConfig(max_retries=3, retry_initial_delay_s=0.001, retry_max_delay_s=0.01)


class Scripted:
    """Fails with the scripted errors per case, then answers."""

    component_id = "test/scripted"
    version = "1"

    def __init__(self, errors: list[BaseException]) -> None:
        self.errors = errors
        self.attempts: dict[str, int] = {}
        self.times: list[float] = []

    def fingerprint(self) -> str:
        return "scripted"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        count = self.attempts.get(case.case_id, 0)
        self.attempts[case.case_id] = count + 1
        self.times.append(time.monotonic())
        if count < len(self.errors):
            raise self.errors[count]
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "0"})


def run_with(generator: Any, runtime: RuntimeConfig = FAST, count: int = 1) -> Any:
    return make_experiment(
        generation=GenerationConfig(generator=generator), datasets=[arithmetic_dataset(count=count)]
    ).run(runtime=runtime)


@pytest.mark.parametrize(
    "error",
    [
        ProviderError("slow down", category=ErrorCategory.rate_limit),
        ProviderError("boom", category=ErrorCategory.server_error, status_code=500),
        TimeoutError("timed out"),
        ConnectionError("refused"),
    ],
    ids=["rate_limit", "server_error", "timeout", "connection"],
)
def test_retryable_errors_are_retried_until_success(error: BaseException) -> None:
    generator = Scripted([error, error])
    result = run_with(generator)
    assert result.status is RunStatus.completed
    assert generator.attempts == {"c0": 3}


def test_fatal_errors_are_not_retried() -> None:
    generator = Scripted([ProviderError("bad key", category=ErrorCategory.authentication)])
    result = run_with(generator)
    assert generator.attempts == {"c0": 1}
    error = result.cases[0].errors[0]
    assert (error.category, error.retryable, error.message) == ("authentication", False, "bad key")


def test_categories_named_in_retryable_errors_are_retried_too() -> None:
    not_found = ProviderError("model warming up", category=ErrorCategory.not_found)
    generator = Scripted([not_found])
    runtime = FAST.model_copy(update={"retryable_errors": ["not_found"]})
    assert run_with(generator, runtime).status is RunStatus.completed
    assert generator.attempts == {"c0": 2}
    with pytest.raises(ValueError, match=r"unknown error categories \['teapot'\]"):
        RuntimeConfig(retryable_errors=["teapot"])


def test_retries_give_up_after_max_retries() -> None:
    boom = ProviderError("down", category=ErrorCategory.server_error)
    generator = Scripted([boom] * 10)
    result = run_with(generator, FAST.model_copy(update={"max_retries": 2}))
    assert generator.attempts == {"c0": 3}
    assert result.cases[0].errors[0].category == "server_error"


def test_retry_after_is_honoured() -> None:
    generator = Scripted(
        [ProviderError("429", category=ErrorCategory.rate_limit, retry_after_s=0.2)]
    )
    run_with(generator, FAST.model_copy(update={"retry_max_delay_s": 1.0}))
    assert generator.times[1] - generator.times[0] >= 0.19


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = CallPolicy(RuntimeConfig(retry_initial_delay_s=0.1, retry_max_delay_s=1.0))
    for attempt, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (5, 1.0)]:
        delays = [policy.backoff_s(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
    assert policy.backoff_s(0, 0.7) >= 0.7


def test_per_task_timeout_is_a_retryable_timeout() -> None:
    class Slow(Scripted):
        async def generate(self, case: Case, ctx: Any) -> GenerationResult:
            self.attempts[case.case_id] = self.attempts.get(case.case_id, 0) + 1
            if self.attempts[case.case_id] == 1:
                await asyncio.sleep(5)
            return GenerationResult(candidate_id=case.case_id, final_output={"answer": "0"})

    generator = Slow([])
    started = time.monotonic()
    result = run_with(generator, FAST.model_copy(update={"task_timeout_s": 0.05}))
    assert time.monotonic() - started < 2
    assert result.status is RunStatus.completed
    assert generator.attempts == {"c0": 2}


class Outage(Scripted):
    """Every call fails with a 503 until ``until`` (monotonic), then answers."""

    def __init__(self, until: float) -> None:
        super().__init__([])
        self.until = until

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        self.attempts[case.case_id] = self.attempts.get(case.case_id, 0) + 1
        self.times.append(time.monotonic())
        await asyncio.sleep(0.001)
        if time.monotonic() < self.until:
            raise ProviderError("down", category=ErrorCategory.server_error, status_code=503)
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "0"})


BREAKER = RuntimeConfig(
    max_retries=3,
    retry_initial_delay_s=0.02,
    retry_max_delay_s=0.02,
    circuit_breaker_threshold=3,
    circuit_breaker_cooldown_s=0.2,
    max_concurrent_tasks=8,
)


def test_an_open_circuit_holds_calls_then_releases_them_after_a_probe() -> None:
    """Their own retries (3 x 20 ms) could not outlast the outage; the breaker's hold does,
    and while it holds, only probes reach the provider."""
    generator = Outage(until=time.monotonic() + 0.3)
    result = run_with(generator, BREAKER, count=40)
    assert result.status is RunStatus.completed
    during = [t for t in generator.times if t < generator.until]
    # before the circuit opened: at most the calls in flight, and their retries; then probes
    assert len(during) <= 2 * BREAKER.max_concurrent_tasks + 5
    assert all(count <= BREAKER.max_retries + 1 for count in generator.attempts.values())


def test_a_permanent_outage_fails_every_case_promptly_as_provider_unavailable() -> None:
    generator = Outage(until=float("inf"))
    started = time.monotonic()
    result = run_with(generator, BREAKER, count=60)
    assert time.monotonic() - started < 3
    assert result.status is RunStatus.failed
    categories = {case.errors[0].category for case in result.cases}
    assert all(case.status is RunStatus.failed for case in result.cases)
    assert categories == {"provider_unavailable"}, categories
    assert "provider unavailable" in result.cases[-1].errors[0].message
    assert sum(generator.attempts.values()) < 60  # nothing like 60 cases x 4 attempts


def test_a_waiting_call_spends_no_retry() -> None:
    async def scenario() -> list[float]:
        breaker = CircuitBreaker(
            "x", threshold=1, cooldown_s=1.0, first_wait_s=0.05, give_up_after=3
        )
        breaker.record_failure(False, RuntimeError("down"))
        assert breaker.state == "open"
        started = time.monotonic()
        probe = await breaker.admit()  # waits for the first probe slot
        assert probe
        waiter = asyncio.ensure_future(breaker.admit())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # held while the probe is out
        breaker.record_success(probe)
        assert await waiter is False
        return [time.monotonic() - started]

    (waited,) = asyncio.run(scenario())
    assert waited >= 0.04


def test_the_breaker_gives_up_after_its_probes_fail() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker(
            "x", threshold=1, cooldown_s=0.05, first_wait_s=0.01, give_up_after=2
        )
        breaker.record_failure(False, RuntimeError("down"))
        for _ in range(2):
            probe = await breaker.admit()
            assert probe
            breaker.record_failure(probe, RuntimeError("still down"))
        with pytest.raises(ProviderUnavailableError, match="provider unavailable: 'x'"):
            await breaker.admit()
        await asyncio.sleep(0.06)  # after a cooldown, one call probes again
        assert await breaker.admit() is True

    asyncio.run(scenario())


class Peak(Scripted):
    """Answers after 10 ms, counting how many calls were in flight at most."""

    def __init__(self) -> None:
        super().__init__([])
        self.in_flight = 0
        self.peak = 0

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(0.01)
        self.in_flight -= 1
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "0"})


def test_per_component_concurrency_limit() -> None:
    generator = Peak()
    run_with(
        generator,
        RuntimeConfig(max_concurrent_tasks=16, component_concurrency={"test/scripted": 3}),
        count=12,
    )
    assert generator.peak == 3


def test_a_provider_limit_is_shared_by_its_components() -> None:
    """A generator and a judge on one account share its rate limit: calls to
    every component of a provider count against one limit."""
    in_flight: dict[str, int] = {"now": 0, "peak": 0}

    async def slow_call() -> None:
        in_flight["now"] += 1
        in_flight["peak"] = max(in_flight["peak"], in_flight["now"])
        await asyncio.sleep(0.01)
        in_flight["now"] -= 1

    async def main() -> None:
        policy = CallPolicy(
            RuntimeConfig(max_concurrent_tasks=16, provider_concurrency={"acme": 3}),
            providers={"house/judge": "acme"},  # a component whose provider is not its namespace
        )
        calls = [
            policy.call(component_id, slow_call)
            for component_id in ["acme/generator", "acme/judge", "house/judge"] * 4
        ]
        await asyncio.gather(*calls)

    asyncio.run(main())
    assert in_flight["peak"] == 3


def test_a_provider_attribute_names_the_provider_in_a_run() -> None:
    class Hosted(Peak):
        provider = "acme"

    generator = Hosted()
    result = run_with(
        generator,
        RuntimeConfig(max_concurrent_tasks=16, provider_concurrency={"acme": 2}),
        count=8,
    )
    assert result.status is RunStatus.completed
    assert generator.peak == 2


def test_a_call_waiting_for_its_component_holds_no_overall_slot() -> None:
    """With 4 slots overall and a slow component limited to 1, the calls queued
    for it must not take the slots another component's calls could use."""
    started: list[str] = []

    async def main() -> None:
        policy = CallPolicy(
            RuntimeConfig(max_concurrent_tasks=4, component_concurrency={"slow/judge": 1})
        )
        release = asyncio.Event()

        async def slow() -> None:
            started.append("slow")
            await release.wait()

        async def fast() -> None:
            started.append("fast")

        waiting = [asyncio.create_task(policy.call("slow/judge", slow)) for _ in range(4)]
        await asyncio.sleep(0.01)
        await asyncio.wait_for(
            asyncio.gather(*(policy.call("fast/generator", fast) for _ in range(3))), 1
        )
        release.set()
        await asyncio.gather(*waiting)

    asyncio.run(main())
    assert started.count("fast") == 3 and started.count("slow") == 4


def test_concurrency_limits_must_be_positive() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"provider_concurrency\.openai"):
        RuntimeConfig(provider_concurrency={"openai": 0})
    with pytest.raises(ValidationError, match=r"component_concurrency\.test/scripted"):
        RuntimeConfig(component_concurrency={"test/scripted": -1})


def test_a_limit_naming_nothing_in_the_run_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    run_with(Scripted([]), RuntimeConfig(provider_concurrency={"opnai": 2}))
    assert "runtime provider_concurrency names 'opnai', which is not in this run" in caplog.text
    assert "test" in caplog.text.split("it has: ")[1]


def test_classification_and_retry_after_parsing() -> None:
    assert classify(TimeoutError()).category is ErrorCategory.timeout
    assert classify(ValueError()).retryable is False
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None

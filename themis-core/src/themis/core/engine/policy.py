"""Execution policy: concurrency limits, retries with backoff, circuit breaking,
per-task timeouts, and getting sync components off the event loop.

All of it is runtime-only (RuntimeConfig) and never part of a run id.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from themis.core.config import RuntimeConfig
from themis.core.errors import CircuitOpenError, classify

T = TypeVar("T")

SLOW_CALL_S = 0.002
"""A sync parser or metric whose calls average above this moves to a thread."""


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets a probe through
    after ``cooldown_s``; closes again on the first success."""

    def __init__(self, threshold: int, cooldown_s: float) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.consecutive_failures = 0
        self.opened_at: float | None = None

    def check(self, component_id: str) -> None:
        if self.opened_at is None:
            return
        remaining = self.opened_at + self.cooldown_s - time.monotonic()
        if remaining > 0:
            raise CircuitOpenError(component_id, remaining)
        self.opened_at = None  # half-open: this call is the probe

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.threshold:
            self.opened_at = time.monotonic()


class Invoker:
    """Calls a component method whether it is sync or async.

    Async methods are awaited. Sync methods of components that do I/O
    (generators, judges) always run in a worker thread; sync parsers and
    metrics run inline until their average call time shows they are slow
    enough to stall the loop, and in a thread from then on.
    """

    def __init__(self) -> None:
        self._timings: dict[int, tuple[int, float]] = {}
        self._offloaded: set[int] = set()

    async def call(self, method: Callable[..., Any], *args: Any, blocking: bool = False) -> Any:
        if inspect.iscoroutinefunction(method):
            return await method(*args)
        key = id(getattr(method, "__func__", method))
        if blocking or key in self._offloaded:
            result = await asyncio.to_thread(method, *args)
        else:
            started = time.perf_counter()
            result = method(*args)
            elapsed = time.perf_counter() - started
            count, total = self._timings.get(key, (0, 0.0))
            count, total = count + 1, total + elapsed
            self._timings[key] = (count, total)
            if count >= 3 and total / count > SLOW_CALL_S:
                self._offloaded.add(key)
        if inspect.isawaitable(result):
            result = await result
        return result


def provider_of(component: Any) -> str:
    """Whose service a component calls, for ``provider_concurrency``: its
    ``provider`` attribute if it names one, else the namespace of its id
    (``openai/generator`` and ``openai/judge`` share the provider ``openai``)."""
    provider = getattr(component, "provider", None)
    if isinstance(provider, str) and provider:
        return provider
    return namespace_of(str(getattr(component, "component_id", "")))


def namespace_of(component_id: str) -> str:
    return component_id.split("/", 1)[0]


class CallPolicy:
    """Bounded, retried, circuit-broken calls to components."""

    def __init__(self, runtime: RuntimeConfig, providers: Mapping[str, str] | None = None) -> None:
        """``providers`` maps component ids to their provider where it is not
        the id's namespace (see ``provider_of``)."""
        self.runtime = runtime
        self._providers = dict(providers or {})
        self._global = asyncio.Semaphore(runtime.max_concurrent_tasks)
        self._per_component = {
            component_id: asyncio.Semaphore(limit)
            for component_id, limit in runtime.component_concurrency.items()
        }
        self._per_provider = {
            provider: asyncio.Semaphore(limit)
            for provider, limit in runtime.provider_concurrency.items()
        }
        self._limits: dict[str, tuple[asyncio.Semaphore, ...]] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self.retries = 0

    def _limits_for(self, component_id: str) -> tuple[asyncio.Semaphore, ...]:
        """The limits a call takes, narrowest first: a call waiting for its
        component or provider holds no slot of the overall limit meanwhile."""
        limits = self._limits.get(component_id)
        if limits is None:
            provider = self._providers.get(component_id) or namespace_of(component_id)
            found = (
                self._per_component.get(component_id),
                self._per_provider.get(provider),
                self._global,
            )
            limits = self._limits[component_id] = tuple(x for x in found if x is not None)
        return limits

    def _breaker(self, component_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(component_id)
        if breaker is None:
            breaker = CircuitBreaker(
                self.runtime.circuit_breaker_threshold, self.runtime.circuit_breaker_cooldown_s
            )
            self._breakers[component_id] = breaker
        return breaker

    def backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Exponential backoff with full jitter, never shorter than Retry-After."""
        ceiling = min(
            self.runtime.retry_max_delay_s, self.runtime.retry_initial_delay_s * (2**attempt)
        )
        delay = random.uniform(ceiling / 2, ceiling) if ceiling > 0 else 0.0
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, max(self.runtime.retry_max_delay_s, 0.0)))
        return delay

    async def call(
        self, component_id: str, make_call: Callable[[], Awaitable[T]], *, retry: bool = True
    ) -> T:
        breaker = self._breaker(component_id)
        limits = self._limits_for(component_id)
        attempts = self.runtime.max_retries + 1 if retry else 1
        for attempt in range(attempts):
            try:
                breaker.check(component_id)
                result = await self._within(limits, make_call)
                breaker.record_success()
                return result
            except Exception as exc:
                verdict = classify(exc)
                retryable = verdict.retryable or verdict.category in self.runtime.retryable_errors
                if not isinstance(exc, CircuitOpenError) and retryable:
                    breaker.record_failure()
                if not retryable or attempt + 1 >= attempts:
                    raise
                self.retries += 1
                await asyncio.sleep(self.backoff_s(attempt, verdict.retry_after_s))
        raise AssertionError("unreachable")

    async def _within(
        self, limits: tuple[asyncio.Semaphore, ...], make_call: Callable[[], Awaitable[T]]
    ) -> T:
        if not limits:
            return await self._timed(make_call)
        async with limits[0]:
            return await self._within(limits[1:], make_call)

    async def _timed(self, make_call: Callable[[], Awaitable[T]]) -> T:
        timeout = self.runtime.task_timeout_s
        if timeout is None:
            return await make_call()
        return await asyncio.wait_for(make_call(), timeout)

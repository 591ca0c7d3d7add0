"""Execution policy: concurrency limits, retries with backoff, circuit breaking,
per-task timeouts, and getting sync components off the event loop.

All of it is runtime-only (RuntimeConfig) and never part of a run id.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar

from themis.core.config import RuntimeConfig
from themis.core.engine.breaker import BreakerState, CircuitBreaker
from themis.core.engine.offload import SHARED_POOL
from themis.core.engine.ratelimit import RateLimiter, Route
from themis.core.errors import ComponentTimeoutError, ProviderError, classify

T = TypeVar("T")

SLOW_CALL_S = 0.002
"""A sync parser or metric whose calls average above this moves to a thread."""


class Invoker:
    """Calls a component method whether it is sync or async, under a time limit.

    Async methods are awaited. Sync methods run on a daemon worker thread
    (``engine.offload``), so a call that overruns its limit fails its case
    as a timeout while the run goes on. Only without a limit do sync parsers
    and metrics run inline, until their average call time shows they are slow
    enough to stall the loop.

    ``timeout_s`` is the limit for calls that do not pass their own: the
    local components (selector, reducer, parsers, metrics, workflow steps).
    Generator and judge calls pass None: ``CallPolicy`` times each attempt.
    """

    def __init__(self, timeout_s: float | None = None) -> None:
        self.timeout_s = timeout_s
        self._timings: dict[int, tuple[int, float]] = {}
        self._offloaded: set[int] = set()

    async def call(
        self,
        method: Callable[..., Any],
        *args: Any,
        blocking: bool = False,
        timeout_s: float | Literal["default"] | None = "default",
    ) -> Any:
        limit = self.timeout_s if timeout_s == "default" else timeout_s
        if limit is None:
            return await self._call(method, args, blocking=blocking)
        started = time.monotonic()
        try:
            return await asyncio.wait_for(self._call(method, args, blocking=True), limit)
        except TimeoutError as exc:
            if time.monotonic() - started < limit:
                raise  # the component's own timeout, not ours
            raise ComponentTimeoutError(
                f"{_method_name(method)}() did not return within {limit:g}s "
                "(RuntimeConfig.task_timeout_s, or component_timeout_s when that is unset); "
                "the case fails as a timeout and the run goes on"
            ) from exc

    async def _call(
        self, method: Callable[..., Any], args: tuple[Any, ...], *, blocking: bool
    ) -> Any:
        if inspect.iscoroutinefunction(method):
            return await method(*args)
        key = id(getattr(method, "__func__", method))
        if blocking or key in self._offloaded:
            result = await SHARED_POOL.run(method, *args)
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


def _method_name(method: Callable[..., Any]) -> str:
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", type(method).__name__)
    component_id = getattr(owner, "component_id", None)
    if component_id is not None:
        return f"{component_id} {name}"
    return getattr(method, "__qualname__", name)


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


def model_of(component: Any) -> str | None:
    """The model a component calls (its ``model`` attribute), for rate-limit keys."""
    model = getattr(component, "model", None)
    return model if isinstance(model, str) and model else None


class CallPolicy:
    """Bounded, retried, circuit-broken, rate-limited calls to components."""

    def __init__(
        self,
        runtime: RuntimeConfig,
        providers: Mapping[str, str] | None = None,
        *,
        deferred: Mapping[str, int] | None = None,
    ) -> None:
        """``providers`` maps component ids to their provider where it is not
        the id's namespace (see ``provider_of``). ``deferred`` maps batch
        components (``core.batching``) to how many calls each may hold: their
        calls wait for a provider batch, not a connection, so they take that
        limit instead of the run's and provider's, and no per-call timeout."""
        self.runtime = runtime
        self._providers = dict(providers or {})
        self._deferred = {
            component_id: asyncio.Semaphore(limit)
            for component_id, limit in (deferred or {}).items()
        }
        self._global = asyncio.Semaphore(runtime.max_concurrent_tasks)
        self.rate_limits = RateLimiter(runtime.provider_rate_limits)
        """Token buckets and adaptive concurrency by provider key (``engine.ratelimit``)."""
        self._routes: dict[tuple[str, int], Route] = {}
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
        """The limits a call takes before its rate limits, narrowest first: a
        call waiting for its component, its provider or its provider's rate
        holds no slot of the overall limit meanwhile."""
        limits = self._limits.get(component_id)
        if limits is None and component_id in self._deferred:
            limits = self._limits[component_id] = (self._deferred[component_id],)
        if limits is None:
            found = (
                self._per_component.get(component_id),
                self._per_provider.get(self._provider(component_id)),
            )
            limits = self._limits[component_id] = tuple(x for x in found if x is not None)
        return limits

    def _provider(self, component_id: str) -> str:
        return self._providers.get(component_id) or namespace_of(component_id)

    def _route(self, component_id: str, component: Any) -> Route:
        """Where a component's calls count against rate limits (cached per component)."""
        cache_key = (component_id, id(component))
        route = self._routes.get(cache_key)
        if route is None:
            provider = self._provider(component_id)
            caps = (
                self.runtime.component_concurrency.get(component_id),
                self.runtime.provider_concurrency.get(provider),
                self.runtime.max_concurrent_tasks,
            )
            max_output = getattr(component, "max_output_tokens", None)
            route = self._routes[cache_key] = self.rate_limits.route(
                provider,
                model_of(component),
                cap=min(cap for cap in caps if cap is not None),
                max_output_tokens=max_output if isinstance(max_output, int) else None,
            )
        return route

    def _breaker(self, component_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(component_id)
        if breaker is None:
            runtime = self.runtime
            breaker = CircuitBreaker(
                component_id,
                threshold=runtime.circuit_breaker_threshold,
                cooldown_s=runtime.circuit_breaker_cooldown_s,
                first_wait_s=runtime.retry_initial_delay_s,
                give_up_after=runtime.max_retries + 1,
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
        self,
        component_id: str,
        make_call: Callable[[], Awaitable[T]],
        *,
        retry: bool = True,
        component: Any = None,
        prompt: Any = None,
    ) -> T:
        """One component call under the run's limits, retried with backoff.

        A call waiting for an open circuit or a rate limit spends none of its
        retries; only attempts that reach the component do (see
        ``engine.breaker`` and ``engine.ratelimit``). ``component`` (its
        ``model`` and ``max_output_tokens``) and ``prompt`` (what is sent,
        for the token estimate) make the rate-limit key and cost precise.
        """
        breaker = self._breaker(component_id)
        limits = self._limits_for(component_id)
        route = self._route(component_id, component)
        attempts = self.runtime.max_retries + 1 if retry else 1
        earlier: list[str] = []
        for attempt in range(attempts):
            probe = await breaker.admit()
            try:
                result = await self._within(limits, component_id, make_call, route, prompt)
            except Exception as exc:
                verdict = classify(exc)
                retryable = verdict.retryable or verdict.category in self.runtime.retryable_errors
                if retryable:
                    breaker.record_failure(probe, exc, verdict.retry_after_s)
                elif isinstance(exc, ProviderError):
                    breaker.record_success(probe)  # it answered: the request was at fault
                else:
                    breaker.release_probe(probe)
                if not retryable or attempt + 1 >= attempts:
                    final: BaseException = exc
                    if retryable and breaker.state is not BreakerState.closed:
                        # Its last attempts were probes of a provider that is down.
                        final = breaker.unavailable()
                    record_attempts(final, attempt + 1, earlier)
                    if final is not exc:
                        raise final from exc
                    raise
                earlier.append(f"{type(exc).__name__}: {exc}"[:500])
                self.retries += 1
                await asyncio.sleep(self.backoff_s(attempt, verdict.retry_after_s))
                continue
            except BaseException:
                breaker.release_probe(probe)
                raise
            breaker.record_success(probe)
            return result
        raise AssertionError("unreachable")

    async def _within(
        self,
        limits: tuple[asyncio.Semaphore, ...],
        component_id: str,
        make_call: Callable[[], Awaitable[T]],
        route: Route,
        prompt: Any,
    ) -> T:
        if limits:
            async with limits[0]:
                return await self._within(limits[1:], component_id, make_call, route, prompt)
        if component_id in self._deferred:
            # A batch component: its own capacity was its only limit; the
            # provider queues a batch's requests itself, so no overall slot,
            # no request-rate pacing and no per-call timeout.
            return await make_call()

        async def send() -> T:
            async with self._global:
                return await self._timed(component_id, make_call)

        return await self.rate_limits.call(route, prompt, send)

    async def _timed(self, component_id: str, make_call: Callable[[], Awaitable[T]]) -> T:
        timeout = self.runtime.call_timeout_s
        if timeout is None or component_id in self._deferred:
            return await make_call()
        started = time.monotonic()
        try:
            return await asyncio.wait_for(make_call(), timeout)
        except TimeoutError as exc:
            if time.monotonic() - started < timeout:
                raise  # the component's own timeout, not ours
            raise ComponentTimeoutError(
                f"{component_id} did not answer within {timeout:g}s "
                "(RuntimeConfig.task_timeout_s, or component_timeout_s when that is unset)"
            ) from exc


ATTEMPTS_ATTRIBUTE = "themis_attempts"


def record_attempts(exc: BaseException, attempts: int, earlier: list[str]) -> None:
    """Mark an exception with its retry history, for the stored StageError."""
    # An exception type with __slots__ keeps no history.
    with contextlib.suppress(AttributeError):
        setattr(exc, ATTEMPTS_ATTRIBUTE, (attempts, list(earlier)))

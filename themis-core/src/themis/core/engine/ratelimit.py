"""Provider rate limits: token buckets that pace calls, and concurrency that
backs off when the provider says "too many requests".

Hosted models limit requests and tokens per minute, per account and model.
A run that ignores this spends its time in 429s and retries, and a run that
sends far below it wastes the account. So, per provider key (``openai``, or
``openai:gpt-4o-mini`` for one model; everything after the first colon is
the model):

- a **token bucket** per limit (``RuntimeConfig.provider_rate_limits``):
  requests cost one, tokens cost an estimate made before the call (prompt
  characters / 4, plus the call's ``max_output_tokens`` or the outputs seen
  so far) that is corrected from the usage the response reports. The bucket
  holds a 61st of a minute's worth and refills at the other 60/61, so no
  sliding minute sees more than the limit. A call waits for its bucket
  before it takes the run's overall concurrency slot, and waiting spends
  none of its retries.
- the provider's ``x-ratelimit-*`` headers (OpenAI's names: ``limit-``,
  ``remaining-`` and ``reset-requests``/``-tokens``, resets like ``6m0s`` or
  ``20ms``), which adapters hand over with :func:`report_rate_limit_headers`:
  a reported limit lower than the configured one (or the only one) becomes
  the bucket's rate, ``remaining`` caps what the bucket holds, and nothing
  remaining holds the key's calls until the reset (at most a bucket's
  refill time: OpenAI's reset is the time until the quota is full again).
- **adaptive concurrency** (AIMD): a rate-limit error halves the key's
  calls in flight (once per burst: calls sent before the last decrease do
  not decrease it again), successes add it back (one for every round of
  calls at the current limit), never above the cap (``provider_concurrency`` or
  ``max_concurrent_tasks``); the 429's ``Retry-After`` holds every call of
  the key until it is over.

Several processes on one run divide each limit between them
(:meth:`RateLimiter.set_workers`); see docs/execution.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from themis.core.config import RateLimit
from themis.core.errors import ErrorCategory, classify

T = TypeVar("T")

log = logging.getLogger(__name__)

SECONDS_PER_MINUTE = 60.0
"""The unit of every limit. Only tests shorten it, to keep runs fast."""

BURST_MINUTE_FRACTION = 1 / 61
"""A bucket holds this much of a minute's limit and refills at the rest of it
(60/61 of the limit a minute): a full bucket plus sixty seconds of refill is
exactly the limit, so no sliding minute exceeds it."""

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 256
"""The output estimate of a call with no ``max_output_tokens``, until
responses have said how long outputs are."""

DECREASE_FACTOR = 0.5
INCREASE_PER_LIMIT = 1.0
"""Adaptive concurrency grows by one for every ``limit / INCREASE_PER_LIMIT``
successes: by one per round of calls at the current limit, as TCP does."""


# -- what adapters report ---------------------------------------------------------


@dataclass(slots=True)
class CallReport:
    """What the adapter saw of the response to one call."""

    headers: dict[str, str] | None = None


_CURRENT_CALL: ContextVar[CallReport | None] = ContextVar("themis_rate_limit_call", default=None)


def report_rate_limit_headers(headers: Mapping[str, str]) -> None:
    """Hand the engine a response's ``x-ratelimit-*`` headers (success or error).

    Adapters call this with every response's headers; outside a policed call
    it does nothing. Other headers are ignored.
    """
    report = _CURRENT_CALL.get()
    if report is None:
        return
    found = {
        str(name).lower(): str(value)
        for name, value in headers.items()
        if str(name).lower().startswith("x-ratelimit-")
    }
    if found:
        report.headers = found


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def parse_reset(value: str | None) -> float | None:
    """Seconds from a reset header: OpenAI's ``6m0s``, ``1.5s``, ``20ms``, or plain seconds."""
    if value is None:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    if not text or _DURATION.sub("", text):
        return None
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(amount) * scale[unit] for amount, unit in _DURATION.findall(text))


@dataclass(frozen=True, slots=True)
class Quota:
    """One dimension (requests or tokens) of the provider's headers."""

    limit: float | None
    remaining: float | None
    reset_s: float | None


def quotas_from_headers(headers: Mapping[str, str]) -> dict[str, Quota]:
    """``{"requests": Quota, "tokens": Quota}`` for the dimensions the headers speak of."""
    quotas: dict[str, Quota] = {}
    for unit in ("requests", "tokens"):
        limit = _number(headers.get(f"x-ratelimit-limit-{unit}"))
        remaining = _number(headers.get(f"x-ratelimit-remaining-{unit}"))
        reset_s = parse_reset(headers.get(f"x-ratelimit-reset-{unit}"))
        if limit is not None or remaining is not None:
            quotas[unit] = Quota(limit, remaining, reset_s)
    return quotas


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


# -- buckets ------------------------------------------------------------------------


class Bucket:
    """A token bucket for one dimension of one key; an unknown limit admits all."""

    def __init__(self, configured_per_minute: float | None) -> None:
        self.configured = configured_per_minute
        self.learned: float | None = None
        self.share = 1
        self.level: float | None = None  # full, until first used
        self.stamp = time.monotonic()

    def per_minute(self) -> float | None:
        """This process's limit: the lower of the configured and reported ones, shared."""
        known = [limit for limit in (self.configured, self.learned) if limit is not None]
        return min(known) / self.share if known else None

    def _refill(self, now: float) -> tuple[float, float] | None:
        """(capacity, rate per second) after refilling to ``now``; None without a limit."""
        per_minute = self.per_minute()
        if per_minute is None:
            return None
        capacity = max(1.0, per_minute * BURST_MINUTE_FRACTION)
        # refilling at 60/61 of the limit, a full bucket plus a minute's
        # refill is the limit: no sliding minute, at a strict provider, sees more
        rate = per_minute * (1 - BURST_MINUTE_FRACTION) / SECONDS_PER_MINUTE
        if self.level is None:
            self.level = capacity
        else:
            self.level = min(capacity, self.level + rate * (now - self.stamp))
        self.stamp = now
        return capacity, rate

    def wait_s(self, cost: float, now: float) -> float:
        """How long until ``cost`` may be taken (a cost above the capacity
        waits for a full bucket and leaves it in debt)."""
        shape = self._refill(now)
        if shape is None or cost <= 0:
            return 0.0
        capacity, rate = shape
        assert self.level is not None
        need = min(cost, capacity)
        return 0.0 if self.level >= need else (need - self.level) / rate

    def take(self, amount: float) -> None:
        if self.level is not None and self.per_minute() is not None:
            self.level -= amount

    def cap_level(self, remaining: float, now: float) -> None:
        """What the provider says is left (this process's share of it) bounds what we may send."""
        if self._refill(now) is not None:
            assert self.level is not None
            self.level = min(self.level, remaining / self.share)


def _spent_hold_s(reset_s: float | None) -> float:
    """How long to send nothing when the provider says nothing remains.

    OpenAI's reset is the time until the quota is *full* again (a minute, when
    it is spent), but a request's worth comes back long before that; so at
    most a bucket's refill time (a 61st of a minute), after which the bucket
    paces and a 429's Retry-After has the last word."""
    longest = SECONDS_PER_MINUTE * BURST_MINUTE_FRACTION
    return longest if reset_s is None else min(reset_s, longest)


class KeyBudget:
    """The requests and tokens buckets of one provider key, and its holds."""

    def __init__(self, key: str, limiter: RateLimiter, limit: RateLimit | None) -> None:
        self.key = key
        self._limiter = limiter
        self.requests = Bucket(limit.requests_per_minute if limit else None)
        self.tokens = Bucket(limit.tokens_per_minute if limit else None)
        self.blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.waits = 0
        self.waited_s = 0.0

    def counts_tokens(self) -> bool:
        return self.tokens.per_minute() is not None

    async def acquire(self, tokens: float) -> None:
        """Wait until one request and ``tokens`` tokens fit, then take them.
        Callers queue in order, so a waiting call is never overtaken."""
        async with self._lock:
            first_wait = True
            while True:
                now = time.monotonic()
                wait = max(
                    self.blocked_until - now,
                    self.requests.wait_s(1.0, now),
                    self.tokens.wait_s(tokens, now),
                )
                if wait <= 0:
                    break
                if first_wait:
                    first_wait = False
                    self.waits += 1
                    self._limiter.notice(self)
                self.waited_s += wait
                await asyncio.sleep(wait)
            self.requests.take(1.0)
            self.tokens.take(tokens)

    def observe(self, quotas: Mapping[str, Quota], now: float, others_in_flight: int) -> None:
        """Follow a response's headers. Calls still in flight may not be in the
        server's ``remaining`` yet, so they are counted against it."""
        for unit, quota in quotas.items():
            bucket = self.requests if unit == "requests" else self.tokens
            if quota.limit is not None and quota.limit > 0:
                bucket.learned = quota.limit
            if quota.remaining is not None:
                pending = others_in_flight if unit == "requests" else 0.0
                bucket.cap_level(quota.remaining - pending, now)
                if quota.remaining < 1:
                    self.hold(_spent_hold_s(quota.reset_s), now)

    def hold(self, seconds: float, now: float) -> None:
        """Send nothing on this key for ``seconds`` (a Retry-After, a spent quota)."""
        self.blocked_until = max(self.blocked_until, now + seconds)

    def describe(self) -> str:
        parts = []
        for unit, bucket in (("requests", self.requests), ("tokens", self.tokens)):
            per_minute = bucket.per_minute()
            if per_minute is not None:
                parts.append(f"{per_minute:g} {unit}/min")
        return ", ".join(parts) or "the provider's reset time"


# -- adaptive concurrency ----------------------------------------------------------


class AdaptiveConcurrency:
    """Calls in flight for one key: halved on a rate limit, grown back on success."""

    def __init__(self, key: str, cap: int) -> None:
        self.key = key
        self.cap = cap
        self.limit = float(cap)
        self.in_flight = 0
        self.lowest = cap
        self.decreases = 0
        self.rate_limited = 0
        self.last_decrease_at = -math.inf
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))

    async def acquire(self) -> float:
        """Wait for a slot; returns when the call started (for :meth:`release`)."""
        if self.in_flight >= self.allowed or self._waiters:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self.in_flight -= 1  # the slot handed over is given back
                    self._wake()
                else:
                    self._waiters.remove(waiter)
                raise
        else:
            self.in_flight += 1
        return time.monotonic()

    def release(self, started_at: float, outcome: str) -> None:
        """``outcome`` is ``ok``, ``rate_limited`` or ``other`` (says nothing of the rate)."""
        self.in_flight -= 1
        if outcome == "rate_limited":
            self.rate_limited += 1
            if started_at >= self.last_decrease_at:
                self.limit = max(1.0, math.floor(self.limit * DECREASE_FACTOR))
                self.last_decrease_at = time.monotonic()
                self.decreases += 1
                self.lowest = min(self.lowest, self.allowed)
        elif outcome == "ok" and self.limit < self.cap:
            self.limit = min(float(self.cap), self.limit + INCREASE_PER_LIMIT / self.limit)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.allowed:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)


# -- routes and the limiter ---------------------------------------------------------


@dataclass(slots=True)
class Route:
    """Where one component's calls are counted: its provider and model keys."""

    keys: tuple[str, ...]
    """The keys whose limits apply: the provider, then ``provider:model``."""
    key: str
    """The most specific key: headers and 429s are about it."""
    gate: AdaptiveConcurrency
    max_output_tokens: int | None
    output_tokens_seen: list[int] = field(default_factory=lambda: [0, 0])


class RateLimiter:
    """Every key's budget and adaptive concurrency, for one run in one event loop."""

    def __init__(self, limits: Mapping[str, RateLimit]) -> None:
        self._budgets: dict[str, KeyBudget] = {
            key: KeyBudget(key, self, limit) for key, limit in limits.items()
        }
        self._gates: dict[str, AdaptiveConcurrency] = {}
        self._noticed: set[str] = set()
        self.workers = 1

    def route(
        self, provider: str, model: str | None, *, cap: int, max_output_tokens: int | None
    ) -> Route:
        key = f"{provider}:{model}" if model else provider
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = AdaptiveConcurrency(key, cap)
        keys = (provider, key) if key != provider else (provider,)
        return Route(keys, key, gate, max_output_tokens)

    def set_workers(self, workers: int) -> None:
        """Share every limit among ``workers`` processes running this run."""
        self.workers = max(1, workers)
        for budget in self._budgets.values():
            budget.requests.share = budget.tokens.share = self.workers

    def budget(self, key: str) -> KeyBudget:
        """The key's budget, made (with no configured limit) on first use."""
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = KeyBudget(key, self, None)
            budget.requests.share = budget.tokens.share = self.workers
        return budget

    async def call(self, route: Route, prompt: Any, send: Callable[[], Awaitable[T]]) -> T:
        """One attempt: a slot of the key's adaptive concurrency, its buckets, then ``send``."""
        started = await route.gate.acquire()
        outcome = "other"
        try:
            budgets = [self._budgets[key] for key in route.keys if key in self._budgets]
            tokens = 0.0
            if any(budget.counts_tokens() for budget in budgets):
                tokens = float(self.estimate_tokens(route, prompt))
            for budget in budgets:
                await budget.acquire(tokens)
            report = CallReport()
            reset = _CURRENT_CALL.set(report)
            try:
                result = await send()
            except Exception as exc:
                verdict = classify(exc)
                if verdict.category is ErrorCategory.rate_limit:
                    outcome = "rate_limited"
                    self._rate_limited(route, verdict.retry_after_s)
                raise
            finally:
                _CURRENT_CALL.reset(reset)
                if report.headers:
                    self.budget(route.key).observe(
                        quotas_from_headers(report.headers),
                        time.monotonic(),
                        others_in_flight=route.gate.in_flight - 1,
                    )
            outcome = "ok"
            self._settle(route, budgets, tokens, result)
            return result
        finally:
            route.gate.release(started, outcome)

    def estimate_tokens(self, route: Route, prompt: Any) -> int:
        """The tokens a call may cost, before it is sent."""
        output = route.max_output_tokens
        if output is None:
            count, total = route.output_tokens_seen
            output = math.ceil(total / count) if count else DEFAULT_OUTPUT_TOKENS
        return math.ceil(_chars(prompt) / CHARS_PER_TOKEN) + output

    def _settle(self, route: Route, budgets: list[KeyBudget], estimate: float, result: Any) -> None:
        usage = _usage(result)
        if usage is None:
            return
        total, output = usage
        if output is not None:
            route.output_tokens_seen[0] += 1
            route.output_tokens_seen[1] += output
        if total is not None and estimate:
            for budget in budgets:
                budget.tokens.take(total - estimate)

    def _rate_limited(self, route: Route, retry_after_s: float | None) -> None:
        if retry_after_s:
            budget = self.budget(route.key)
            budget.hold(retry_after_s, time.monotonic())

    def notice(self, budget: KeyBudget) -> None:
        """Say once per key that calls are being held, so a slow run explains itself."""
        if budget.key in self._noticed:
            return
        self._noticed.add(budget.key)
        shared = f", this process's share of {self.workers} workers" if self.workers > 1 else ""
        log.warning(
            "themis: pacing calls to %s to stay within its rate limit (%s%s); "
            "waiting spends no retries",
            budget.key,
            budget.describe(),
            shared,
        )

    def state(self) -> dict[str, dict[str, Any]]:
        """What the limiter did, by key: limits in force, waits, and adaptive concurrency."""
        found: dict[str, dict[str, Any]] = {}
        for key, budget in self._budgets.items():
            found.setdefault(key, {}).update(
                requests_per_minute=budget.requests.per_minute(),
                tokens_per_minute=budget.tokens.per_minute(),
                learned_requests_per_minute=budget.requests.learned,
                learned_tokens_per_minute=budget.tokens.learned,
                waits=budget.waits,
                waited_s=budget.waited_s,
            )
        for key, gate in self._gates.items():
            found.setdefault(key, {}).update(
                concurrency=gate.allowed,
                concurrency_cap=gate.cap,
                lowest_concurrency=gate.lowest,
                decreases=gate.decreases,
                rate_limited=gate.rate_limited,
            )
        return found


def _chars(prompt: Any) -> int:
    if prompt is None:
        return 0
    if isinstance(prompt, str):
        return len(prompt)
    dump = getattr(prompt, "model_dump_json", None)
    if callable(dump):
        return len(dump())
    if isinstance(prompt, tuple | list):
        return sum(_chars(part) for part in prompt)
    return len(json.dumps(prompt, default=str, ensure_ascii=False))


def _usage(result: Any) -> tuple[int | None, int | None] | None:
    """(total, output) tokens a call's result reports, if any."""
    usage = result.get("token_usage") if isinstance(result, Mapping) else None
    if usage is None:
        usage = getattr(result, "token_usage", None)
    if not isinstance(usage, Mapping):
        return None
    output = usage.get("output_tokens")
    total = usage.get("total_tokens")
    if total is None and isinstance(usage.get("input_tokens"), int) and isinstance(output, int):
        total = usage["input_tokens"] + output
    return (
        total if isinstance(total, int) else None,
        output if isinstance(output, int) else None,
    )

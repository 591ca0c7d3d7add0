"""A local OpenAI-compatible server that enforces a rate limit, as hosted providers do.

It is the adapters' fake server (``tests/adapters/fake_openai_server.py``)
with a quota in front of the completion paths: at most ``requests`` requests
and ``tokens`` tokens (prompt and output words, as the fake counts them) in
any sliding ``window_s`` seconds. A request over the quota is answered 429
with ``Retry-After`` (when ``enforce``); every answer carries OpenAI's
``x-ratelimit-*`` headers (when ``send_headers``). A burst of 429s can be
scripted, and the server records what it accepted and when, so a test
measures the server's own view of the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply

COMPLETION_PATHS = ("/v1/responses", "/v1/chat/completions", "/v1/completions")


def openai_duration(seconds: float) -> str:
    """OpenAI's reset format: ``1m30s``, ``1.5s``, ``20ms``."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.3g}s" if minutes else f"{rest:.3g}s"


class RateLimitServer(FakeOpenAIServer):
    def __init__(
        self,
        *,
        requests: int | None = None,
        tokens: int | None = None,
        window_s: float = 1.0,
        enforce: bool = True,
        send_headers: bool = True,
        latency_s: float = 0.0,
        models: tuple[str, ...] = ("test-model",),
    ) -> None:
        super().__init__(models)
        self.request_limit = requests
        self.token_limit = tokens
        self.window_s = window_s
        self.enforce = enforce
        self.send_headers = send_headers
        self.latency_s = latency_s
        self.accepted: list[tuple[float, int]] = []
        """(arrival time, tokens) of every request answered 200."""
        self.accepted_models: list[str] = []
        """The model each accepted request named, in the same order."""
        self.rejected = 0
        self.rejected_at: list[float] = []
        self.in_flight = 0
        self.peak_in_flight: list[tuple[float, int]] = []
        """(time, requests in flight) each time a completion request arrives."""
        self._burst = 0
        self._burst_retry_after_s = 0.0
        self._quota_lock = threading.Lock()

    def reject_next(self, count: int, *, retry_after_s: float = 0.05) -> None:
        """Answer the next ``count`` completion requests 429, whatever the quota."""
        with self._quota_lock:
            self._burst = count
            self._burst_retry_after_s = retry_after_s

    # -- the quota -------------------------------------------------------------

    def _window(self, now: float) -> list[tuple[float, int]]:
        return [(at, tokens) for at, tokens in self.accepted if at > now - self.window_s]

    def _headers(self, now: float) -> dict[str, str]:
        if not self.send_headers:
            return {}
        window = self._window(now)
        reset = openai_duration(window[0][0] + self.window_s - now) if window else "0ms"
        headers: dict[str, str] = {}
        if self.request_limit is not None:
            headers["x-ratelimit-limit-requests"] = str(self.request_limit)
            headers["x-ratelimit-remaining-requests"] = str(
                max(0, self.request_limit - len(window))
            )
            headers["x-ratelimit-reset-requests"] = reset
        if self.token_limit is not None:
            headers["x-ratelimit-limit-tokens"] = str(self.token_limit)
            headers["x-ratelimit-remaining-tokens"] = str(
                max(0, self.token_limit - sum(tokens for _, tokens in window))
            )
            headers["x-ratelimit-reset-tokens"] = reset
        return headers

    def _over_quota(self, now: float, cost: int) -> float | None:
        """Seconds until this request would fit, or None when it fits now."""
        window = self._window(now)
        over_requests = self.request_limit is not None and len(window) + 1 > self.request_limit
        used = sum(tokens for _, tokens in window)
        over_tokens = self.token_limit is not None and used + cost > self.token_limit
        if not (over_requests or over_tokens):
            return None
        return max(0.001, window[0][0] + self.window_s - now) if window else self.window_s

    def _reply_for(self, method: str, path: str, body: Any) -> Reply:
        if method != "POST" or path not in COMPLETION_PATHS:
            return super()._reply_for(method, path, body)
        with self._quota_lock:
            self.in_flight += 1
            self.peak_in_flight.append((time.monotonic(), self.in_flight))
        try:
            if self.latency_s:
                time.sleep(self.latency_s)
            answer = super()._reply_for(method, path, body)
            usage = answer.body.get("usage", {}) if isinstance(answer.body, dict) else {}
            cost = int(usage.get("total_tokens", 0))
            with self._quota_lock:
                now = time.monotonic()
                if self._burst > 0:
                    self._burst -= 1
                    self.rejected += 1
                    return self._rate_limited(now, self._burst_retry_after_s)
                wait = self._over_quota(now, cost) if self.enforce else None
                if wait is not None:
                    self.rejected += 1
                    return self._rate_limited(now, wait)
                self.accepted.append((now, cost))
                self.accepted_models.append(str(body.get("model")))
                headers = {
                    name: value
                    for name, value in answer.headers.items()
                    if not name.startswith("x-ratelimit-")
                }
                return Reply(
                    status=answer.status,
                    body=answer.body,
                    headers={**headers, **self._headers(now)},
                )
        finally:
            with self._quota_lock:
                self.in_flight -= 1

    def _rate_limited(self, now: float, retry_after_s: float) -> Reply:
        self.rejected_at.append(now)
        return Reply(
            status=429,
            body={"error": {"message": "Rate limit reached", "type": "requests"}},
            headers={"retry-after": f"{retry_after_s:.3f}", **self._headers(now)},
        )

    # -- what it saw -------------------------------------------------------------

    def arrivals(self, model: str) -> list[float]:
        """When each accepted request for ``model`` arrived."""
        return [
            at
            for (at, _), named in zip(self.accepted, self.accepted_models, strict=True)
            if named == model
        ]

    def most_in_any_window(
        self, window_s: float | None = None, *, model: str | None = None
    ) -> tuple[int, int]:
        """The most requests and the most tokens accepted in any sliding window
        (of one model's requests, when ``model`` is given)."""
        span = self.window_s if window_s is None else window_s
        times = [
            accepted
            for accepted, named in zip(self.accepted, self.accepted_models, strict=True)
            if model is None or named == model
        ]
        most_requests = most_tokens = 0
        start = 0
        tokens = 0
        for end, (at, cost) in enumerate(times):
            tokens += cost
            while times[start][0] <= at - span:
                tokens -= times[start][1]
                start += 1
            most_requests = max(most_requests, end - start + 1)
            most_tokens = max(most_tokens, tokens)
        return most_requests, most_tokens


@contextmanager
def rate_limit_server(**options: Any) -> Iterator[RateLimitServer]:
    server = RateLimitServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()

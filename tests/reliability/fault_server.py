"""A local OpenAI-compatible server that fails on purpose, on a seeded schedule.

It is the adapters' fake server (``tests/adapters/fake_openai_server.py``)
with faults in front of its answers to the completion paths:

- a *rate* of random faults, drawn from a ``random.Random(seed)`` in request
  order: 429 with ``Retry-After``, 500, 503, a hang (an answer slower than
  the client's timeout), a malformed body, an empty ``choices`` list;
- *outages*: every completion request answers 503 while one is on, from a
  start (seconds after ``start_outage`` is called) for a given length, or
  for ever.

``GET /health`` and ``/v1/models`` are never faulted, so a preflight passes
and the faults hit the run itself. The schedule and every fault served are
recorded, so a test can say what the run went through.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply

COMPLETION_PATHS = ("/v1/responses", "/v1/chat/completions", "/v1/completions")

FAULT_KINDS = ("rate_limit", "server_error", "unavailable", "hang", "malformed", "empty_choices")


@dataclass(frozen=True)
class Outage:
    starts_at: float
    ends_at: float  # float("inf") for a permanent outage


class FaultServer(FakeOpenAIServer):
    def __init__(
        self,
        *,
        seed: int = 0,
        fault_rate: float = 0.0,
        kinds: tuple[str, ...] = FAULT_KINDS,
        hang_s: float = 2.0,
        retry_after_s: float = 0.05,
        models: tuple[str, ...] = ("test-model",),
    ) -> None:
        super().__init__(models)
        self.fault_rate = fault_rate
        self.kinds = kinds
        self.hang_s = hang_s
        self.retry_after_s = retry_after_s
        self._random = random.Random(seed)
        self._fault_lock = threading.Lock()
        self.outages: list[Outage] = []
        self.served: Counter[str] = Counter()
        self.echo_headers = False
        # A client killed mid-request resets its connection: expected here, not news.
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]

    def start_outage(self, length_s: float, *, after_s: float = 0.0) -> Outage:
        """Answer 503 to every completion request for ``length_s`` seconds,
        starting ``after_s`` from now (``float('inf')`` for ever)."""
        now = time.monotonic()
        outage = Outage(now + after_s, now + after_s + length_s)
        with self._fault_lock:
            self.outages.append(outage)
        return outage

    def _in_outage(self, now: float) -> bool:
        return any(o.starts_at <= now < o.ends_at for o in self.outages)

    def _fault(self, kind: str) -> Reply:
        if kind == "rate_limit":
            return Reply(
                status=429,
                body={"error": {"message": "rate limited", "type": "rate_limit"}},
                headers={"retry-after": str(self.retry_after_s)},
            )
        if kind == "server_error":
            return Reply(status=500, body={"error": {"message": "internal error"}})
        if kind == "unavailable":
            return Reply(status=503, body={"error": {"message": "service unavailable"}})
        if kind == "hang":
            return Reply(status=200, delay_s=self.hang_s)
        if kind == "malformed":
            return Reply(status=200, body=b'{"id": "cut-off", "choi')
        if kind == "empty_choices":
            return Reply(status=200, body={"id": "x", "object": "chat.completion", "choices": []})
        raise ValueError(f"unknown fault kind {kind!r}")

    def _reply_for(self, method: str, path: str, body: Any) -> Reply:
        if method != "POST" or path not in COMPLETION_PATHS:
            return super()._reply_for(method, path, body)
        if self.echo_headers:
            # A careless server quoting the request back, credentials and all
            # (tests using this send one request at a time).
            headers = self.requests[-1].headers
            text = "bad request; you sent: " + json.dumps(headers)
            return Reply(status=400, body={"error": {"message": text, "headers": headers}})
        with self._fault_lock:
            if self._in_outage(time.monotonic()):
                self.served["outage"] += 1
                kind: str | None = "outage"
            elif self._random.random() < self.fault_rate:
                kind = self._random.choice(self.kinds)
                self.served[kind] += 1
            else:
                kind = None
                self.served["ok"] += 1
        if kind == "outage":
            return Reply(status=503, body={"error": {"message": "service unavailable (outage)"}})
        if kind is None:
            return super()._reply_for(method, path, body)
        fault = self._fault(kind)
        if fault.body is None:  # a slow but normal answer
            normal = super()._reply_for(method, path, body)
            return Reply(status=normal.status, body=normal.body, delay_s=fault.delay_s)
        return fault


@contextmanager
def fault_server(**options: Any) -> Iterator[FaultServer]:
    server = FaultServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()

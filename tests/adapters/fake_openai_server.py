"""A local OpenAI-compatible HTTP server for adapter tests.

It stands in for the one thing that cannot run here, a hosted model, and
nothing else: adapters reach it over real HTTP on 127.0.0.1 through the real
``openai`` SDK or httpx. It answers the Responses, Chat Completions and
Completions APIs, ``GET /v1/models`` and vLLM's ``GET /health``; a test can
script the next replies of a path (an error status with headers, a malformed
body, a slow answer) and read back every request it received.
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RATE_LIMIT_HEADERS = {
    # OpenAI's names and formats. Generous, as the engine paces by them
    # (tests/core/test_rate_limits.py serves real limits).
    "x-ratelimit-limit-requests": "600000",
    "x-ratelimit-remaining-requests": "599999",
    "x-ratelimit-reset-requests": "0.1ms",
}


@dataclass(frozen=True)
class Reply:
    """One scripted reply. ``body`` None means the normal answer for the path;
    bytes are sent as they are (a malformed body); anything else as JSON."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float


def _words(value: Any) -> int:
    return len(json.dumps(value).split())


class FakeOpenAIServer:
    """The server, its script and its log of received requests."""

    def __init__(self, models: tuple[str, ...] = ("test-model",), *, health: bool = True) -> None:
        self.models = list(models)
        self.model_details: dict[str, dict[str, Any]] = {}
        """More fields of a model's ``/v1/models`` entry, by model name (vLLM's ``root`` ...)."""
        self.health_status: int | None = 200 if health else None
        self.answer: Callable[[str, Any], str] = lambda path, body: "4"
        self.requests: list[Received] = []
        self._script: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._counter = 0
        self.open_connections = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- control -----------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def script(self, path: str, *replies: Reply) -> None:
        """Queue the next replies for ``path`` (``/v1/chat/completions``, ...)."""
        with self._lock:
            self._script[path].extend(replies)

    def received(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- answers -----------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._counter += 1
            return f"{prefix}-{self._counter}"

    def completion(self, path: str, body: Any) -> dict[str, Any]:
        """The normal answer for an API path, built from the request."""
        text = self.answer(path, body)
        model = body.get("model", "unknown") if isinstance(body, dict) else "unknown"
        prompt_tokens = _words(body)
        output_tokens = len(text.split())
        if path.endswith("/responses"):
            return {
                "id": self._next_id("resp"),
                "object": "response",
                "created_at": 1_700_000_000,
                "status": "completed",
                "model": model,
                "output": [
                    {
                        "type": "message",
                        "id": self._next_id("msg"),
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": text, "annotations": []}],
                    }
                ],
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
                "usage": {
                    "input_tokens": prompt_tokens,
                    "output_tokens": output_tokens,
                    "total_tokens": prompt_tokens + output_tokens,
                    "input_tokens_details": {"cached_tokens": 0},
                    "output_tokens_details": {"reasoning_tokens": 0},
                },
            }
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
        }
        if path.endswith("/chat/completions"):
            return {
                "id": self._next_id("chatcmpl"),
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            }
        return {
            "id": self._next_id("cmpl"),
            "object": "text_completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": usage,
        }

    def _default(self, method: str, path: str, body: Any) -> Reply:
        if method == "GET" and path == "/health":
            if self.health_status is None:
                return Reply(status=404, body={"detail": "Not Found"})
            return Reply(status=self.health_status, body=b"")
        if method == "GET" and path == "/v1/models":
            data = [
                {
                    "id": name,
                    "object": "model",
                    "owned_by": "test",
                    **self.model_details.get(name, {}),
                }
                for name in self.models
            ]
            return Reply(body={"object": "list", "data": data})
        if method == "POST" and path in (
            "/v1/responses",
            "/v1/chat/completions",
            "/v1/completions",
        ):
            return Reply(body=self.completion(path, body), headers=dict(RATE_LIMIT_HEADERS))
        return Reply(status=404, body={"error": {"message": f"no route {method} {path}"}})

    def _reply_for(self, method: str, path: str, body: Any) -> Reply:
        with self._lock:
            queue = self._script.get(path)
            scripted = queue.popleft() if queue else None
        if scripted is None:
            return self._default(method, path, body)
        if scripted.body is None and scripted.status < 400:
            normal = self._default(method, path, body)
            return Reply(
                status=scripted.status,
                body=normal.body,
                headers={**normal.headers, **scripted.headers},
                delay_s=scripted.delay_s,
            )
        return scripted

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as vLLM's and OpenAI's servers do

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.open_connections += 1

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    with server._lock:
                        server.open_connections -= 1

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                path = self.path.split("?", 1)[0]
                server.requests.append(
                    Received(
                        method,
                        path,
                        {k.lower(): v for k, v in self.headers.items()},
                        body,
                        time.monotonic(),
                    )
                )
                reply = server._reply_for(method, path, body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = (
                    reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                )
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        return Handler


@contextmanager
def running_server(**options: Any) -> Iterator[FakeOpenAIServer]:
    server = FakeOpenAIServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()

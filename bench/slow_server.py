"""A local OpenAI-compatible chat-completions server that answers after a delay.

    python bench/slow_server.py PORT_FILE [DELAY_S]

Binds 127.0.0.1 on a free port, writes the port to PORT_FILE, and serves
HTTP/1.1 keep-alive until killed. Only for benchmarks on this machine.

It stands in for a model server that would run on other hardware, so it is
written to cost as little CPU as it can (an asyncio protocol, replies built
once, a timer per request): on a 2-core machine every cycle it spends is
taken from the client being measured. For the same reason it runs on uvloop
when that is installed, as vLLM's own API server does (`uvloop.run`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": "bench",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4"}}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()

MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


def reply(body: bytes) -> bytes:
    head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    return f"{head}content-length: {len(body)}\r\n\r\n".encode() + body


COMPLETION, MODEL_LIST, HEALTHY = reply(BODY), reply(MODELS), reply(b"{}")

STATS: dict[str, float | None] = {"first_request": None, "last_response": None, "completions": 0}
"""Wall-clock times (time.time()) of the first completion request received and
the last completion answered since the last ``GET /bench-stats``, which
returns them and starts over: the client's start-up and wind-down; and how
many completions were asked for meanwhile (calls made twice show here)."""


class SlowHTTP(asyncio.Protocol):
    """Parses pipelined requests and answers each completion after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            length = 0
            marker = head.lower().find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return  # the body has not all arrived yet
            self.buffer = self.buffer[end + 4 + length :]
            path = head.split(b" ", 2)[1]
            if path.endswith(b"/models"):
                self.send(MODEL_LIST)
            elif path.endswith(b"/health"):
                self.send(HEALTHY)
            elif path.endswith(b"/bench-stats"):
                self.send(reply(json.dumps(STATS).encode()))
                STATS.update(first_request=None, last_response=None, completions=0)
            else:
                if STATS["first_request"] is None:
                    STATS["first_request"] = time.time()
                STATS["completions"] = (STATS["completions"] or 0) + 1
                asyncio.get_running_loop().call_later(self.delay, self.answer)

    def answer(self) -> None:
        self.send(COMPLETION)
        STATS["last_response"] = time.time()

    def send(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response)


async def main(port_file: str, delay: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SlowHTTP(delay), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    with open(port_file, "w") as handle_file:
        handle_file.write(str(port))
    async with server:
        await server.serve_forever()


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


if __name__ == "__main__":
    serve = main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
    if event_loop_name() == "uvloop":
        import uvloop

        uvloop.run(serve)
    else:
        asyncio.run(serve)

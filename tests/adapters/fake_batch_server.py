"""The local OpenAI server, with the Files and Batch APIs, for batch-mode tests.

It extends :class:`FakeOpenAIServer` (which answers ``/v1/chat/completions``,
``/v1/responses`` and ``/v1/models``) with what OpenAI's Batch API needs:
``POST /v1/files`` (a multipart upload, purpose ``batch``), ``GET
/v1/files/{id}`` and ``/v1/files/{id}/content``, ``POST /v1/batches``, ``GET
/v1/batches/{id}`` and ``POST /v1/batches/{id}/cancel``. A batch answers each
line as the chat endpoint would, once released: after ``completion_delay_s``,
or when the test calls :meth:`release` (with ``hold=True``). A test can make
chosen lines fail (``line_error``), or the whole batch end ``failed``,
``expired`` (only the first ``expire_after_lines`` lines answered) or
``cancelled``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.adapters.fake_openai_server import FakeOpenAIServer, Reply

LineError = Callable[[dict[str, Any]], tuple[int, dict[str, Any]] | None]


@dataclass
class FakeBatch:
    batch_id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, Any]
    created_at: float
    lines: list[dict[str, Any]]
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    polls: int = 0


class FakeBatchServer(FakeOpenAIServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.completion_delay_s = 0.0
        self.hold = False
        self.outcome = "completed"
        self.expire_after_lines = 0
        self.line_error: LineError = lambda body: None
        self.garbage_line = False
        """Put a line that is not JSON into each output file."""
        self._released = threading.Event()
        self._batch_lock = threading.Lock()

    def release(self) -> None:
        """Let held batches finish at their next poll."""
        self._released.set()

    def batch_requests(self) -> list[dict[str, Any]]:
        """Every line of every batch created, in order."""
        return [line for batch in self.batches.values() for line in batch.lines]

    # -- the Files and Batch APIs -----------------------------------------

    def _reply_for(self, method: str, path: str, body: Any) -> Reply:
        if path.startswith("/v1/files") or path.startswith("/v1/batches"):
            with self._batch_lock:
                return self._batch_api(method, path, body)
        return super()._reply_for(method, path, body)

    def _batch_api(self, method: str, path: str, body: Any) -> Reply:
        parts = path.strip("/").split("/")  # v1, files|batches, [id], [content|cancel]
        if method == "POST" and parts == ["v1", "files"]:
            return self._upload(body)
        if method == "GET" and parts[:2] == ["v1", "files"] and len(parts) >= 3:
            file_id = parts[2]
            if file_id not in self.files:
                return Reply(status=404, body={"error": {"message": f"no file {file_id}"}})
            if parts[3:] == ["content"]:
                return Reply(body=self.files[file_id][1])
            return Reply(body=self._file_object(file_id))
        if method == "POST" and parts == ["v1", "batches"]:
            return self._create(body)
        if parts[:2] == ["v1", "batches"] and len(parts) >= 3:
            batch = self.batches.get(parts[2])
            if batch is None:
                return Reply(status=404, body={"error": {"message": f"no batch {parts[2]}"}})
            if method == "POST" and parts[3:] == ["cancel"]:
                if batch.status not in ("completed", "failed", "expired"):
                    batch.status = "cancelled"
                return Reply(body=self._batch_object(batch))
            if method == "GET" and len(parts) == 3:
                batch.polls += 1
                self._advance(batch)
                return Reply(body=self._batch_object(batch))
        return Reply(status=404, body={"error": {"message": f"no route {method} {path}"}})

    def _upload(self, body: Any) -> Reply:
        text = body if isinstance(body, str) else json.dumps(body)
        lines = [line for line in text.splitlines() if line.startswith('{"custom_id"')]
        if "batch" not in text:
            return Reply(status=400, body={"error": {"message": "purpose must be batch"}})
        file_id = self._new_id("file")
        self.files[file_id] = ("themis-batch.jsonl", ("\n".join(lines) + "\n").encode())
        return Reply(body=self._file_object(file_id))

    def _create(self, body: dict[str, Any]) -> Reply:
        file_id = body.get("input_file_id")
        if file_id not in self.files or body.get("completion_window") != "24h":
            return Reply(status=400, body={"error": {"message": "bad batch request"}})
        content = self.files[file_id][1].decode()
        lines = [json.loads(line) for line in content.splitlines() if line.strip()]
        batch = FakeBatch(
            batch_id=self._new_id("batch"),
            input_file_id=file_id,
            endpoint=str(body.get("endpoint")),
            metadata=dict(body.get("metadata") or {}),
            created_at=time.monotonic(),
            lines=lines,
        )
        if any(line.get("url") != batch.endpoint for line in lines):
            batch.status = "failed"
            batch.errors = [{"code": "invalid_url", "message": "a line's url is not the endpoint"}]
        self.batches[batch.batch_id] = batch
        return Reply(body=self._batch_object(batch))

    def _advance(self, batch: FakeBatch) -> None:
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return
        batch.status = "in_progress"
        if self.hold and not self._released.is_set():
            return
        if time.monotonic() - batch.created_at < self.completion_delay_s:
            return
        if self.outcome == "failed":
            batch.status = "failed"
            batch.errors = [{"code": "invalid_request", "message": "the input file is invalid"}]
            return
        if self.outcome == "cancelled":
            batch.status = "cancelled"
            return
        answered = batch.lines
        if self.outcome == "expired":
            answered = batch.lines[: self.expire_after_lines]
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for line in answered:
            failure = self.line_error(line["body"])
            if failure is None:
                status, reply = 200, self.completion(line["url"], line["body"])
            else:
                status, reply = failure
            entry = {
                "id": self._new_id("batch_req"),
                "custom_id": line["custom_id"],
                "response": {
                    "status_code": status,
                    "request_id": self._new_id("req"),
                    "body": reply,
                },
                "error": None,
            }
            (outputs if status == 200 else errors).append(entry)
        for line in batch.lines[len(answered) :]:
            errors.append(
                {
                    "id": self._new_id("batch_req"),
                    "custom_id": line["custom_id"],
                    "response": None,
                    "error": {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the "
                        "completion window expired.",
                    },
                }
            )
        batch.output_file_id = self._store_lines(outputs)
        batch.error_file_id = self._store_lines(errors)
        batch.status = "expired" if self.outcome == "expired" else "completed"

    def _store_lines(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = self._new_id("file")
        text = "".join(json.dumps(x) + "\n" for x in lines)
        if self.garbage_line:
            text = '{"custom_id": "truncated\n' + text
        self.files[file_id] = ("output.jsonl", text.encode())
        return file_id

    def _new_id(self, prefix: str) -> str:
        return self._next_id(prefix)

    def _file_object(self, file_id: str) -> dict[str, Any]:
        name, data = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": 1_700_000_000,
            "filename": name,
            "purpose": "batch",
            "status": "processed",
        }

    def _batch_object(self, batch: FakeBatch) -> dict[str, Any]:
        done = batch.status in ("completed", "expired")
        return {
            "id": batch.batch_id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "created_at": 1_700_000_000,
            "metadata": batch.metadata,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "request_counts": {
                "total": len(batch.lines),
                "completed": len(batch.lines) if done else 0,
                "failed": 0,
            },
        }


@contextmanager
def running_batch_server(**options: Any) -> Iterator[FakeBatchServer]:
    server = FakeBatchServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()

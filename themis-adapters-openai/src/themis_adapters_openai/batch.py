"""OpenAI's Batch API: many calls as one upload, answered within 24 hours at half the price.

With ``batch=True`` a generator's (or judge's) calls are not sent one by one.
Each waits in an open batch; the batch is sent when it holds ``batch_size``
requests, when no request has joined it for a quiet spell (a tenth of the
window), or ``batch_window_s`` after its first request, whichever comes
first. Sending it uploads a JSONL file to ``/v1/files`` (purpose ``batch``),
creates the batch on ``/v1/batches`` for the adapter's endpoint with a 24 h
completion window, records the batch in the run's store (see
``themis.core.batching``) and only then polls it, every
``poll_interval_s`` at first and less often as it waits (up to
``max_poll_interval_s``). The output and error files are downloaded and each
line answers the call that asked, which returns like any other call: the
engine stores it as an ordinary event.

Each line's ``custom_id`` is a hash of the request and, for a generator, of
the candidate that asked, so the same call in a later process of the same
run finds its line in a batch an earlier process submitted: a process
killed while it waits resumes polling rather than paying again. A judge's
call carries no candidate, so identical judge requests in one run share one
line and one answer.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai as openai_sdk

from themis.core.authoring.identity import canonical_json
from themis.core.batching import BatchJournal
from themis.core.errors import ErrorCategory, ProviderError
from themis_adapters_openai.transport import SDKTransport
from themis_adapters_openai.wire import WireRequest, WireResponse, error_for_status, scrub

log = logging.getLogger(__name__)

MAX_BATCH_REQUESTS = 50_000
"""OpenAI's limit on the requests of one batch."""
DEFAULT_WINDOW_S = 10.0
DEFAULT_POLL_INTERVAL_S = 30.0
DEFAULT_MAX_POLL_INTERVAL_S = 600.0
ENDPOINTS = {"chat_completions": "/v1/chat/completions", "responses": "/v1/responses"}
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
MAX_POLL_FAILURES = 20
"""Polls or downloads in a row that may fail with a transient error before the
waiting calls fail; the batch stays recorded, so a resume polls it again."""


@dataclass(frozen=True, slots=True)
class BatchSettings:
    """How calls are gathered into batches and how a batch is waited for."""

    window_s: float = DEFAULT_WINDOW_S
    size: int = MAX_BATCH_REQUESTS
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    max_poll_interval_s: float = DEFAULT_MAX_POLL_INTERVAL_S

    @classmethod
    def checked(
        cls,
        where: str,
        *,
        window_s: float,
        size: int,
        poll_interval_s: float,
        max_poll_interval_s: float,
    ) -> BatchSettings:
        """Settings, or a ValueError naming the option that is wrong."""
        for name, value in (
            ("batch_window_s", window_s),
            ("poll_interval_s", poll_interval_s),
            ("max_poll_interval_s", max_poll_interval_s),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"{where}: {name} must be a positive number, got {value!r}")
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or not 0 < size <= MAX_BATCH_REQUESTS
        ):
            raise ValueError(
                f"{where}: batch_size must be an integer from 1 to {MAX_BATCH_REQUESTS} "
                f"(OpenAI's limit per batch), got {size!r}"
            )
        if max_poll_interval_s < poll_interval_s:
            raise ValueError(
                f"{where}: max_poll_interval_s ({max_poll_interval_s!r}) is below "
                f"poll_interval_s ({poll_interval_s!r})"
            )
        return cls(float(window_s), size, float(poll_interval_s), float(max_poll_interval_s))


def batcher_for(
    where: str,
    transport: SDKTransport,
    api_mode: str,
    *,
    batch: bool,
    window_s: float,
    size: int,
    poll_interval_s: float,
    max_poll_interval_s: float,
) -> Batcher | None:
    """The factories' ``batch=...`` options as a :class:`Batcher`, or None when off."""
    if not isinstance(batch, bool):
        raise ValueError(f"{where}: batch must be True or False, got {batch!r}")
    settings = BatchSettings.checked(
        where,
        window_s=window_s,
        size=size,
        poll_interval_s=poll_interval_s,
        max_poll_interval_s=max_poll_interval_s,
    )
    if not batch:
        return None
    return Batcher(transport, api_mode, settings, transport.secrets)


def custom_id(request: WireRequest, asked_by: str | None) -> str:
    """A batch line's id: the request, and the candidate that asked (if any)."""
    text = canonical_json({"request": request.json_body(), "asked_by": asked_by})
    return "themis-" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True, slots=True)
class LineAnswer:
    """What a batch returned for one line: a response, or the error to raise."""

    response: WireResponse | None = None
    error: ProviderError | None = None


@dataclass
class _Open:
    """The batch being gathered: its lines and who waits for each."""

    requests: dict[str, WireRequest] = field(default_factory=dict)
    waiters: dict[str, list[asyncio.Future[LineAnswer]]] = field(default_factory=dict)
    first_at: float = 0.0
    joined_at: float = 0.0


class _LoopState:
    """What the batcher holds within one run's event loop."""

    def __init__(self, journal: BatchJournal | None) -> None:
        self.journal = journal
        self.open = _Open()
        self.gathering: asyncio.Task[None] | None = None
        self.waiting: dict[str, list[asyncio.Future[LineAnswer]]] = {}
        self.stored: dict[str, str] = {}
        """custom id -> the batch an earlier process of the run submitted it in."""
        if journal is not None:
            for record in journal.pending():  # oldest first: the latest batch wins
                self.stored.update(dict.fromkeys(record.custom_ids, record.batch_id))
        self.ready: dict[str, LineAnswer] = {}
        """Answers of a resumed batch not asked for yet."""
        self.lines: dict[str, set[str]] = {}
        """batch id -> the lines waited for in it."""
        self.tasks: set[asyncio.Task[None]] = set()
        self.polling: set[str] = set()


class Batcher:
    """Sends an endpoint's calls through OpenAI's Batch API."""

    def __init__(
        self,
        transport: SDKTransport,
        api_mode: str,
        settings: BatchSettings,
        secrets: Callable[[], list[str]],
    ) -> None:
        self.transport = transport
        self.endpoint = ENDPOINTS[api_mode]
        self.settings = settings
        self._secrets = secrets
        self._journal: BatchJournal | None = None
        self._states: dict[asyncio.AbstractEventLoop, _LoopState] = {}
        self.submitted: list[str] = []
        """The batch ids this batcher submitted, in order (for logs and tests)."""

    @property
    def where(self) -> str:
        return self.transport.where

    def attach(self, journal: BatchJournal) -> None:
        """Called by the engine at the start of each run, before any call."""
        self._journal = journal
        self._states.pop(asyncio.get_running_loop(), None)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self._journal)
        return state

    async def aclose(self) -> None:
        """At the end of a run: stop polling (a killed or interrupted run resumes it)."""
        state = self._states.pop(asyncio.get_running_loop(), None)
        if state is None:
            return
        tasks = list(state.tasks) + ([state.gathering] if state.gathering else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def send(self, request: WireRequest, asked_by: str | None) -> WireResponse:
        """The response to ``request``, once the batch that carries it is done."""
        state = self._state()
        line = custom_id(request, asked_by)
        answer = state.ready.pop(line, None)
        if answer is None:
            future: asyncio.Future[LineAnswer] = asyncio.get_running_loop().create_future()
            self._enqueue(state, line, request, future)
            answer = await future
        if answer.error is not None:
            raise answer.error
        assert answer.response is not None
        return answer.response

    def _enqueue(
        self,
        state: _LoopState,
        line: str,
        request: WireRequest,
        future: asyncio.Future[LineAnswer],
    ) -> None:
        if line in state.waiting:  # already in a batch: share its answer
            state.waiting[line].append(future)
            return
        batch_id = state.stored.pop(line, None)
        if batch_id is not None:  # submitted by an earlier process of this run
            state.waiting[line] = [future]
            state.lines.setdefault(batch_id, set()).add(line)
            if batch_id not in state.polling:
                state.polling.add(batch_id)
                self._spawn(state, self._poll(state, batch_id, resumed=True))
            return
        loop = asyncio.get_running_loop()
        gathering = state.open
        if line in gathering.waiters:
            gathering.waiters[line].append(future)
            return
        gathering.requests[line] = request
        gathering.waiters[line] = [future]
        gathering.joined_at = loop.time()
        if len(gathering.requests) == 1:
            gathering.first_at = gathering.joined_at
            state.gathering = loop.create_task(self._gather(state))
        if len(gathering.requests) >= self.settings.size:
            self._send_open(state)

    async def _gather(self, state: _LoopState) -> None:
        """Wait until the open batch should go: quiet for a while, or old enough."""
        loop = asyncio.get_running_loop()
        window = self.settings.window_s
        quiet = window / 10
        gathering = state.open
        while state.open is gathering and gathering.requests:
            now = loop.time()
            due = min(gathering.joined_at + quiet, gathering.first_at + window)
            if now >= due:
                self._send_open(state)
                return
            await asyncio.sleep(due - now)

    def _send_open(self, state: _LoopState) -> None:
        gathering, state.open = state.open, _Open()
        if state.gathering is not None and state.gathering is not asyncio.current_task():
            state.gathering.cancel()
        state.gathering = None
        self._spawn(state, self._submit(state, gathering))

    def _spawn(self, state: _LoopState, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    # -- one batch ---------------------------------------------------------

    async def _submit(self, state: _LoopState, gathering: _Open) -> None:
        try:
            if state.journal is not None:
                self._adopt(state, gathering, await state.journal.refresh())
            if not gathering.requests:
                return
            lines = list(gathering.requests)
            batch_id, file_id = await self._create(gathering)
        except ProviderError as exc:
            _answer_all(gathering.waiters, LineAnswer(error=exc))
            return
        except BaseException as exc:  # cancelled, or a bug: nobody may wait for ever
            _answer_all(gathering.waiters, LineAnswer(error=self._unexpected(exc)))
            raise
        for line, futures in gathering.waiters.items():
            state.waiting.setdefault(line, []).extend(futures)
        state.lines[batch_id] = set(lines)
        self.submitted.append(batch_id)
        state.polling.add(batch_id)
        try:
            if state.journal is not None:
                await state.journal.submitted(
                    batch_id=batch_id,
                    input_file_id=file_id,
                    endpoint=self.endpoint,
                    custom_ids=lines,
                )
        except BaseException as exc:
            self._fail_batch(state, batch_id, self._unexpected(exc))
            raise
        # A warning, so that a CLI run shows it: the batch id is what a user
        # looks up with the provider, and what a resumed run polls again.
        log.warning(
            "themis: %s: batch %s submitted with %d requests; a run stopped before "
            "it finishes polls it again when resumed",
            self.where,
            batch_id,
            len(lines),
        )
        await self._poll(state, batch_id, resumed=False)

    def _adopt(self, state: _LoopState, gathering: _Open, records: list[Any]) -> None:
        """Lines another process of the run already submitted wait for its batch."""
        for record in records:
            for line in record.custom_ids:
                futures = gathering.waiters.pop(line, None)
                if futures is None:
                    state.stored[line] = record.batch_id
                    continue
                del gathering.requests[line]
                state.waiting.setdefault(line, []).extend(futures)
                state.lines.setdefault(record.batch_id, set()).add(line)
            if record.batch_id in state.lines and record.batch_id not in state.polling:
                state.polling.add(record.batch_id)
                self._spawn(state, self._poll(state, record.batch_id, resumed=True))

    async def _create(self, gathering: _Open) -> tuple[str, str]:
        """Upload the batch's JSONL and create the batch: (batch id, input file id)."""
        client = self.transport.client()
        body = "".join(
            json.dumps(
                {
                    "custom_id": line,
                    "method": "POST",
                    "url": self.endpoint,
                    "body": request.json_body(),
                },
                separators=(",", ":"),
            )
            + "\n"
            for line, request in gathering.requests.items()
        ).encode()
        metadata = {"themis_component": self.where[:500]}
        if self._journal is not None:
            metadata["themis_run_id"] = self._journal.run_id
        try:
            uploaded = await client.files.create(
                file=("themis-batch.jsonl", body, "application/jsonl"), purpose="batch"
            )
            batch = await client.batches.create(
                input_file_id=uploaded.id,
                endpoint=self.endpoint,
                completion_window="24h",
                metadata=metadata,
            )
        except openai_sdk.OpenAIError as exc:
            raise self.transport.provider_error(exc) from None
        return str(batch.id), str(uploaded.id)

    async def _poll(self, state: _LoopState, batch_id: str, *, resumed: bool) -> None:
        """Wait for the batch, then hand each line's answer to whoever asked."""
        if resumed:
            log.warning(
                "themis: %s: polling batch %s, submitted earlier for this run",
                self.where,
                batch_id,
            )
        try:
            batch = await self._wait(batch_id)
            answers = await self._answers(batch)
        except ProviderError as exc:
            self._fail_batch(state, batch_id, exc)
            return
        except BaseException as exc:
            self._fail_batch(state, batch_id, self._unexpected(exc))
            raise
        status = str(batch.status)
        missing = LineAnswer(error=self._missing(batch))
        for line in state.lines.pop(batch_id, set()):
            futures = state.waiting.pop(line, None)
            if futures:
                _answer_all({line: futures}, answers.get(line, missing))
        if resumed:  # lines of the earlier process's batch nobody asked for yet
            for line in [line for line, batch in state.stored.items() if batch == batch_id]:
                del state.stored[line]
                state.ready[line] = answers.get(line, missing)
        state.polling.discard(batch_id)
        if state.journal is not None:
            state.journal.done(batch_id, status)
        log.info("%s: batch %s %s", self.where, batch_id, status)

    async def _wait(self, batch_id: str) -> Any:
        """The batch once it reached a final status, polled with a growing interval."""
        delay = self.settings.poll_interval_s
        while True:
            batch = await self._transient_retried(
                lambda: self.transport.client().batches.retrieve(batch_id)
            )
            if str(batch.status) in TERMINAL:
                return batch
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.settings.max_poll_interval_s)

    async def _answers(self, batch: Any) -> dict[str, LineAnswer]:
        """Each line's answer from the batch's output and error files."""
        answers: dict[str, LineAnswer] = {}
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self._transient_retried(functools.partial(self._download, str(file_id)))
            for text in content.text.splitlines():
                try:
                    line = json.loads(text) if text.strip() else None
                except ValueError:
                    line = None  # its call gets the "no answer" error below
                    log.warning("%s: batch %s: unreadable output line", self.where, batch.id)
                if isinstance(line, dict):
                    line_id, answer = self._line_answer(str(batch.id), line)
                    answers[line_id] = answer
        return answers

    async def _download(self, file_id: str) -> Any:
        return await self.transport.client().files.content(file_id)

    def _line_answer(self, batch_id: str, line: dict[str, Any]) -> tuple[str, LineAnswer]:
        where = f"{self.where} (batch {batch_id})"
        response = line.get("response")
        error = line.get("error")
        line_id = str(line.get("custom_id"))
        if isinstance(response, dict):
            status = response.get("status_code")
            body = response.get("body")
            headers = {"x-request-id": str(response.get("request_id") or "")}
            if status == 200 and isinstance(body, dict):
                provenance = {"batch_id": batch_id, "custom_id": line_id}
                return line_id, LineAnswer(response=WireResponse(body, headers, provenance))
            if isinstance(status, int):
                scrubbed = scrub(body, self._secrets())
                return line_id, LineAnswer(
                    error=error_for_status(status, body=scrubbed, headers={}, where=where)
                )
        detail = error.get("message") if isinstance(error, dict) else error
        code = error.get("code") if isinstance(error, dict) else None
        message = f"{where}: the request failed in the batch: {code or 'error'}: {detail}"
        return line_id, LineAnswer(
            error=ProviderError(
                scrub(message, self._secrets()), category=ErrorCategory.invalid_request
            )
        )

    async def _transient_retried(self, call: Callable[[], Any]) -> Any:
        """A poll or download, retried while the provider's error is transient."""
        failures = 0
        delay = self.settings.poll_interval_s
        while True:
            try:
                return await call()
            except openai_sdk.OpenAIError as exc:
                error = self.transport.provider_error(exc)
            failures += 1
            if not error.retryable or failures >= MAX_POLL_FAILURES:
                raise ProviderError(
                    f"{error} (the batch stays recorded: resume the run to poll it again)",
                    category=ErrorCategory.provider_unavailable,
                ) from None
            log.warning("%s: polling a batch failed, retrying: %s", self.where, error)
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, self.settings.max_poll_interval_s)

    def _fail_batch(self, state: _LoopState, batch_id: str, error: ProviderError) -> None:
        """Every call waiting for ``batch_id`` fails with ``error``."""
        state.polling.discard(batch_id)
        waiting = {
            line: state.waiting.pop(line)
            for line in state.lines.pop(batch_id, set())
            if line in state.waiting
        }
        _answer_all(waiting, LineAnswer(error=error))

    def _missing(self, batch: Any) -> ProviderError:
        """The error of a line the finished batch has no answer for."""
        status = str(batch.status)
        errors = getattr(getattr(batch, "errors", None), "data", None) or []
        reasons = "; ".join(
            f"{getattr(e, 'code', None) or 'error'}: {getattr(e, 'message', None) or ''}".strip()
            for e in errors[:5]
        )
        if status == "completed":
            what = "completed without an answer for this request"
        else:
            what = f"ended {status}" + (f" ({reasons})" if reasons else "")
        return ProviderError(
            scrub(
                f"{self.where}: batch {batch.id} {what}; resume the run to ask again in a "
                "new batch",
                self._secrets(),
            ),
            category=ErrorCategory.invalid_request,
        )

    def _unexpected(self, exc: BaseException) -> ProviderError:
        return ProviderError(
            f"{self.where}: batch interrupted: {type(exc).__name__}: {exc}",
            category=ErrorCategory.provider_unavailable,
        )


def _answer_all(waiters: dict[str, list[asyncio.Future[LineAnswer]]], answer: LineAnswer) -> None:
    for futures in waiters.values():
        for future in futures:
            if not future.done():
                future.set_result(answer)

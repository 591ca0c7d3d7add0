"""Tracing spans around the run and each case's stages.

Tracing is optional and an observer: a provider that fails is logged and the
run goes on, as a failing hook subscriber is. With tracing off (the common
case) a stage's span is no object at all.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from themis.core.engine.plan import CasePlan
from themis.core.observability.tracing import NullTracer, SpanStatus, TracingProvider
from themis.core.storage.events import RunEvent

log = logging.getLogger(__name__)

_NO_SPAN: AbstractContextManager[Any] = nullcontext()


class Spans:
    """Starts and ends a run's spans through its tracing provider."""

    def __init__(self, tracing: TracingProvider, run_id: str) -> None:
        self.tracing = tracing
        self.run_id = run_id
        self.off = isinstance(tracing, NullTracer)

    def stage(
        self, name: str, plan: CasePlan, latest: dict[str, RunEvent]
    ) -> AbstractContextManager[Any]:
        """A stage's span around a block (entered five times per case)."""
        if self.off:
            return _NO_SPAN
        return self._traced(name, plan, latest)

    @contextmanager
    def _traced(self, name: str, plan: CasePlan, latest: dict[str, RunEvent]) -> Iterator[Any]:
        """The span ends ``"error"`` when the block raised or recorded a failure
        of its stage for the case (a component's error), else ``"ok"``."""
        attributes = {
            "themis.run_id": self.run_id,
            "themis.stage": name,
            "themis.case_key": plan.case_key,
            "themis.case_id": plan.case.case_id,
            "themis.dataset_id": plan.dataset_id,
        }
        span = self.start(name, attributes)
        try:
            yield span
        except BaseException:
            self.end(span, "error")
            raise
        failed = any(
            getattr(event, "error", None) is not None and getattr(event, "stage", None) == name
            for event in latest.values()
        )
        self.end(span, "error" if failed else "ok")

    def start(self, name: str, attributes: dict[str, Any]) -> Any:
        """``start_span(name, attributes)``; the provider parents spans itself
        (OpenTelemetry's current context does)."""
        try:
            return self.tracing.start_span(name, attributes)
        except Exception as exc:
            log.warning(
                "tracing provider failed to start span %r: %s: %s", name, type(exc).__name__, exc
            )
            return None

    def end(self, span: Any, status: SpanStatus) -> None:
        """``end_span(span, status)`` with status ``"ok"`` or ``"error"``."""
        try:
            self.tracing.end_span(span, status)
        except Exception as exc:
            log.warning("tracing provider failed to end a span: %s: %s", type(exc).__name__, exc)

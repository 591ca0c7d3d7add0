"""Tracing: one span per run, and one per case and stage, through a TracingProvider.

The protocol is the reference's: ``start_span(name, attributes) -> span`` and
``end_span(span, status)`` with status ``"ok"`` or ``"error"``. Span names are
the stage names (``run``, ``generate``, ``reduce``, ``parse``, ``score``,
``judge``). :class:`NullTracer` is the default. :class:`OpenTelemetryTracer`
bridges to OpenTelemetry and parents spans through OpenTelemetry's current
context; it needs the ``otel`` extra (``pip install 'themis-eval-core[otel]'``).
"""

from __future__ import annotations

from typing import Any

from themis.core.protocols import SpanStatus, TracingProvider

__all__ = ["NullTracer", "OpenTelemetryTracer", "SpanStatus", "TracingProvider"]


class NullTracer:
    """Records nothing; what runs use when no tracing provider is given."""

    def start_span(self, name: str, attributes: dict[str, Any]) -> Any:
        return None

    def end_span(self, span: Any, status: SpanStatus) -> None:
        return None


class OpenTelemetryTracer:
    """Emits Themis spans through an OpenTelemetry tracer.

    A started span becomes OpenTelemetry's current span until it ends, so the
    stage spans a run starts nest under its ``run`` span, and spans a
    component starts itself (an instrumented HTTP client) nest under the stage.
    """

    def __init__(
        self, tracer_provider: Any = None, *, instrumentation_name: str = "themis"
    ) -> None:
        try:
            from opentelemetry import context, trace
        except ImportError as exc:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "OpenTelemetryTracer needs OpenTelemetry: pip install 'themis-eval-core[otel]'"
            ) from exc
        self._trace = trace
        self._context = context
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer(instrumentation_name)
        self._tokens: dict[int, Any] = {}

    def start_span(self, name: str, attributes: dict[str, Any]) -> Any:
        span = self._tracer.start_span(name, attributes=attributes)
        token = self._context.attach(self._trace.set_span_in_context(span))
        self._tokens[id(span)] = token
        return span

    def end_span(self, span: Any, status: SpanStatus) -> None:
        if span is None:
            return
        token = self._tokens.pop(id(span), None)
        if token is not None:
            self._context.detach(token)
        if status == "error":
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        span.end()

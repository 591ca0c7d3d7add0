"""Tracing: one span per run, case and stage through a TracingProvider.

:class:`NullTracer` is the default. :class:`OpenTelemetryTracer` bridges to
OpenTelemetry; it needs the ``otel`` extra (``pip install themis-eval-core[otel]``).
"""

from __future__ import annotations

from typing import Any

from themis.core.protocols import TracingProvider

__all__ = ["NullTracer", "OpenTelemetryTracer", "TracingProvider"]


class NullTracer:
    """Records nothing; what runs use when no tracing provider is given."""

    def start_span(self, name: str, attributes: dict[str, Any], parent: Any = None) -> Any:
        return None

    def end_span(self, span: Any, *, error: BaseException | None = None) -> None:
        return None


class OpenTelemetryTracer:
    """Emits Themis spans through an OpenTelemetry tracer."""

    def __init__(
        self, tracer_provider: Any = None, *, instrumentation_name: str = "themis"
    ) -> None:
        try:
            from opentelemetry import trace
        except ImportError as exc:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "OpenTelemetryTracer needs OpenTelemetry: pip install 'themis-eval-core[otel]'"
            ) from exc
        self._trace = trace
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer(instrumentation_name)

    def start_span(self, name: str, attributes: dict[str, Any], parent: Any = None) -> Any:
        context = self._trace.set_span_in_context(parent) if parent is not None else None
        return self._tracer.start_span(name, context=context, attributes=attributes)

    def end_span(self, span: Any, *, error: BaseException | None = None) -> None:
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, str(error)))
        span.end()

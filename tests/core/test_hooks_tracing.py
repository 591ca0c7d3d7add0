"""Lifecycle hooks (subscribers and entry-point plugins) and tracing spans."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore
from themis.core.config import EvaluationConfig
from themis.core.models import Case, Dataset, RunStatus
from themis.core.observability.tracing import OpenTelemetryTracer


class Recorder:
    """Implements every hook by plain method name."""

    def __init__(self, store: InMemoryRunStore | None = None) -> None:
        self.calls: list[str] = []
        self.store = store
        self.persisted_before_on_event = True

    def before_generate(self, case: Any, ctx: Any) -> None:
        self.calls.append("before_generate")

    def after_generate(self, case: Any, result: Any, ctx: Any) -> None:
        self.calls.append("after_generate")

    def before_reduce(self, candidates: Any, ctx: Any) -> None:
        self.calls.append("before_reduce")

    def after_reduce(self, reduced: Any, ctx: Any) -> None:
        self.calls.append("after_reduce")

    def before_parse(self, candidate: Any, ctx: Any) -> None:
        self.calls.append("before_parse")

    def after_parse(self, parsed: Any, ctx: Any) -> None:
        self.calls.append("after_parse")

    def before_score(self, metric_id: Any, parsed: Any, ctx: Any) -> None:
        self.calls.append("before_score")

    def after_score(self, result: Any, ctx: Any) -> None:
        self.calls.append("after_score")

    def before_judge(self, metric_id: Any, ctx: Any) -> None:
        self.calls.append("before_judge")

    def after_judge(self, result: Any, ctx: Any) -> None:
        self.calls.append("after_judge")

    def on_event(self, event: Any) -> None:
        self.calls.append(f"event:{event.event_type}")
        if self.store is not None:
            stored = {e.event_id for e in self.store.iter_events(event.run_id)}
            self.persisted_before_on_event &= event.event_id in stored


def judged_experiment(count: int = 2) -> Any:
    return make_experiment(
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=["builtin/demo_judge"],
        ),
        datasets=[arithmetic_dataset(count=count)],
    )


def test_subscriber_receives_every_hook_and_events_after_persistence() -> None:
    store = InMemoryRunStore()
    recorder = Recorder(store)
    judged_experiment().run(store=store, subscribers=[recorder])
    for hook in (
        "before_generate",
        "after_generate",
        "before_reduce",
        "after_reduce",
        "before_parse",
        "after_parse",
        "before_score",
        "after_score",
        "before_judge",
        "after_judge",
    ):
        assert recorder.calls.count(hook) == 2, hook
    assert recorder.calls.count("event:evaluation_completed") == 2
    assert "event:run_completed" in recorder.calls
    assert recorder.persisted_before_on_event


def test_partial_subscriber_and_raising_subscriber_do_not_corrupt_the_run() -> None:
    class OnlyEvents:
        def __init__(self) -> None:
            self.count = 0

        def on_event(self, event: Any) -> None:
            self.count += 1

    class Exploding:
        def after_generate(self, case: Any, result: Any, ctx: Any) -> None:
            raise RuntimeError("subscriber bug")

        def on_event(self, event: Any) -> None:
            raise ValueError("also broken")

    store = InMemoryRunStore()
    only = OnlyEvents()
    result = judged_experiment().run(store=store, subscribers=[Exploding(), only])
    assert result.status is RunStatus.completed
    assert result.metric_means["builtin/exact_match"] == 1.0
    assert only.count == len(list(store.iter_events(result.run_id)))


def test_entry_point_plugin_receives_events() -> None:
    from themis_acme_plugin import hooks

    hooks.SEEN.clear()
    judged_experiment().run()
    assert "run_completed" in hooks.SEEN and "generation_completed" in hooks.SEEN


STAGES = ("generate", "reduce", "parse", "score", "judge")


def test_opentelemetry_tracer_gets_one_span_per_run_and_case_stage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    judged_experiment(count=3).run(tracing_provider=OpenTelemetryTracer(provider))
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert names.count("run") == 1
    for stage in STAGES:
        assert names.count(stage) == 3
    run_span = next(s for s in spans if s.name == "run")
    stage_spans = [s for s in spans if s.name in STAGES]
    # Parenting comes from OpenTelemetry's current context, not from Themis.
    assert all(
        s.parent is not None and s.parent.span_id == run_span.context.span_id for s in stage_spans
    )
    assert {s.attributes["themis.case_key"] for s in stage_spans} == {
        "arith::c0",
        "arith::c1",
        "arith::c2",
    }
    assert {s.status.is_ok for s in spans} == {True}


class ReferenceTracer:
    """A tracer written against the reference's TracingProvider protocol, exactly."""

    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any]]] = []
        self.ended: list[tuple[str, str]] = []

    def start_span(self, name, attributes):  # type: ignore[no-untyped-def]
        self.started.append((name, dict(attributes)))
        return {"name": name}

    def end_span(self, span, status):  # type: ignore[no-untyped-def]
        assert status in ("ok", "error")
        self.ended.append((span["name"], status))


def test_a_tracer_written_for_the_reference_protocol_runs() -> None:
    tracer = ReferenceTracer()
    result = judged_experiment(count=2).run(tracing_provider=tracer)
    assert result.status is RunStatus.completed
    assert [name for name, _ in tracer.started].count("run") == 1
    for stage in STAGES:
        assert [name for name, _ in tracer.started].count(stage) == 2
    assert sorted(tracer.ended) == sorted((name, "ok") for name, _ in tracer.started)
    attributes = dict(tracer.started)["parse"]
    assert attributes["themis.case_id"] in {"c0", "c1"}
    assert attributes["themis.dataset_id"] == "arith"


def test_a_failed_stage_ends_its_span_with_error() -> None:
    tracer = ReferenceTracer()
    experiment = make_experiment(
        evaluation=EvaluationConfig(metrics=["builtin/exact_match"], parsers=["builtin/number"]),
        # The demo generator echoes no number for this input: builtin/number fails.
        datasets=[Dataset(dataset_id="d", cases=[Case(case_id="x", input="no numbers here")])],
    )
    result = experiment.run(tracing_provider=tracer)
    assert result.status is RunStatus.failed
    assert ("parse", "error") in tracer.ended
    assert ("reduce", "ok") in tracer.ended
    assert ("run", "error") in tracer.ended


def test_a_failing_tracer_does_not_fail_the_run() -> None:
    class Broken:
        def start_span(self, name: str, attributes: dict[str, Any]) -> Any:
            raise RuntimeError("tracer bug")

        def end_span(self, span: Any, status: str) -> None:
            raise RuntimeError("tracer bug")

    result = judged_experiment(count=1).run(tracing_provider=Broken())
    assert result.status is RunStatus.completed

"""Lifecycle hooks (subscribers and entry-point plugins) and tracing spans."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore
from themis.core.config import EvaluationConfig
from themis.core.models import RunStatus
from themis.core.tracing import OpenTelemetryTracer


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


def test_opentelemetry_tracer_gets_one_span_per_run_case_and_stage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    judged_experiment(count=3).run(tracing_provider=OpenTelemetryTracer(provider))
    spans = exporter.get_finished_spans()
    names = [span.name for span in spans]
    assert names.count("themis.run") == 1
    assert names.count("themis.case") == 3
    for stage in ("generate", "reduce", "parse", "score", "judge"):
        assert names.count(f"themis.stage.{stage}") == 3
    run_span = next(s for s in spans if s.name == "themis.run")
    case_spans = [s for s in spans if s.name == "themis.case"]
    assert all(
        s.parent is not None and s.parent.span_id == run_span.context.span_id for s in case_spans
    )
    case_ids = {s.context.span_id for s in case_spans}
    assert all(s.parent.span_id in case_ids for s in spans if s.name.startswith("themis.stage."))
    assert {s.attributes["themis.case_key"] for s in case_spans} == {
        "arith::c0",
        "arith::c1",
        "arith::c2",
    }

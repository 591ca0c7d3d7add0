"""A one-line-per-run summary that tells stored runs apart.

``themis inspect runs``, the HTML report's header and the viewer's run list
all show the same facts: when the run started, which generator and model
produced it, its datasets and case counts, its metric means, and how much of
it was reused from results already in the store rather than computed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import Field

from themis.core.analysis.outcomes import means, metric_counts, stored_outcomes
from themis.core.models import ComponentRef, FrozenModel, MetricCounts, RunStatus
from themis.core.storage.events import GenerationCompletedEvent, RunSubmittedEvent
from themis.core.storage.stores.base import RunStore, StoredRun

MODEL_OPTION_KEYS = ("model", "model_name", "model_id", "deployment")
"""Generator options that name the model it calls (first match wins)."""


class RunOverview(FrozenModel):
    """What distinguishes one stored run from another, read from projections."""

    run_id: str
    status: RunStatus
    completed_through_stage: str | None = None
    started_at: float | None = None
    """When the run was first started (epoch seconds), from its first event."""
    submitted: bool = False
    """Whether it was submitted for workers (``themis submit``); a submitted run
    not started yet is ``pending``, its first event the submission."""
    generator: str
    model: str | None = None
    """From the generator's options, else from the ``model`` artifact adapters record."""
    datasets: list[str] = Field(default_factory=list)
    dataset_cases: dict[str, int] = Field(default_factory=dict)
    cases: int = 0
    failed_cases: int = 0
    work_items: int = 0
    reused: int = 0
    """Work items taken from results already stored (by this or another run)."""
    metric_means: dict[str, float] = Field(default_factory=dict)
    """Counted as every other mean is (``core.analysis.outcomes``): an unparsed answer is 0."""
    metric_counts: dict[str, MetricCounts] = Field(default_factory=dict)
    """Per metric: cases in the mean, how many of them did not parse, errors left out."""

    def describe_means(self) -> str:
        """Each mean with its unparsed and error counts beside it, on one line."""
        return "; ".join(
            f"{metric} {mean:.3f}{_counts_note(self.metric_counts.get(metric))}"
            for metric, mean in self.metric_means.items()
        )


def _counts_note(counts: MetricCounts | None) -> str:
    if counts is None:
        return ""
    notes = [f"n={counts.n}"]
    if counts.parse_failures:
        notes.append(f"{counts.parse_failures} unparsed")
    if counts.errors:
        notes.append(f"{counts.errors} error{'s' if counts.errors != 1 else ''}")
    return f" ({', '.join(notes)})"


def model_of(ref: ComponentRef) -> str | None:
    """The model a generator (or judge) ref calls, when its options name one."""
    for key in MODEL_OPTION_KEYS:
        value = ref.options.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def component_label(ref: ComponentRef) -> str:
    """``component_id`` (and its configured name when different)."""
    return ref.component_id if ref.name == ref.component_id else f"{ref.name} ({ref.component_id})"


EVENTS_SEARCHED_FOR_MODEL = 200
"""Events read from the start of a run to find the model a candidate names."""


def _answered_by(artifacts: dict[str, Any]) -> str | None:
    """The ``model`` artifact, else the graph a LangGraph generator ran (its
    ``graph_id`` and ``graph_version``, which stand in for the graph's code)."""
    model = artifacts.get("model")
    if isinstance(model, str) and model:
        return model
    graph = artifacts.get("graph_id")
    if isinstance(graph, str) and graph:
        version = artifacts.get("graph_version")
        return f"graph {graph}" + (f" {version}" if isinstance(version, str) and version else "")
    return None


def _first_events(store: RunStore, run_id: str) -> tuple[float | None, str | None, bool]:
    """When the run started, the model its first candidate says answered it,
    and whether it was submitted for workers.

    Adapters record the served model in a candidate's artifacts (``model``);
    a generator passed as an object has no options in its ref to name it.
    """
    started_at: float | None = None
    submitted = False
    for number, event in enumerate(store.iter_events(run_id)):
        if started_at is None:
            started_at = event.created_at
        submitted = submitted or isinstance(event, RunSubmittedEvent)
        if isinstance(event, GenerationCompletedEvent):
            return started_at, _answered_by(event.candidate.artifacts or {}), submitted
        if number >= EVENTS_SEARCHED_FOR_MODEL:
            break
    return started_at, None, submitted


def run_overview(store: RunStore, run: StoredRun) -> RunOverview:
    """Summarise one stored run without folding its events."""
    snapshot = run.snapshot
    identity = snapshot.identity
    started_at, answered_by, submitted = _first_events(store, run.run_id)
    states: Counter[str] = Counter()
    failed_cases: set[str] = set()
    for item in store.work_items(run.run_id):
        states[item.state] += 1
        if item.state == "failed":
            failed_cases.add(item.case_key)
    # The same rule as RunResult.metric_means and the reports: unparsed answers count 0.
    outcomes = stored_outcomes(store, snapshot)
    run_means = means(outcomes)
    counts = metric_counts(outcomes)
    generator = snapshot.component_refs.generator
    configured = [ref.name for ref in snapshot.component_refs.metrics]
    order = [m for m in configured if m in run_means] + sorted(set(run_means) - set(configured))
    return RunOverview(
        run_id=run.run_id,
        status=run.status,
        completed_through_stage=run.completed_through_stage,
        started_at=started_at,
        submitted=submitted,
        generator=component_label(generator),
        model=model_of(generator) or answered_by,
        datasets=[d.dataset_id for d in identity.datasets],
        dataset_cases={d.dataset_id: d.case_count for d in identity.datasets},
        cases=sum(d.case_count for d in identity.datasets),
        failed_cases=len(failed_cases),
        work_items=sum(states.values()),
        reused=states["cached"],
        metric_means={m: run_means[m] for m in order},
        metric_counts={m: counts[m] for m in order if m in counts},
    )


def list_run_overviews(store: RunStore) -> list[RunOverview]:
    """Every run of a store, oldest start first."""
    overviews = [run_overview(store, run) for run in store.list_runs()]
    return sorted(overviews, key=lambda o: (o.started_at is None, o.started_at or 0.0))

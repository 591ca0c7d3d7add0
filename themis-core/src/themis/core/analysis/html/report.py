"""One stored run as a self-contained HTML page: header, metrics, plots, cases."""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from themis.core.analysis.case_details import CaseDetail, iter_case_details
from themis.core.analysis.html import svg
from themis.core.analysis.html.page import (
    DETAIL_CHUNK,
    asset,
    detail_chunk,
    document,
    number,
    table,
    when,
)
from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import counted_values, stored_outcomes
from themis.core.analysis.run_overview import RunOverview, component_label, model_of, run_overview
from themis.core.analysis.stats import (
    MetricSummary,
    StatsEngine,
    StatsUnavailableError,
    summarize_means,
)
from themis.core.analysis.stats.extra import INSTALL_HINT
from themis.core.models import JSONValue, RunSnapshot
from themis.core.storage.stores.base import RunStore, UnknownRunError

SNIPPET = 240
"""Characters of a case's output (and input) kept in the table row."""


def text_of(value: JSONValue, limit: int = SNIPPET) -> str:
    """A value as one line of text for a table cell."""
    import json

    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def metric_summaries(
    store: RunStore, snapshot: RunSnapshot, stats: StatsEngine
) -> tuple[list[MetricSummary], str | None]:
    """Means with confidence intervals, or means alone and why, when the
    ``stats`` extra (numpy, scipy) is not installed."""
    by_dataset = len(snapshot.datasets) > 1
    try:
        return stats.summarize(store, snapshot.run_id, by_dataset=by_dataset), None
    except StatsUnavailableError:
        means = summarize_means(
            store, snapshot.run_id, by_dataset=by_dataset, confidence=stats.confidence
        )
        return means, f"confidence intervals need the stats extra: {INSTALL_HINT}"


def count_tokens(detail: CaseDetail, generation: Counter[str], judging: Counter[str]) -> None:
    """Add the tokens a case used (generator and judges) to the totals."""
    for candidate in detail.candidates:
        generation.update(candidate.candidate.token_usage or {})
    for evaluation in detail.evaluations:
        for call in evaluation.calls:
            judging.update(call.token_usage or {})


def case_row(
    detail: CaseDetail,
    metrics: list[str],
    ordinal: int,
    counted: dict[str, dict[str, float]] | None = None,
) -> list[Any]:
    """One table row: key, dataset, status, output, input, a score per metric, error, ordinal.

    ``counted`` (from :func:`themis.core.analysis.outcomes.counted_values`) gives the value
    each mean counts, so an answer that did not parse shows the 0 it counts as."""
    scores: dict[str, float | None] = {score.metric_id: score.value for score in detail.scores}
    for metric, by_case in (counted or {}).items():
        if scores.get(metric) is None and detail.case_key in by_case:
            scores[metric] = by_case[detail.case_key]
    error = ""
    if detail.errors:
        first = detail.errors[0].error
        error = text_of(f"{first.stage}: {first.error_type}: {first.message}", 160)
    return [
        detail.case_key,
        detail.dataset_id,
        detail.status.value,
        text_of(detail.output) if detail.output is not None else "",
        text_of(detail.input, 160),
        *(scores.get(metric) for metric in metrics),
        error,
        ordinal,
    ]


def case_payload(detail: CaseDetail) -> dict[str, Any]:
    payload: dict[str, Any] = detail.model_dump(mode="json", exclude_defaults=True)
    payload["status"] = detail.status.value
    return payload


def _header(overview: RunOverview, snapshot: RunSnapshot, tokens: str) -> str:
    refs = snapshot.component_refs
    judges = ", ".join(
        component_label(ref) + (f" · {model_of(ref)}" if model_of(ref) else "")
        for ref in refs.judge_models
    )
    generator = overview.generator + (f" · model {overview.model}" if overview.model else "")
    facts = [
        ("Run", overview.run_id),
        ("Started", when(overview.started_at)),
        ("Status", overview.status.value + (
            f" (through {overview.completed_through_stage})"
            if overview.completed_through_stage else "")),
        ("Generator", generator),
        ("Datasets", ", ".join(
            f"{d} ({n} cases)" for d, n in overview.dataset_cases.items())),
        ("Cases", f"{overview.cases} ({overview.failed_cases} failed)"),
        ("Work items", f"{overview.work_items} stored, {overview.reused} reused from earlier runs"),
        ("Tokens", tokens),
        ("Metrics", ", ".join(component_label(ref) for ref in refs.metrics) or "none"),
    ]  # fmt: skip
    if judges:
        facts.append(("Judges", judges))
    facts.append(("Seeds", ", ".join(map(str, snapshot.identity.seeds))))
    facts.append(("Themis", snapshot.provenance.themis_version))
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts)
    return f'<table class="facts" id="run-header">{rows}</table>'


def _tokens(generation: Counter[str], judging: Counter[str]) -> str:
    def show(counts: Counter[str]) -> str:
        return ", ".join(f"{n:,} {k.replace('_tokens', '')}" for k, n in sorted(counts.items()))

    parts = []
    if generation:
        parts.append(f"generation {show(generation)}")
    if judging:
        parts.append(f"judges {show(judging)}")
    return "; ".join(parts) or "not reported"


_COUNTING = (
    "Unparsed answers (no answer the parser could read) are in n and count 0. Errors are "
    "cases never answered or that a metric could not score; they are not in n."
)


def _metrics_section(
    summaries: list[MetricSummary],
    note: str | None,
    stats: StatsEngine,
    values: dict[str, list[float]],
) -> str:
    per_dataset = any(s.dataset_id is not None for s in summaries)
    level = f"{stats.confidence:.0%} CI"
    headers = (["dataset"] if per_dataset else []) + [
        "metric", "mean", level, "n", "unparsed", "errors"
    ]  # fmt: skip
    rows = [
        ([s.dataset_id or "all"] if per_dataset else [])
        + [
            s.metric_id,
            number(s.mean),
            "-" if s.ci_low is None or s.ci_high is None
            else f"[{number(s.ci_low)}, {number(s.ci_high)}]",
            str(s.n),
            str(s.parse_failures),
            str(s.errors),
        ]
        for s in summaries
    ]  # fmt: skip
    explain = (
        f"Means over the n answered cases with {stats.confidence:.0%} percentile bootstrap "
        f"intervals ({stats.resamples} resamples, seed {stats.seed}). {_COUNTING}"
    )
    if note:
        explain = f"Means only: {note}. {_COUNTING}"
    plots = "".join(
        f"<figure>{svg.histogram(v, title=metric)}</figure>" for metric, v in values.items()
    )
    if not summaries:
        return '<section><h2>Metrics</h2><p class="muted">No metric was scored.</p></section>'
    return (
        '<section id="metrics"><h2>Metrics</h2>'
        + table(headers, rows, numeric_from=len(headers) - 5)
        + f'<p class="muted">{escape(explain)}</p>'
        + f'<h3>Score distributions</h3><div class="plots">{plots}</div></section>'
    )


def render_report(
    store: RunStore,
    run_id: str,
    *,
    stats: StatsEngine | None = None,
    live_url: str | None = None,
    live_version: str | None = None,
) -> str:
    """One stored run as a self-contained HTML page (see :mod:`themis.core.analysis.html`)."""
    stats = stats or StatsEngine()
    snapshot = get_run_snapshot(store, run_id)
    stored = store.resume(run_id)
    if stored is None:
        raise UnknownRunError(f"run {run_id!r} has no stored status in {store!r}")
    overview = run_overview(store, stored)
    metrics = [ref.name for ref in snapshot.component_refs.metrics]
    metrics += sorted(set(overview.metric_means) - set(metrics))
    generation: Counter[str] = Counter()
    judging: Counter[str] = Counter()
    # Plots and table cells count each case as the means do (unparsed is 0).
    counted = counted_values(stored_outcomes(store, snapshot))
    values: dict[str, list[float]] = {
        metric: list(counted.get(metric, {}).values()) for metric in metrics
    }
    rows: list[list[Any]] = []
    chunks: list[str] = []
    batch: list[dict[str, Any]] = []
    # One pass, keeping only rows and compressed chunks: a 100,000-case run
    # never holds all its case details at once.
    for ordinal, detail in enumerate(iter_case_details(store, run_id, snapshot=snapshot)):
        count_tokens(detail, generation, judging)
        rows.append(case_row(detail, metrics, ordinal, counted))
        batch.append(case_payload(detail))
        if len(batch) == DETAIL_CHUNK:
            chunks.append(detail_chunk(len(chunks), batch))
            batch = []
    if batch:
        chunks.append(detail_chunk(len(chunks), batch))
    summaries, note = metric_summaries(store, snapshot, stats)

    data = {
        "kind": "report",
        "run_id": run_id,
        "columns": [
            {"label": "case", "type": "key"},
            {"label": "dataset", "type": "dataset"},
            {"label": "status", "type": "status"},
            {"label": "output", "type": "text"},
            {"label": "input", "type": "text"},
            *({"label": metric, "type": "score"} for metric in metrics),
            {"label": "error", "type": "text"},
        ],
        "rows": rows,
        "chunk_size": DETAIL_CHUNK,
    }
    body = (
        f'<header><h1>Themis run report</h1><p class="muted">{escape(run_id)}</p></header>'
        + '<section id="run"><h2>Run</h2>'
        + _header(overview, snapshot, _tokens(generation, judging))
        + "</section>"
        + _metrics_section(summaries, note, stats, values)
        + asset("report-cases.html")
    )
    return document(
        title=f"Themis report {run_id}",
        body=body,
        data=data,
        chunks=chunks,
        live_url=live_url,
        live_version=live_version,
    )

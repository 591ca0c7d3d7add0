"""Two or more stored runs side by side: paired statistics, disagreeing cases, differences."""

from __future__ import annotations

from collections.abc import Sequence
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
from themis.core.analysis.html.report import text_of
from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import counted_values, stored_outcomes
from themis.core.analysis.run_overview import RunOverview, run_overview
from themis.core.analysis.stats import RunComparison, StatsEngine, StatsUnavailableError, format_p
from themis.core.analysis.stats.extra import INSTALL_HINT
from themis.core.models import JSONValue
from themis.core.storage.stores.base import RunStore, UnknownRunError


def _outcome(detail: CaseDetail, counted: dict[str, dict[str, float]]) -> dict[str, Any]:
    """What the comparison shows of one run's answer to a case; ``counted`` is the
    value each metric's mean counts for it (an unparsed answer counts 0)."""
    verdicts = [
        {
            "metric_id": e.metric_id,
            "judge": call.judge_model_id or "judge",
            "text": call.response_text,
        }
        for e in detail.evaluations
        for call in e.calls
        if call.response_text is not None
    ]
    return {
        "status": detail.status.value,
        "output": detail.output,
        "parsed": detail.parsed[-1].value if detail.parsed else None,
        "scores": [s.model_dump(mode="json", exclude_defaults=True) for s in detail.scores],
        "counted": {
            metric: by_case[detail.case_key]
            for metric, by_case in counted.items()
            if detail.case_key in by_case
        },
        "score_errors": [e.model_dump(mode="json") for e in detail.score_errors],
        "unparsed_metrics": detail.unparsed_metrics,
        "verdicts": verdicts,
        "errors": [e.model_dump(mode="json", exclude_defaults=True) for e in detail.errors],
    }


def _scores(outcome: dict[str, Any]) -> dict[str, float]:
    """The values the means count: scores, and 0 for an answer that did not parse."""
    return {
        **outcome.get("counted", {}),
        **{s["metric_id"]: s["value"] for s in outcome["scores"]},
    }


def _disagree(outcomes: list[dict[str, Any] | None], metrics: list[str]) -> bool:
    """Runs disagree on a case when a metric scored it differently, or one failed it."""
    present = [o for o in outcomes if o is not None]
    if len(present) < 2:
        return False
    if len({o["status"] for o in present}) > 1:
        return True
    scored = [_scores(o) for o in present]
    return any(len({s.get(metric) for s in scored}) > 1 for metric in metrics)


def _differences(
    baseline: dict[str, dict[str, Any]],
    other: dict[str, dict[str, Any]],
    keys: list[str],
    metric: str,
) -> list[float]:
    """Per-case score differences (other minus baseline) on the cases both count
    (an unparsed answer counts 0, as in the paired statistics)."""
    found = []
    for key in keys:
        if key in baseline and key in other:
            base, cand = _scores(baseline[key]), _scores(other[key])
            if metric in base and metric in cand:
                found.append(cand[metric] - base[metric])
    return found


def _comparisons(
    store: RunStore, run_ids: Sequence[str], stats: StatsEngine
) -> tuple[list[RunComparison], str | None]:
    try:
        return [stats.compare(store, run_ids[0], other) for other in run_ids[1:]], None
    except StatsUnavailableError:
        return [], f"paired statistics need the stats extra: {INSTALL_HINT}"


def _stats_section(
    comparisons: list[RunComparison], note: str | None, labels: dict[str, str]
) -> str:
    if note:
        return f'<p class="muted">No paired statistics: {escape(note)}.</p>'
    parts = []
    for comparison in comparisons:
        level = f"{comparison.confidence:.0%} CI"
        adjusted = {"holm": "p (Holm)", "bh": "p (BH)", "none": "p"}[comparison.correction]
        rows = [
            [
                m.metric_id,
                str(m.n_pairs),
                f"{m.baseline_parse_failures}/{m.candidate_parse_failures}",
                number(m.baseline_mean),
                number(m.candidate_mean),
                "-" if m.difference is None else f"{m.difference:+.3f}",
                "-" if m.ci_low is None or m.ci_high is None
                else f"[{m.ci_low:+.3f}, {m.ci_high:+.3f}]",
                m.primary_test or "-",
                format_p(m.p_value),
                format_p({"holm": m.p_value_holm, "bh": m.p_value_bh}.get(
                    comparison.correction, m.p_value)),
                {"candidate": labels[comparison.candidate_run_id],
                 "baseline": labels[comparison.baseline_run_id]}.get(m.better, "neither"),
            ]
            for m in comparison.metrics
        ]  # fmt: skip
        parts.append(
            f"<h3>{escape(labels[comparison.candidate_run_id])} vs "
            f"{escape(labels[comparison.baseline_run_id])} "
            f'<span class="muted">({comparison.shared_cases} shared cases)</span></h3>'
            + table(
                [
                    "metric",
                    "n",
                    "unparsed (b/c)",
                    "baseline",
                    "candidate",
                    "difference",
                    level,
                    "test",
                    "p",
                    adjusted,
                    "better",
                ],
                rows,
                numeric_from=1,
            )
            + "".join(f'<p class="muted">{escape(m.describe())}</p>' for m in comparison.metrics)
        )
    return "".join(parts)


def _runs_table(overviews: list[RunOverview], labels: dict[str, str]) -> str:
    rows = [
        [
            labels[o.run_id],
            o.run_id,
            when(o.started_at),
            o.status.value,
            o.generator + (f" · {o.model}" if o.model else ""),
            ", ".join(o.datasets),
            f"{o.cases} ({o.failed_cases} failed)",
            o.describe_means(),
        ]
        for o in overviews
    ]
    return table(["", "run", "started", "status", "generator", "datasets", "cases", "means"], rows)


def render_comparison(
    store: RunStore,
    run_ids: Sequence[str],
    *,
    stats: StatsEngine | None = None,
    live_url: str | None = None,
    live_version: str | None = None,
) -> str:
    """Two or more runs of one store as a self-contained HTML page; the first
    run is the baseline every other run is compared with."""
    if len(run_ids) < 2:
        raise ValueError(f"compare needs at least two runs, got {list(run_ids)}")
    stats = stats or StatsEngine()
    overviews = []
    for run_id in run_ids:
        get_run_snapshot(store, run_id)
        stored = store.resume(run_id)
        if stored is None:
            raise UnknownRunError(f"run {run_id!r} has no stored status in {store!r}")
        overviews.append(run_overview(store, stored))
    labels = {
        run_id: ("baseline" if i == 0 else f"run {i + 1}") for i, run_id in enumerate(run_ids)
    }
    metrics: list[str] = []
    for o in overviews:
        metrics += [m for m in o.metric_means if m not in metrics]
    per_run: list[dict[str, dict[str, Any]]] = []
    cases: dict[str, dict[str, JSONValue]] = {}
    for run_id in run_ids:
        answers: dict[str, dict[str, Any]] = {}
        counted = counted_values(stored_outcomes(store, get_run_snapshot(store, run_id)))
        for detail in iter_case_details(store, run_id):
            answers[detail.case_key] = _outcome(detail, counted)
            cases.setdefault(
                detail.case_key,
                {"dataset_id": detail.dataset_id, "input": detail.input,
                 "expected_output": detail.expected_output},
            )  # fmt: skip
        per_run.append(answers)
    shared = [key for key in cases if sum(key in answers for answers in per_run) >= 2]
    rows: list[list[Any]] = []
    chunks: list[str] = []
    batch: list[dict[str, Any]] = []
    for key in shared:
        outcomes = [run.get(key) for run in per_run]
        if not _disagree(outcomes, metrics):
            continue
        row: list[Any] = [key, cases[key]["dataset_id"]]
        for outcome in outcomes:
            scores = _scores(outcome) if outcome else {}
            row.append(text_of(outcome["output"], 160) if outcome else "")
            row.append(" · ".join(f"{scores[m]:g}" for m in metrics if m in scores))
        row.append(len(rows))
        rows.append(row)
        batch.append(

                {
                    "case_key": key,
                    **cases[key],
                    "runs": [
                        {"run_id": run_id, "label": labels[run_id], **(outcome or {
                            "status": "absent", "output": None, "scores": []})}
                        for run_id, outcome in zip(run_ids, outcomes, strict=True)
                    ],
                }

        )  # fmt: skip
        if len(batch) == DETAIL_CHUNK:
            chunks.append(detail_chunk(len(chunks), batch))
            batch = []
    if batch:
        chunks.append(detail_chunk(len(chunks), batch))
    comparisons, note = _comparisons(store, run_ids, stats)
    plots = [
        "<figure>"
        + svg.histogram(
            _differences(per_run[0], per_run[index], shared, metric),
            title=f"{metric}: {labels[run_ids[index]]} minus baseline",
            signed=True,
        )
        + "</figure>"
        for index in range(1, len(run_ids))
        for metric in metrics
    ]
    columns: list[dict[str, str]] = [
        {"label": "case", "type": "key"},
        {"label": "dataset", "type": "dataset"},
    ]
    for run_id in run_ids:
        columns.append({"label": f"{labels[run_id]} output", "type": "text"})
        columns.append({"label": f"{labels[run_id]} scores", "type": "text"})
    data = {"kind": "comparison", "columns": columns, "rows": rows, "chunk_size": DETAIL_CHUNK}
    scores_legend = ", ".join(metrics)
    body = (
        "<header><h1>Themis run comparison</h1>"
        f'<p class="muted">{len(run_ids)} runs; the first is the baseline</p></header>'
        + "<section><h2>Runs</h2>" + _runs_table(overviews, labels) + "</section>"
        + "<section><h2>Paired statistics</h2>" + _stats_section(comparisons, note, labels)
        + "</section>"
        + '<section><h2>Per-case differences</h2><div class="plots">' + "".join(plots)
        + "</div></section>"
        + '<section id="cases"><h2>Cases where the runs disagree</h2>'
        + f'<p class="muted">{len(rows)} of {len(shared)} shared cases; scores are '
        + f"{escape(scores_legend)}, in that order. Open a case to see the outputs side by side."
        + "</p>"
        + asset("compare-cases.html")
    )  # fmt: skip
    return document(
        title="Themis comparison " + " vs ".join(run_ids),
        body=body,
        data=data,
        chunks=chunks,
        live_url=live_url,
        live_version=live_version,
    )

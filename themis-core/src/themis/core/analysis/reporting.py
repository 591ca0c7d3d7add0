"""Reporter: a stored run as JSON, Markdown, CSV, LaTeX or HTML, and runs compared.

Everything is read from a store's projections (score rows, work items, the
snapshot) and its events; nothing is re-run, so a report of a run reopened in
another process, or imported from bundles, reads exactly like the original.
Markdown and LaTeX tables give each metric's mean with a bootstrap confidence
interval and the number of cases behind it, ready to paste into a paper.
Without numpy and scipy (the ``stats`` extra) reports show the means alone
and say how to get the intervals; comparisons need the extra.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from themis.core.analysis.inspection import (
    get_execution_state,
    get_run_snapshot,
    load_run_result,
    snapshot_report,
)
from themis.core.analysis.stats import (
    MetricSummary,
    RunComparison,
    StatsEngine,
    StatsUnavailableError,
    format_p,
    p_phrase,
    summarize_means,
)
from themis.core.analysis.stats.extra import INSTALL_HINT
from themis.core.analysis.stats.models import TEST_LABELS
from themis.core.errors import ConfigError
from themis.core.models import STAGES, JSONValue, RunSnapshot, case_key_for
from themis.core.observability.redaction import redact_secrets
from themis.core.storage.stores.base import RunStore

REPORT_FORMAT = "themis-report"
REPORT_SCHEMA_VERSION = 1

SCORE_COLUMNS: tuple[str, ...] = (
    "run_id",
    "dataset_id",
    "case_id",
    "case_key",
    "metric_id",
    "value",
    "outcome",
    "error_category",
    "error_message",
    "details",
)
"""Columns of :meth:`Reporter.export_score_table` rows and of the CSV export."""

MAX_LISTED_FAILURES = 20

MEANS_ONLY_NOTE = (
    "No confidence intervals: they need numpy and scipy, "
    f"which the stats extra installs ({INSTALL_HINT})."
)
"""What a report says in place of intervals when the ``stats`` extra is missing."""


class Reporter:
    """Export persisted run projections in JSON, Markdown, CSV, or LaTeX.

    ``stats`` sets the confidence level, resample count and seed of the
    intervals and tests (default: ``StatsEngine()``, 95%, 5000 resamples,
    seed 0), so the same store always gives the same report.
    """

    def __init__(self, store: RunStore, *, stats: StatsEngine | None = None) -> None:
        self.store = store
        self.stats = stats or StatsEngine()

    # -- rows --------------------------------------------------------------

    def export_score_table(self, run_id: str) -> list[dict[str, JSONValue]]:
        """Return benchmark score rows in a normalized table structure.

        One row per case and metric, in dataset, case and metric order, with
        the columns of :data:`SCORE_COLUMNS`; ``details`` is a mapping.
        """
        snapshot = get_run_snapshot(self.store, run_id)
        case_order = {
            case_key_for(dataset.dataset_id, case.case_id): position
            for position, (dataset, case) in enumerate(
                (dataset, case) for dataset in snapshot.datasets for case in dataset.cases
            )
        }
        metric_order = {
            ref.name: index for index, ref in enumerate(snapshot.component_refs.metrics)
        }
        rows = sorted(
            self.store.score_rows(run_id),
            key=lambda row: (
                case_order.get(row.case_key, len(case_order)),
                row.case_key,
                metric_order.get(row.metric_id, len(metric_order)),
                row.metric_id,
            ),
        )
        return [
            {
                "run_id": row.run_id,
                "dataset_id": row.dataset_id,
                "case_id": row.case_id,
                "case_key": row.case_key,
                "metric_id": row.metric_id,
                "value": row.value,
                "outcome": row.outcome,
                "error_category": row.error_category,
                "error_message": row.error_message,
                "details": redact_secrets(_json_or_text(row.details)),
            }
            for row in rows
        ]

    # -- one run -----------------------------------------------------------

    def _summaries(self, snapshot: RunSnapshot) -> tuple[list[MetricSummary], bool]:
        """The run's metric summaries, and whether they carry confidence intervals
        (not without the ``stats`` extra: the report then shows means alone)."""
        by_dataset = len(snapshot.datasets) > 1
        try:
            return self.stats.summarize(self.store, snapshot.run_id, by_dataset=by_dataset), True
        except StatsUnavailableError:
            means = summarize_means(
                self.store,
                snapshot.run_id,
                by_dataset=by_dataset,
                confidence=self.stats.confidence,
            )
            return means, False

    def export_json(self, run_id: str) -> str:
        """Export all major persisted projections for a run as formatted JSON.

        Keys: ``format``, ``schema_version``, ``run`` (snapshot summary),
        ``status``, ``execution_state``, ``failures_by_category``, ``metrics``
        (means with confidence intervals), ``cases`` (status and errors of
        each case) and ``scores`` (the score table). Without the ``stats``
        extra the intervals are null and ``note`` says how to get them.
        """
        snapshot = get_run_snapshot(self.store, run_id)
        state = get_execution_state(self.store, run_id)
        result = load_run_result(self.store, run_id)
        summaries, intervals = self._summaries(snapshot)
        report: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "schema_version": REPORT_SCHEMA_VERSION,
            "run": _public_snapshot(snapshot),
            "status": state.status.value,
            "completed_through_stage": state.completed_through_stage,
            "execution_state": state.model_dump(mode="json"),
            "failures_by_category": dict(
                sorted(Counter(f.error.category for f in state.failures).items())
            ),
            "metrics": [summary.model_dump(mode="json") for summary in summaries],
            "cases": [
                {
                    "case_key": case.case_key,
                    "dataset_id": case.dataset_id,
                    "case_id": case.case_id,
                    "status": case.status.value,
                    "completed_through_stage": case.completed_through_stage,
                    "cached_stages": case.cached_stages,
                    "errors": [error.model_dump(mode="json") for error in case.errors],
                }
                for case in result.cases
            ],
            "scores": self.export_score_table(run_id),
        }
        if not intervals:
            report["note"] = MEANS_ONLY_NOTE
        return json.dumps(report, indent=2, sort_keys=False, default=str)

    def export_markdown(self, run_id: str) -> str:
        """Export a human-readable Markdown summary for a persisted run."""
        snapshot = get_run_snapshot(self.store, run_id)
        state = get_execution_state(self.store, run_id)
        result = load_run_result(self.store, run_id)
        summaries, intervals = self._summaries(snapshot)
        refs = snapshot.component_refs
        statuses = Counter(case.status.value for case in result.cases)
        lines = [
            f"# Themis run report: `{run_id}`",
            "",
            "| | |",
            "|---|---|",
            f"| Status | {state.status.value} |",
            f"| Completed through | {state.completed_through_stage or 'nothing yet'} |",
            f"| Cases | {len(result.cases)} "
            f"({', '.join(f'{n} {status}' for status, n in sorted(statuses.items()))}) |",
            "| Datasets | "
            + ", ".join(
                f"{_md(ref.dataset_id)} ({ref.case_count} cases"
                + (f", revision {_md(ref.revision)}" if ref.revision else "")
                + ")"
                for ref in snapshot.identity.datasets
            )
            + " |",
            f"| Generator | {_md(_component(refs.generator))} |",
            f"| Reducer | {_md(_component(refs.reducer))} |",
        ]
        if refs.parsers:
            lines.append(f"| Parsers | {_md(', '.join(map(_component, refs.parsers)))} |")
        if refs.judge_models:
            lines.append(f"| Judge models | {_md(', '.join(map(_component, refs.judge_models)))} |")
        lines += [
            f"| Seeds | {', '.join(map(str, snapshot.identity.seeds))} |",
            f"| Candidates per case | {snapshot.identity.candidate_policy.get('num_samples', 1)} |",
            f"| Themis | {snapshot.provenance.themis_version} |",
            "",
            "## Metrics",
            "",
        ]
        lines += _markdown_metric_table(summaries, self.stats, intervals=intervals)
        lines += [
            "",
            "## Stages",
            "",
            "| Stage | Done | Cached | Failed | Pending |",
            "|---|---:|---:|---:|---:|",
        ]
        for stage in STAGES:
            counts = state.stages[stage]
            lines.append(
                f"| {stage} | {counts.done} | {counts.cached} | {counts.failed} | "
                f"{counts.pending} |"
            )
        if state.failures:
            categories = Counter(failure.error.category for failure in state.failures)
            lines += [
                "",
                "## Failures",
                "",
                "By category: "
                + ", ".join(f"{category} {n}" for category, n in sorted(categories.items())),
                "",
                "| Case | Stage | Category | Error |",
                "|---|---|---|---|",
            ]
            for failure in state.failures[:MAX_LISTED_FAILURES]:
                error = failure.error
                lines.append(
                    f"| {_md(failure.case_key)} | {failure.stage} | {error.category} | "
                    f"{_md(f'{error.error_type}: {error.message}', limit=160)} |"
                )
            hidden = len(state.failures) - MAX_LISTED_FAILURES
            if hidden > 0:
                lines += ["", f"…and {hidden} more (see `export_json` or `export_csv`)."]
        return "\n".join(lines) + "\n"

    def export_csv(self, run_id: str) -> str:
        """Export the score table as CSV (``details`` as JSON text)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=SCORE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.export_score_table(run_id):
            writer.writerow(
                {**row, "details": json.dumps(row["details"], sort_keys=True, default=str)}
            )
        return buffer.getvalue()

    def export_latex(self, run_id: str) -> str:
        """Export benchmark score rows as a compact LaTeX table.

        One row per metric (and per dataset when the run has several): mean,
        bootstrap confidence interval, number of answered cases and how many of
        them did not parse (counted 0). Uses the ``booktabs`` package. Without
        the ``stats`` extra the interval column is left out and a comment above
        the table says how to get it.
        """
        snapshot = get_run_snapshot(self.store, run_id)
        summaries, intervals = self._summaries(snapshot)
        per_dataset = any(summary.dataset_id is not None for summary in summaries)
        level = f"{self.stats.confidence:.0%}".replace("%", r"\%")
        header = (["Dataset"] if per_dataset else []) + ["Metric", "Mean"]
        header += [f"{level} CI", "$n$"] if intervals else ["$n$"]
        header.append("Unparsed")
        body = []
        for summary in summaries:
            cells = [_latex(summary.dataset_id or "all")] if per_dataset else []
            cells += [_latex(summary.metric_id), _number(summary.mean)]
            if intervals:
                cells.append(_interval(summary.ci_low, summary.ci_high))
            cells += [str(summary.n), str(summary.parse_failures)]
            body.append(" & ".join(cells) + r" \\")
        counted = "over $n$ answered cases; unparsed answers are in $n$ and count 0."
        described = (
            f"mean score with {level} percentile bootstrap confidence interval "
            f"({self.stats.resamples} resamples) {counted}"
            if intervals
            else f"mean score {counted}"
        )
        return _latex_table(
            "l" * (2 if per_dataset else 1) + ("rcrr" if intervals else "rrr"),
            header,
            body,
            f"Results of run \\texttt{{{_latex(run_id)}}}: {described}",
            f"tab:{_label(run_id)}",
            note=None if intervals else MEANS_ONLY_NOTE,
        )

    def export_html(self, run_id: str) -> str:
        """One self-contained HTML page: the run header, metric table with
        confidence intervals, a score distribution per metric, and a searchable
        case table whose rows open everything stored about the case.

        No network is needed to view it; it stays responsive at 100,000 cases.
        """
        from themis.core.analysis.html import render_report

        return render_report(self.store, run_id, stats=self.stats)

    # -- two runs ----------------------------------------------------------

    def export_comparison_html(self, run_ids: Sequence[str]) -> str:
        """Two or more runs as one self-contained HTML page: paired statistics
        of every run against the first, the cases where they disagree with
        their outputs side by side, and a plot of per-case differences."""
        from themis.core.analysis.html import render_comparison

        return render_comparison(self.store, run_ids, stats=self.stats)

    def compare(self, baseline_run_id: str, candidate_run_id: str) -> RunComparison:
        """The statistical comparison of two stored runs (see ``StatsEngine.compare``)."""
        return self.stats.compare(self.store, baseline_run_id, candidate_run_id)

    def export_comparison(
        self,
        baseline_run_id: str,
        candidate_run_id: str,
        *,
        format: Literal["markdown", "json", "latex", "html"] = "markdown",
    ) -> str:
        """Compare two runs on their shared cases and report which is better, per metric."""
        if format == "html":
            return self.export_comparison_html([baseline_run_id, candidate_run_id])
        comparison = self.compare(baseline_run_id, candidate_run_id)
        if format == "json":
            return comparison.model_dump_json(indent=2)
        if format == "latex":
            return _comparison_latex(comparison)
        if format == "markdown":
            return _comparison_markdown(comparison)
        raise ConfigError(f"format must be 'markdown', 'json', 'latex' or 'html', got {format!r}")


# -- formatting helpers ---------------------------------------------------


def _public_snapshot(snapshot: RunSnapshot) -> dict[str, JSONValue]:
    summary: dict[str, JSONValue] = redact_secrets(snapshot_report(snapshot))
    return summary


def _json_or_text(text: str) -> JSONValue:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _component(ref: Any) -> str:
    name = f" as {ref.name}" if ref.name != ref.component_id else ""
    return f"{ref.component_id}{name} v{ref.version}"


def _md(text: object, *, limit: int | None = None) -> str:
    """Text safe inside a Markdown table cell."""
    value = " ".join(str(text).split()).replace("|", r"\|")
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def _interval(low: float | None, high: float | None, *, signed: bool = False) -> str:
    if low is None or high is None:
        return "-"
    show = _signed if signed else _number
    return f"[{show(low)}, {show(high)}]"


def _markdown_metric_table(
    summaries: Sequence[MetricSummary], stats: StatsEngine, *, intervals: bool
) -> list[str]:
    if not summaries:
        return ["No metric is configured for this run."]
    per_dataset = any(summary.dataset_id is not None for summary in summaries)
    level = f"{stats.confidence:.0%}"
    ci_head, ci_rule = (f" {level} CI |", "---|") if intervals else ("", "")
    head = ("| Dataset " if per_dataset else "") + (
        f"| Metric | Mean |{ci_head} n | Unparsed | Errors |"
    )
    rule = ("|---" if per_dataset else "") + f"|---|---:|{ci_rule}---:|---:|---:|"
    lines = [head, rule]
    for summary in summaries:
        dataset = f"| {_md(summary.dataset_id or 'all')} " if per_dataset else ""
        ci = f" {_interval(summary.ci_low, summary.ci_high)} |" if intervals else ""
        lines.append(
            f"{dataset}| {_md(summary.metric_id)} | {_number(summary.mean)} |{ci} "
            f"{summary.n} | {summary.parse_failures} | {summary.errors} |"
        )
    described = (
        f"Means over the n answered cases; {level} percentile bootstrap intervals "
        f"({stats.resamples} resamples, seed {stats.seed})."
        if intervals
        else f"Means over the n answered cases. {MEANS_ONLY_NOTE}"
    )
    lines += [
        "",
        f"{described} Unparsed answers (no answer the parser could read) are in n and "
        "count 0. Errors are cases never answered or that a metric could not score; they "
        "are not in n.",
    ]
    return lines


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _latex(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def _latex_minus(text: str) -> str:
    """Numbers with a typographic minus sign."""
    return text.replace("-", "$-$")


def _label(text: str) -> str:
    return "".join(char if char.isalnum() or char in "-:" else "-" for char in text)


def _latex_table(
    columns: str,
    header: Iterable[str],
    body: Sequence[str],
    caption: str,
    label: str,
    *,
    note: str | None = None,
) -> str:
    return (
        "\n".join(
            [
                *([f"% {note}"] if note else []),
                r"% Requires \usepackage{booktabs}.",
                r"\begin{table}[t]",
                r"\centering",
                f"\\begin{{tabular}}{{{columns}}}",
                r"\toprule",
                " & ".join(header) + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
                f"\\caption{{{caption}}}",
                f"\\label{{{label}}}",
                r"\end{table}",
            ]
        )
        + "\n"
    )


def _verdict(comparison: RunComparison) -> str:
    moved = comparison.moved
    if not moved:
        return (
            "**No significant difference** between the runs on any metric "
            f"(alpha = {comparison.alpha}, {_correction(comparison)})."
        )
    winners = {metric.better for metric in moved}
    if len(winners) == 1:
        (side,) = winners
        run_id = comparison.candidate_run_id if side == "candidate" else comparison.baseline_run_id
        evidence = "; ".join(
            f"{metric.metric_id} ({_signed(metric.difference)}, {p_phrase(metric.p_value)}, "
            f"{TEST_LABELS.get(metric.primary_test or '', '')})"
            for metric in moved
        )
        return f"**Better run: the {side} `{run_id}`** on {evidence}."
    return "**Mixed result:** the runs are each better on different metrics (see below)."


def _correction(comparison: RunComparison) -> str:
    return {
        "holm": "Holm-adjusted across metrics",
        "bh": "Benjamini-Hochberg-adjusted across metrics",
        "none": "no adjustment for multiple metrics",
    }[comparison.correction]


def _comparison_markdown(comparison: RunComparison) -> str:
    level = f"{comparison.confidence:.0%}"
    lines = [
        "# Themis comparison",
        "",
        f"Baseline `{comparison.baseline_run_id}` vs candidate `{comparison.candidate_run_id}` "
        f"on {comparison.shared_cases} shared cases.",
        "",
        _verdict(comparison),
        "",
        f"| Metric | n | Unparsed (b/c) | Baseline | Candidate | Δ | {level} CI of Δ | d_z | p "
        "| p (Holm) | p (BH) | Better |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for metric in comparison.metrics:
        better = "-" if metric.better == "neither" else f"{metric.better} `{metric.better_run_id}`"
        lines.append(
            f"| {_md(metric.metric_id)} | {metric.n_pairs} | "
            f"{metric.baseline_parse_failures}/{metric.candidate_parse_failures} | "
            f"{_number(metric.baseline_mean)} | "
            f"{_number(metric.candidate_mean)} | {_signed(metric.difference)} | "
            f"{_interval(metric.ci_low, metric.ci_high, signed=True)} | "
            f"{_signed(metric.effect_size, 2)} | {format_p(metric.p_value)} | "
            f"{format_p(metric.p_value_holm)} | {format_p(metric.p_value_bh)} | {better} |"
        )
    lines += [
        "",
        "Δ is candidate minus baseline over cases both runs scored (higher is better; "
        "an answer that did not parse counts 0); "
        f"d_z is Cohen's d of the paired differences. p is McNemar's exact test for 0/1 "
        f"metrics and a paired permutation test otherwise; significance at alpha = "
        f"{comparison.alpha}, {_correction(comparison)}. Intervals: paired bootstrap, "
        f"{comparison.resamples} resamples, seed {comparison.seed}.",
        "",
        "## All tests (two-sided p-values)",
        "",
        "| Metric | " + " | ".join(TEST_LABELS.values()) + " |",
        "|---|" + "---:|" * len(TEST_LABELS),
    ]
    for metric in comparison.metrics:
        cells = [
            format_p(metric.tests[name].p_value) if name in metric.tests else "-"
            for name in TEST_LABELS
        ]
        lines.append(f"| {_md(metric.metric_id)} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- {metric.describe()}" for metric in comparison.metrics)]
    if comparison.unmatched_metrics:
        lines += ["", f"Not compared (scored by one run only): {comparison.unmatched_metrics}."]
    return "\n".join(lines) + "\n"


def _comparison_latex(comparison: RunComparison) -> str:
    level = f"{comparison.confidence:.0%}".replace("%", r"\%")
    body = [
        " & ".join(
            [
                _latex(metric.metric_id),
                str(metric.n_pairs),
                _number(metric.baseline_mean),
                _number(metric.candidate_mean),
                _latex_minus(_signed(metric.difference)),
                _latex_minus(_interval(metric.ci_low, metric.ci_high, signed=True)),
                _latex(format_p(metric.p_value)).replace("<", "$<$"),
            ]
        )
        + r" \\"
        for metric in comparison.metrics
    ]
    caption = (
        f"Baseline \\texttt{{{_latex(comparison.baseline_run_id)}}} vs candidate "
        f"\\texttt{{{_latex(comparison.candidate_run_id)}}}: $\\Delta$ is candidate minus "
        f"baseline with a {level} paired bootstrap interval; $p$ from McNemar's exact test "
        "(0/1 metrics) or a paired permutation test."
    )
    return _latex_table(
        "lrrrrcr",
        ["Metric", "$n$", "Baseline", "Candidate", r"$\Delta$", f"{level} CI", "$p$"],
        body,
        caption,
        f"tab:{_label(comparison.baseline_run_id)}-vs-{_label(comparison.candidate_run_id)}",
    )

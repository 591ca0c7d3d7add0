"""The campaign report: a leaderboard and paired comparisons against a baseline.

Everything is read from the store (score rows and snapshots); nothing runs.
The leaderboard has one row per model point and one column per benchmark
metric: the mean with its bootstrap confidence interval. Each other point is
compared with the baseline point on every benchmark metric, paired by case
(McNemar's exact test for 0/1 scores, the paired permutation test
otherwise), and the p-values are adjusted across the whole family of
comparisons (Holm by default, or Benjamini-Hochberg), since a leaderboard
makes many comparisons at once. numpy and scipy are imported only here,
when a statistic is computed: without them the report shows means only.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import stored_outcomes
from themis.core.analysis.reporting import _interval, _latex, _latex_table, _md, _number, _signed
from themis.core.analysis.stats.extra import INSTALL_HINT as STATS_INSTALL_HINT
from themis.core.analysis.stats.models import TEST_LABELS, format_p
from themis.core.errors import ConfigError
from themis.core.models import FrozenModel
from themis.core.storage.stores.base import RunStore

if TYPE_CHECKING:
    from themis.campaign.run import Campaign

__all__ = ["CampaignReport", "LeaderboardCell", "PointComparison", "campaign_report"]

ReportFormat = Literal["markdown", "csv", "latex", "json"]


class LeaderboardCell(FrozenModel):
    """One point's score on one benchmark metric (``mean`` None: not run yet).

    ``n`` cases are in the mean; ``parse_failures`` of them gave no answer the
    parser could read and count 0 (``themis.core.analysis.outcomes``); ``errors`` were
    never answered or not scorable and are left out."""

    point_id: str
    benchmark: str
    metric: str
    run_id: str
    n: int = 0
    parse_failures: int = 0
    errors: int = 0
    mean: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


class PointComparison(FrozenModel):
    """One point against the baseline point on one benchmark metric."""

    candidate: str
    benchmark: str
    metric: str
    n_pairs: int
    baseline_mean: float | None = None
    candidate_mean: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    test: str | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    significant: bool = False
    better: Literal["baseline", "candidate", "neither"] = "neither"


class CampaignReport(FrozenModel):
    """The leaderboard and comparisons of a campaign, ready to export."""

    project_name: str
    baseline: str
    points: list[str]
    columns: list[tuple[str, str]]
    cells: list[LeaderboardCell]
    comparisons: list[PointComparison]
    not_run: list[str]
    confidence: float
    alpha: float
    correction: Literal["holm", "bh", "none"]
    resamples: int
    statistics: bool
    """False when numpy/scipy are missing: means only, no intervals or tests."""

    def cell(self, point_id: str, benchmark: str, metric: str | None = None) -> LeaderboardCell:
        """One leaderboard cell (``metric`` may be left out when the benchmark has one)."""
        for cell in self.cells:
            if (
                cell.point_id == point_id
                and cell.benchmark == benchmark
                and (metric is None or cell.metric == metric)
            ):
                return cell
        raise KeyError(f"no leaderboard cell for {point_id!r} on {benchmark!r} {metric or ''}")

    def comparison(
        self, candidate: str, benchmark: str, metric: str | None = None
    ) -> PointComparison:
        for row in self.comparisons:
            if (
                row.candidate == candidate
                and row.benchmark == benchmark
                and (metric is None or row.metric == metric)
            ):
                return row
        raise KeyError(f"no comparison of {candidate!r} on {benchmark!r} {metric or ''}")

    def export(self, format: ReportFormat = "markdown") -> str:
        """The report as Markdown, CSV (one tidy table), LaTeX or JSON."""
        if format == "markdown":
            return self.to_markdown()
        if format == "csv":
            return self.to_csv()
        if format == "latex":
            return self.to_latex()
        if format == "json":
            return self.model_dump_json(indent=2) + "\n"
        raise ConfigError(f"format must be markdown, csv, latex or json; got {format!r}")

    # -- shared pieces -----------------------------------------------------

    def _header(self, benchmark: str, metric: str) -> str:
        single = sum(1 for b, _ in self.columns if b == benchmark) == 1
        return benchmark if single else f"{benchmark}: {metric}"

    def _score(self, cell: LeaderboardCell) -> str:
        if cell.mean is None:
            return "-"
        interval = f" {_interval(cell.ci_low, cell.ci_high)}" if self.statistics else ""
        return f"{_number(cell.mean)}{interval} (n={cell.n})"

    def _unparsed(self, cell: LeaderboardCell) -> str:
        return "-" if cell.mean is None else str(cell.parse_failures)

    def _cells_by_key(self) -> dict[tuple[str, str, str], LeaderboardCell]:
        return {(c.point_id, c.benchmark, c.metric): c for c in self.cells}

    def _correction_name(self) -> str:
        return {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}[self.correction]

    # -- formats -------------------------------------------------------------

    def to_markdown(self) -> str:
        level = f"{self.confidence:.0%}"
        cells = self._cells_by_key()
        lines = [f"# Campaign: {_md(self.project_name)}", "", "## Leaderboard", ""]
        interval = f" with its {level} bootstrap CI" if self.statistics else ""
        lines.append(
            f"Mean score per benchmark{interval} and the number of cases in it (n); "
            "one row per model point. Each score's 'unparsed' column counts the answers "
            "the parser could not read: they are in n and count 0."
        )
        headers = [
            header
            for c in self.columns
            for header in (_md(self._header(*c)), _md(f"{self._header(*c)} unparsed"))
        ]
        lines += ["", "| model | " + " | ".join(headers) + " |"]
        lines.append("|---|" + "---|---:|" * len(self.columns))
        for point in self.points:
            row = [
                text
                for b, m in self.columns
                for text in (
                    self._score(cells[(point, b, m)]),
                    self._unparsed(cells[(point, b, m)]),
                )
            ]
            lines.append(f"| {_md(point)} | " + " | ".join(row) + " |")
        if self.not_run:
            lines += ["", f"Not run yet: {', '.join(self.not_run)}."]
        lines += ["", f"## Paired comparisons against {_md(self.baseline)}", ""]
        if not self.statistics:
            lines.append(
                "Confidence intervals and tests need numpy and scipy, which the stats "
                f"extra installs: {STATS_INSTALL_HINT}."
            )
            return "\n".join(lines) + "\n"
        if not self.comparisons:
            lines.append("Nothing to compare: no other point shares a benchmark run.")
            return "\n".join(lines) + "\n"
        adjusted = {"holm": "p (Holm)", "bh": "p (BH)", "none": "p"}[self.correction]
        lines.append(
            f"| model | benchmark | n | baseline | model mean | difference | {level} CI | test "
            f"| p | {adjusted} | better |"
        )
        lines.append("|---|---|---:|---:|---:|---:|---|---|---:|---:|---|")
        for c in self.comparisons:
            lines.append(
                f"| {_md(c.candidate)} | {_md(self._header(c.benchmark, c.metric))} | "
                f"{c.n_pairs} | {_number(c.baseline_mean)} | {_number(c.candidate_mean)} | "
                f"{_signed(c.difference)} | {_interval(c.ci_low, c.ci_high, signed=True)} | "
                f"{TEST_LABELS.get(c.test or '', '-')} | {format_p(c.p_value)} | "
                f"{format_p(c.p_adjusted)} | {c.better} |"
            )
        lines += [
            "",
            f"Differences are model minus baseline on the cases both scored. P-values are "
            f"adjusted with the {self._correction_name()} correction across all "
            f"{sum(c.p_value is not None for c in self.comparisons)} comparisons; "
            f"'better' needs an adjusted p below {self.alpha}.",
        ]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """One row per leaderboard cell (``section`` leaderboard) and per comparison."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "section", "model", "benchmark", "metric", "run_id", "n", "unparsed", "errors",
                "mean",
                "ci_low", "ci_high", "baseline", "baseline_mean", "difference", "test",
                "p_value", "p_adjusted", "significant", "better",
            ]
        )  # fmt: skip
        for cell in self.cells:
            writer.writerow(
                ["leaderboard", cell.point_id, cell.benchmark, cell.metric, cell.run_id, cell.n,
                 cell.parse_failures, cell.errors, _csv(cell.mean), _csv(cell.ci_low),
                 _csv(cell.ci_high),
                 "", "", "", "", "", "", "", ""]
            )  # fmt: skip
        for c in self.comparisons:
            writer.writerow(
                ["comparison", c.candidate, c.benchmark, c.metric, "", c.n_pairs, "", "",
                 _csv(c.candidate_mean), _csv(c.ci_low), _csv(c.ci_high), self.baseline,
                 _csv(c.baseline_mean), _csv(c.difference), c.test or "", _csv(c.p_value),
                 _csv(c.p_adjusted), str(c.significant).lower(), c.better]
            )  # fmt: skip
        return out.getvalue()

    def to_latex(self) -> str:
        cells = self._cells_by_key()
        level = f"{self.confidence:.0%}".replace("%", r"\%")
        body = []
        for point in self.points:
            scores = []
            for b, m in self.columns:
                cell = cells[(point, b, m)]
                if cell.mean is None:
                    scores.append("--")
                elif self.statistics:
                    scores.append(
                        f"{_number(cell.mean)} [{_number(cell.ci_low)}, {_number(cell.ci_high)}]"
                    )
                else:
                    scores.append(_number(cell.mean))
                scores.append("--" if cell.mean is None else str(cell.parse_failures))
            body.append(" & ".join([_latex(point), *scores]) + r" \\")
        leaderboard = _latex_table(
            "l" + "rr" * len(self.columns),
            [
                "Model",
                *(
                    header
                    for c in self.columns
                    for header in (_latex(self._header(*c)), "Unparsed")
                ),
            ],
            body,
            f"{_latex(self.project_name)}: mean score"
            + (f" with {level} bootstrap CI" if self.statistics else "")
            + "; unparsed answers count 0",
            "tab:campaign-leaderboard",
        )
        if not self.statistics or not self.comparisons:
            return leaderboard
        rows = [
            " & ".join(
                [
                    _latex(c.candidate),
                    _latex(self._header(c.benchmark, c.metric)),
                    str(c.n_pairs),
                    _signed(c.difference).replace("-", "$-$"),
                    _interval(c.ci_low, c.ci_high, signed=True).replace("-", "$-$"),
                    format_p(c.p_adjusted).replace("<", r"$<$"),
                    c.better,
                ]
            )
            + r" \\"
            for c in self.comparisons
        ]
        comparisons = _latex_table(
            "llrrlrl",
            ["Model", "Benchmark", "$n$", r"$\Delta$", f"{level} CI", "adj. $p$", "Better"],
            rows,
            f"Paired comparisons against {_latex(self.baseline)} "
            f"({self._correction_name()} correction across {len(rows)} comparisons)",
            "tab:campaign-comparisons",
        )
        return leaderboard + "\n" + comparisons


def _csv(value: float | None) -> str:
    return "" if value is None else repr(value)


def _values(
    store: RunStore, run_id: str, unparsed: dict[str, int] | None = None
) -> dict[str, dict[str, float | None]]:
    """Counted values by metric and case key: an answer that did not parse is 0,
    as in every mean (``themis.core.analysis.outcomes``); None: an error, left out.
    ``unparsed``, when given, receives how many answers per metric did not parse."""
    values: dict[str, dict[str, float | None]] = {}
    for outcome in stored_outcomes(store, get_run_snapshot(store, run_id)):
        values.setdefault(outcome.metric_id, {})[outcome.case_key] = outcome.value
        if unparsed is not None and outcome.kind == "unparsed":
            unparsed[outcome.metric_id] = unparsed.get(outcome.metric_id, 0) + 1
    return values


def _stats_available() -> bool:
    """Whether numpy (imported: every statistic needs it) and scipy (found, not
    imported: it is slow to import and only some tests need it) are installed."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return importlib.util.find_spec("scipy") is not None


def _adjust(p_values: Sequence[float], correction: str) -> list[float]:
    from themis.core.analysis.stats import StatsEngine

    if correction == "holm":
        return StatsEngine.holm(p_values)
    if correction == "bh":
        return StatsEngine.benjamini_hochberg(p_values)
    return list(p_values)


def campaign_report(
    campaign: Campaign,
    *,
    baseline: str | None = None,
    confidence: float | None = None,
    alpha: float | None = None,
    correction: Literal["holm", "bh", "none"] | None = None,
    resamples: int | None = None,
) -> CampaignReport:
    """Read every stored point of ``campaign`` into a leaderboard and comparisons.

    ``baseline`` (a model name or point id) and the statistics settings
    default to the campaign file's ``baseline`` and ``comparison``.
    """
    settings = campaign.spec.comparison
    confidence = settings.confidence if confidence is None else confidence
    alpha = settings.alpha if alpha is None else alpha
    correction = settings.correction if correction is None else correction
    resamples = settings.resamples if resamples is None else resamples
    store = campaign.store
    point_ids = list(dict.fromkeys(p.point_id for p in campaign.points))
    base = _baseline(campaign, baseline if baseline is not None else campaign.spec.baseline)
    statistics = _stats_available()
    engine = None
    if statistics:
        from themis.core.analysis.stats import StatsEngine

        engine = StatsEngine(
            confidence=confidence, resamples=resamples, alpha=alpha, correction=correction
        )
    columns: list[tuple[str, str]] = []
    metrics_of: dict[str, list[str]] = {}
    for point in campaign.points:
        if point.benchmark not in metrics_of:
            refs = point.experiment.compile().component_refs.metrics
            metrics_of[point.benchmark] = [ref.name for ref in refs]
            columns += [(point.benchmark, metric) for metric in metrics_of[point.benchmark]]
    stored = {point.run_id for point in campaign.points if store.get_snapshot(point.run_id)}
    unparsed: dict[str, dict[str, int]] = {run_id: {} for run_id in stored}
    scores = {run_id: _values(store, run_id, unparsed[run_id]) for run_id in stored}
    cells: list[LeaderboardCell] = []
    for point in campaign.points:
        for metric in metrics_of[point.benchmark]:
            cell = LeaderboardCell(
                point_id=point.point_id, benchmark=point.benchmark, metric=metric,
                run_id=point.run_id,
            )  # fmt: skip
            by_case = scores.get(point.run_id, {}).get(metric, {})
            ordered = [by_case[key] for key in sorted(by_case)]
            values = [v for v in ordered if v is not None]
            if values:
                update: dict[str, object] = {
                    "n": len(values),
                    "parse_failures": unparsed[point.run_id].get(metric, 0),
                    "errors": len(ordered) - len(values),
                    "mean": sum(values) / len(values),
                }
                if engine is not None:
                    summary = engine.summarize_values(
                        metric, values, dataset_id=f"{point.point_id}|{point.benchmark}"
                    )
                    update.update(ci_low=summary.ci_low, ci_high=summary.ci_high)
                cell = cell.model_copy(update=update)
            cells.append(cell)
    comparisons = (
        _compare(campaign, base, scores, metrics_of, engine, correction, alpha)
        if engine is not None
        else []
    )
    return CampaignReport(
        project_name=campaign.spec.project.project_name,
        baseline=base,
        points=point_ids,
        columns=columns,
        cells=cells,
        comparisons=comparisons,
        not_run=list(
            dict.fromkeys(
                f"{p.point_id} on {p.benchmark}" for p in campaign.points if p.run_id not in stored
            )
        ),
        confidence=confidence,
        alpha=alpha,
        correction=correction,
        resamples=resamples,
        statistics=statistics,
    )


def _baseline(campaign: Campaign, wanted: str | None) -> str:
    point_ids = list(dict.fromkeys(p.point_id for p in campaign.points))
    if wanted is None:
        return point_ids[0]
    if wanted in point_ids:
        return wanted
    for point in campaign.points:
        if point.model == wanted:
            return point.point_id
    raise ConfigError(
        f"baseline {wanted!r} is neither a model nor a point of the campaign; "
        f"models: {sorted({p.model for p in campaign.points})}, points: {point_ids}"
    )


def _compare(
    campaign: Campaign,
    baseline: str,
    scores: dict[str, dict[str, dict[str, float | None]]],
    metrics_of: dict[str, list[str]],
    engine: object,
    correction: str,
    alpha: float,
) -> list[PointComparison]:
    from themis.core.analysis.stats import StatsEngine

    assert isinstance(engine, StatsEngine)
    base_runs = {p.benchmark: p.run_id for p in campaign.points if p.point_id == baseline}
    raw: list[PointComparison] = []
    for point in campaign.points:
        base_run = base_runs.get(point.benchmark)
        if point.point_id == baseline or base_run not in scores or point.run_id not in scores:
            continue
        for metric in metrics_of[point.benchmark]:
            base_values = scores[base_run].get(metric, {})
            cand_values = scores[point.run_id].get(metric, {})
            keys = sorted(
                key
                for key in set(base_values) & set(cand_values)
                if base_values[key] is not None and cand_values[key] is not None
            )
            result = engine.compare_values(
                f"{point.point_id}|{point.benchmark}|{metric}",
                [float(base_values[k] or 0.0) for k in keys],
                [float(cand_values[k] or 0.0) for k in keys],
            )
            raw.append(
                PointComparison(
                    candidate=point.point_id,
                    benchmark=point.benchmark,
                    metric=metric,
                    n_pairs=result.n_pairs,
                    baseline_mean=result.baseline_mean,
                    candidate_mean=result.candidate_mean,
                    difference=result.difference,
                    ci_low=result.ci_low,
                    ci_high=result.ci_high,
                    test=result.primary_test,
                    p_value=result.p_value,
                )
            )
    tested = [i for i, c in enumerate(raw) if c.p_value is not None]
    adjusted = _adjust([float(raw[i].p_value or 0.0) for i in tested], correction)
    out = list(raw)
    for index, p_adjusted in zip(tested, adjusted, strict=True):
        row = raw[index]
        difference = row.difference or 0.0
        significant = p_adjusted < alpha and difference != 0.0
        better: Literal["baseline", "candidate", "neither"] = "neither"
        if significant:
            better = "candidate" if difference > 0 else "baseline"
        out[index] = row.model_copy(
            update={"p_adjusted": p_adjusted, "significant": significant, "better": better}
        )
    return out

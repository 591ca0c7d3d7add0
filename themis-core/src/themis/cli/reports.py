"""Commands that read stored runs into documents and statistics: report, compare, estimate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from themis.cli.options import config_options, json_option, metric_option, run_target_options
from themis.cli.output import emit_json, emit_table, note
from themis.cli.targets import (
    experiment_store,
    load_experiment,
    require_run,
    resolve_run,
    resolve_store,
    stored_experiment_run,
)
from themis.core.analysis.reporting import Reporter
from themis.core.analysis.stats import StatsEngine, format_p
from themis.core.storage.stores.base import RunStore
from themis.core.storage.stores.memory import InMemoryRunStore

REPORT_FORMATS = ("markdown", "json", "csv", "latex", "html")


@click.command("report", short_help="Report a stored run as Markdown, JSON, CSV, LaTeX or HTML.")
@run_target_options
@click.option(
    "--format",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default="markdown",
    show_default=True,
    help="Document format.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the report to this file instead of stdout.",
)
def report(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    report_format: str,
    output: Path | None,
) -> None:
    """Report a stored run: metric means with confidence intervals, and every score.

    Markdown and LaTeX tables are ready to paste into a paper; JSON holds
    every projection; CSV holds one row per case and metric; HTML is one
    self-contained page (no network needed) with score plots and a searchable
    case table that opens each case's prompt, outputs, scores and judge verdicts.

    \b
    Examples:
      themis report --config experiment.yaml --format latex --output table.tex
      themis report --config experiment.yaml --format html --output report.html
    """
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    reporter = Reporter(target.store)
    exporters = {
        "markdown": reporter.export_markdown,
        "json": reporter.export_json,
        "csv": reporter.export_csv,
        "latex": reporter.export_latex,
        "html": reporter.export_html,
    }
    document = exporters[report_format](target.run_id)
    if output is None:
        click.echo(document, nl=not document.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    note(f"wrote {report_format} report of run {target.run_id} to {output}")


def _shared_store(runs: list[tuple[RunStore, str]]) -> RunStore:
    """One store holding every run: the runs' own store, or a copy of them in memory."""
    stores = {id(store): store for store, _ in runs}
    if len(stores) == 1:
        return runs[0][0]
    combined = InMemoryRunStore()
    for store, run_id in runs:
        snapshot = store.get_snapshot(run_id)
        assert snapshot is not None  # require_run checked it
        combined.save_snapshot(snapshot)
        combined.append_events(list(store.iter_events(run_id)))
    return combined


def _config_run(config: Path, opened: dict[str, RunStore]) -> tuple[RunStore, str]:
    """A config's stored run; configs naming the same store share one open store."""
    experiment = load_experiment(config, ())
    key = experiment.storage.model_dump_json()
    store, run_id = stored_experiment_run(experiment, config, opened.get(key))
    opened[key] = store
    return store, run_id


@click.command("compare", short_help="Compare stored runs: which is better, by how much.")
@click.argument("run_ids", nargs=-1, metavar="[BASELINE_RUN_ID CANDIDATE_RUN_ID...]")
@click.option(
    "--baseline-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config of the baseline run.",
)
@click.option(
    "--candidate-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config of the candidate run.",
)
@click.option(
    "--path",
    "store_path",
    type=click.Path(path_type=Path),
    help="Store holding both runs, with two run ids.",
)
@click.option("--store", "store_id", metavar="STORE", help="Store kind (default: sqlite).")
@metric_option("Only these metrics (repeatable; default: every metric both runs scored).")
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh", "none"]),
    default="holm",
    show_default=True,
    help="Multiple-comparison correction across metrics.",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.05,
    show_default=True,
    help="Significance level.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json", "markdown", "latex", "html"]),
    default="table",
    show_default=True,
    help="Output format (html: one self-contained page, over two or more runs).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the comparison to this file instead of stdout.",
)
def compare(
    run_ids: tuple[str, ...],
    baseline_config: Path | None,
    candidate_config: Path | None,
    store_path: Path | None,
    store_id: str | None,
    metric_ids: tuple[str, ...],
    correction: str,
    alpha: float,
    output_format: str,
    output: Path | None,
) -> None:
    """Compare two stored runs metric by metric on their shared cases.

    For each metric: both means, the difference with its bootstrap confidence
    interval, the p-value (McNemar for 0/1 metrics, a paired permutation test
    otherwise) adjusted across metrics, and which run is better.

    With --format html, two or more runs (the first is the baseline): the
    paired statistics of each run against the baseline, the cases where the
    runs disagree with their outputs side by side, and a plot of per-case
    differences, in one self-contained page.

    \b
    Examples:
      themis compare --baseline-config a.yaml --candidate-config b.yaml
      themis compare run-1a2b... run-3c4d... --path .themis/runs.sqlite
      themis compare A B C --path .themis/runs.sqlite --format html -o compare.html
    """
    if baseline_config is not None or candidate_config is not None:
        if baseline_config is None or candidate_config is None or run_ids or store_path:
            raise click.UsageError(
                "give both --baseline-config and --candidate-config (and no run ids or --path)"
            )
        opened: dict[str, RunStore] = {}
        runs = [_config_run(baseline_config, opened), _config_run(candidate_config, opened)]
    else:
        several = output_format == "html" and len(run_ids) > 2
        if len(run_ids) != 2 and not several:
            raise click.UsageError(
                "give two run ids (two or more with --format html) and --path STORE, "
                "or --baseline-config and --candidate-config"
            )
        store, where, _ = resolve_store(None, (), store_id, store_path, must_exist=True)
        for run_id in run_ids:
            require_run(store, run_id, where)
        runs = [(store, run_id) for run_id in run_ids]
    store = _shared_store(runs)
    baseline, candidate = runs[0][1], runs[1][1]
    stats = StatsEngine(alpha=alpha, correction=correction)  # type: ignore[arg-type]
    if output is not None and output_format != "html":
        raise click.UsageError("--output works with --format html")
    if output_format == "html":
        if metric_ids:
            raise click.UsageError("--metric works with --format table or json")
        page = Reporter(store, stats=stats).export_comparison_html([run for _, run in runs])
        if output is None:
            click.echo(page, nl=False)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(page, encoding="utf-8")
        note(f"wrote the comparison of {len(runs)} runs to {output}")
        return
    if output_format in ("markdown", "latex"):
        if metric_ids:
            raise click.UsageError("--metric works with --format table or json")
        document = Reporter(store, stats=stats).export_comparison(
            baseline,
            candidate,
            format=output_format,  # type: ignore[arg-type]
        )
        click.echo(document, nl=not document.endswith("\n"))
        return
    comparison = stats.compare(store, baseline, candidate, metric_ids=list(metric_ids) or None)
    if output_format == "json":
        emit_json(comparison.model_dump(mode="json"))
        return
    click.echo(
        f"baseline:  {baseline}\ncandidate: {candidate}\nshared cases: {comparison.shared_cases}"
    )
    level = f"{comparison.confidence:.0%} CI"
    adjusted = {"holm": "p (Holm)", "bh": "p (BH)", "none": "p"}[comparison.correction]
    emit_table(
        None,
        [
            "metric",
            "n",
            "unparsed b/c",
            "baseline",
            "candidate",
            "difference",
            level,
            "test",
            "p",
            adjusted,
            "better",
        ],
        [
            (
                c.metric_id,
                c.n_pairs,
                f"{c.baseline_parse_failures}/{c.candidate_parse_failures}",
                _number(c.baseline_mean),
                _number(c.candidate_mean),
                _number(c.difference, signed=True),
                f"[{_number(c.ci_low, signed=True)}, {_number(c.ci_high, signed=True)}]",
                c.primary_test,
                format_p(c.p_value),
                format_p(
                    {"holm": c.p_value_holm, "bh": c.p_value_bh}.get(
                        comparison.correction, c.p_value
                    )
                ),
                c.better,
            )
            for c in comparison.metrics
        ],
    )
    for c in comparison.metrics:
        click.echo(c.describe())
    if comparison.unmatched_metrics:
        note(f"not compared (scored by one run only): {', '.join(comparison.unmatched_metrics)}")


def _number(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


@click.command("estimate", short_help="Planned work and tokens of a config, running nothing.")
@config_options()
@json_option
def estimate(config: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """What a run of the config would do, without running anything.

    Work items per stage (and how many the store already holds), generator
    and judge calls, and a prompt-token estimate (one token per four characters).
    """
    experiment = load_experiment(config, overrides)
    storage = experiment.storage
    fresh = storage.store == "sqlite" and storage.path and not Path(storage.path).exists()
    # A store that does not exist yet holds nothing: estimate against an empty
    # one rather than creating the file as a side effect.
    store: RunStore = InMemoryRunStore() if fresh else experiment_store(experiment)
    result = experiment.estimate(store=store)
    if as_json:
        payload: dict[str, Any] = result.model_dump(mode="json")
        payload["cache_hits"] = result.cache_hits
        emit_json(payload)
        return
    click.echo(
        f"run_id: {result.run_id}\n"
        f"cases: {result.cases} x {result.candidates_per_case} candidates "
        f"({result.seeds} seed(s))"
    )
    emit_table(
        None,
        ["stage", "planned", "cached", "to run"],
        [(stage, s.planned, s.cached, s.to_run) for stage, s in result.stages.items()],
        right=3,
    )
    click.echo(
        f"generator calls: {result.generator_calls}\n"
        f"judge calls: {result.judge_calls}\n"
        f"prompt tokens: ~{result.prompt_tokens} (1 token per {result.chars_per_token} characters)"
    )

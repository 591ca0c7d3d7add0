"""Read-only commands over stored runs: ``inspect ...`` and ``quickcheck``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from themis.cli.errors import UserError
from themis.cli.options import config_options, json_option, run_target_options, store_options
from themis.cli.output import emit_json, emit_table
from themis.cli.targets import resolve_run, resolve_store
from themis.core.analysis.inspection import (
    get_evaluation_execution,
    get_execution_state,
    quickcheck,
    snapshot_report,
)
from themis.core.analysis.run_overview import list_run_overviews


@click.group(short_help="Look inside a store: runs, snapshots, state, evaluations.")
def inspect() -> None:
    """Look inside a store: its runs, a run's snapshot, state and evaluations.

    \b
    Name the run with --config FILE (that config's store and run), or with
    --path STORE_FILE [--run-id RUN_ID].
    """


@inspect.command("runs")
@config_options(required=False)
@store_options
@json_option
def inspect_runs(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    as_json: bool,
) -> None:
    """List the runs a store holds: when each started, what produced it, how it scored.

    \b
    Columns: start time (UTC), run id, status, generator (and model), datasets,
    cases (failed ones in brackets), metric means, and how many work items
    were reused from results already stored rather than computed.
    """
    store, _, _ = resolve_store(config, overrides, store_id, store_path, must_exist=True)
    overviews = list_run_overviews(store)
    if as_json:
        emit_json([overview.model_dump(mode="json") for overview in overviews])
        return
    emit_table(
        None,
        ["started (UTC)", "run_id", "status", "generator", "datasets", "cases", "means", "reused"],
        [
            (
                _when(o.started_at),
                o.run_id,
                o.status.value
                + (" (submitted)" if o.submitted and o.status.value == "pending" else ""),
                o.generator + (f" · {o.model}" if o.model else ""),
                ", ".join(f"{d} ({n})" for d, n in o.dataset_cases.items()),
                f"{o.cases}" + (f" ({o.failed_cases} failed)" if o.failed_cases else ""),
                o.describe_means() or "-",
                _reused(o.reused, o.work_items),
            )
            for o in overviews
        ],
    )


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _reused(reused: int, total: int) -> str:
    if total == 0:
        return "-"
    if reused == total:
        return f"all {total} reused"
    return f"{reused} of {total}" if reused else "none"


@inspect.command("snapshot")
@run_target_options
@click.option("--full", is_flag=True, help="The whole RunSnapshot, datasets included.")
def inspect_snapshot(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    full: bool,
) -> None:
    """A run's compiled identity and provenance, as JSON."""
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    snapshot = target.store.get_snapshot(target.run_id)
    assert snapshot is not None  # resolve_run checked that the run exists
    emit_json(snapshot.model_dump(mode="json") if full else snapshot_report(snapshot))


@inspect.command("state", short_help="Work per stage and every failure of a run.")
@run_target_options
@json_option
def inspect_state(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """Work items per stage (done, cached, failed, pending) and every failure."""
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    state = get_execution_state(target.store, target.run_id)
    if as_json:
        emit_json(state.model_dump(mode="json"))
        return
    click.echo(
        f"run_id: {state.run_id}\nstatus: {state.status.value}\n"
        f"completed through: {state.completed_through_stage}"
    )
    emit_table(
        "stages",
        ["stage", "done", "cached", "failed", "pending"],
        [
            (stage, counts.done, counts.cached, counts.failed, counts.pending)
            for stage, counts in state.stages.items()
        ],
        right=4,
    )
    if state.failures:
        emit_table(
            "failures",
            ["case", "stage", "category", "error"],
            [
                (
                    failure.case_key,
                    failure.stage,
                    failure.error.category,
                    f"{failure.error.error_type}: {failure.error.message}",
                )
                for failure in state.failures
            ],
        )


@inspect.command("evaluation", short_help="One stored judge-backed evaluation, as JSON.")
@run_target_options
@click.option("--case-id", required=True, help="The case's id.")
@click.option("--metric-id", required=True, help="The judge-backed metric's id (or name).")
@click.option("--dataset-id", help="The case's dataset, when several datasets share the case id.")
def inspect_evaluation(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    case_id: str,
    metric_id: str,
    dataset_id: str | None,
) -> None:
    """One stored judge-backed evaluation (judge prompts, judgments, score) as JSON."""
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    execution = get_evaluation_execution(
        target.store, target.run_id, case_id, metric_id, dataset_id=dataset_id
    )
    if execution is None:
        raise UserError(
            f"run {target.run_id} has no stored evaluation of metric {metric_id!r} for case "
            f"{case_id!r}" + (f" in dataset {dataset_id!r}" if dataset_id else "")
        )
    emit_json(execution.model_dump(mode="json"))


@click.command("quickcheck", short_help="A compact summary of a stored run.")
@run_target_options
@json_option
def quickcheck_command(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    as_json: bool,
) -> None:
    """A compact summary of a stored run: stage counts, failures by category, metric means."""
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    summary: dict[str, Any] = quickcheck(target.store, target.run_id)
    if as_json:
        emit_json(summary)
        return
    click.echo(
        f"run_id: {summary['run_id']}\nstatus: {summary['status']}\n"
        f"completed through: {summary['completed_through_stage']}"
    )
    emit_table(
        "stages",
        ["stage", "done", "cached", "failed", "pending"],
        [
            (stage, c["done"], c["cached"], c["failed"], c["pending"])
            for stage, c in summary["stages"].items()
        ],
        right=4,
    )
    if summary["failures_by_category"]:
        emit_table(
            "failures by category",
            ["category", "count"],
            list(summary["failures_by_category"].items()),
            right=1,
        )
    counts = summary.get("metric_counts") or {}
    emit_table(
        "metric means",
        ["metric", "mean", "n", "unparsed", "errors"],
        [
            (
                metric,
                f"{mean:.4f}",
                *(counts.get(metric, {}).get(key, 0) for key in ("n", "parse_failures", "errors")),
            )
            for metric, mean in summary["metric_means"].items()
        ],
        right=4,
    )

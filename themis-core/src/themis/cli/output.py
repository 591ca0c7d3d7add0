"""How results reach stdout (tables or JSON) and diagnostics reach stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import click

from themis.cli.errors import EXIT_FAILED_CASES
from themis.core.models import RunResult, RunStatus


def emit_json(payload: Any) -> None:
    click.echo(json.dumps(payload, indent=2, ensure_ascii=False, default=str))


def emit_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], *, right: int = 0
) -> None:
    """A table on stdout; the last ``right`` columns are numbers, aligned right."""
    # rich is imported here, not at start-up: most commands print JSON or text.
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for index, column in enumerate(columns):
        numeric = index >= len(columns) - right
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    # Piped output keeps whole rows: rich would otherwise wrap tables at 80 columns.
    Console(highlight=False, width=None if sys.stdout.isatty() else 200).print(table)


def note(message: str) -> None:
    """A diagnostic for the person at the terminal; never part of the result."""
    click.echo(message, err=True)


def result_payload(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "status": result.status.value,
        "completed_through_stage": result.completed_through_stage,
        "metric_means": result.metric_means,
        "metric_counts": {
            metric: counts.model_dump() for metric, counts in result.metric_counts.items()
        },
    }


def print_result(result: RunResult, as_json: bool) -> None:
    """Metric means and the run id (or the JSON payload) on stdout."""
    if as_json:
        emit_json(result_payload(result))
        return
    counts = result.metric_counts
    emit_table(
        "metric means",
        ["metric", "mean", "n", "unparsed", "errors"],
        [
            (
                metric,
                f"{mean:.4f}",
                counts[metric].n if metric in counts else 0,
                counts[metric].parse_failures if metric in counts else 0,
                counts[metric].errors if metric in counts else 0,
            )
            for metric, mean in result.metric_means.items()
        ],
        right=4,
    )
    failed = len(result.failed_cases)
    click.echo(
        f"run_id: {result.run_id}\nstatus: {result.status.value}\n"
        f"cases: {len(result.cases)} ({failed} failed)\n"
        f"completed through: {result.completed_through_stage}"
    )


def exit_for(result: RunResult) -> None:
    """Exit 3 (naming a few failures on stderr) when any case failed."""
    if result.status not in (RunStatus.failed, RunStatus.partial_failure):
        return
    failed = result.failed_cases
    for case in failed[:5]:
        if case.errors:
            reason = case.errors[0]
            note(f"failed {case.case_key} at {reason.stage}: {reason.error_type}: {reason.message}")
    if len(failed) > 5:
        note(f"... and {len(failed) - 5} more failed cases (themis inspect state lists them all)")
    sys.exit(EXIT_FAILED_CASES)

"""How results reach stdout (tables or JSON) and diagnostics reach stderr."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from themis.cli.errors import EXIT_FAILED_CASES
from themis.core.models import RunResult, RunStatus


def emit_json(payload: Any) -> None:
    """Strict JSON on stdout: a NaN or infinity (JSON has neither) prints as null."""
    click.echo(
        json.dumps(finite_json(payload), indent=2, ensure_ascii=False, default=str, allow_nan=False)
    )


def finite_json(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(item) for item in value]
    return value


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


@dataclass(frozen=True)
class ReuseCount:
    """How many of a run's stored work items a command reused rather than computed."""

    reused: int
    total: int
    from_other_runs: int
    by_other_processes: int = 0
    """Work items other processes sharing the run (work leases) computed meanwhile."""

    def describe(self) -> str:
        if self.total == 0:
            return "nothing stored"
        shared = (
            f"; {self.by_other_processes} computed by other processes sharing the run"
            if self.by_other_processes
            else ""
        )
        if self.reused == 0:
            if shared:
                computed = self.total - self.by_other_processes
                return f"computed {computed} of {self.total} work items{shared}"
            return f"computed all {self.total} work items"
        where = f" ({self.from_other_runs} from other runs)" if self.from_other_runs else ""
        if self.reused == self.total:
            return f"all {self.total} work items reused from the store{where}; nothing recomputed"
        return f"{self.reused} of {self.total} work items reused from the store{where}{shared}"


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


def print_result(result: RunResult, as_json: bool, *, reused: ReuseCount | None = None) -> None:
    """Metric means and the run id (or the JSON payload) on stdout; with
    ``reused``, how much of the run came from results already stored."""
    if as_json:
        payload = result_payload(result)
        if reused is not None:
            payload["reused_work_items"] = reused.reused
            payload["work_items"] = reused.total
        emit_json(payload)
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
    click.echo(
        f"run_id: {result.run_id}\nstatus: {result.status.value}\n"
        f"cases: {len(result.cases)} ({result.failed_count} failed)\n"
        f"completed through: {result.completed_through_stage}"
    )
    if reused is not None:
        click.echo(f"reused: {reused.describe()}")


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

"""``themis show``: what the model said for one case, or which cases failed and why."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from themis.cli.errors import UserError
from themis.cli.options import json_option, run_target_options
from themis.cli.output import emit_json, emit_table
from themis.cli.targets import resolve_run
from themis.core.analysis.case_details import (
    CaseDetail,
    UnknownCaseError,
    iter_case_details,
    load_case_details,
    resolve_case_key,
)
from themis.core.analysis.inspection import get_run_snapshot
from themis.core.observability.redaction import redact_secrets

if TYPE_CHECKING:
    from rich.console import Console, RenderableType


@click.command("show", short_help="One case in full: prompt, candidates, scores, judges, errors.")
@run_target_options
@click.option(
    "--case",
    "case_key",
    metavar="KEY",
    help="The case: its key (dataset::case_id) or a case id unique in the run.",
)
@click.option("--failed", is_flag=True, help="List the failed cases with their errors.")
@json_option
def show(
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    case_key: str | None,
    failed: bool,
    as_json: bool,
) -> None:
    """Show one case of a stored run in full, or list the failed cases.

    For a case: its input and rendered prompt, each candidate (with trace and
    conversation), the reduced candidate, the parsed value, every score with
    its details, each judge's prompt and verdict, and every error with the
    failed attempts before it.

    \b
    Examples:
      themis show --path .themis/runs.sqlite --case arith::add
      themis show --config experiment.yaml --failed
      themis show --config experiment.yaml --case add --json
    """
    if (case_key is None) == (not failed):
        raise click.UsageError("give --case KEY to show one case, or --failed to list failures")
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    if failed:
        _show_failed(target.store, target.run_id, as_json)
        return
    assert case_key is not None
    snapshot = get_run_snapshot(target.store, target.run_id)
    try:
        key = resolve_case_key(snapshot, case_key)
    except UnknownCaseError as exc:
        raise UserError(str(exc)) from None
    (stored,) = load_case_details(target.store, target.run_id, [key])
    # A second line of defence, as in reports: nothing secret-looking reaches the terminal.
    detail = CaseDetail.model_validate(redact_secrets(stored.model_dump(mode="json")))
    if as_json:
        emit_json(detail.model_dump(mode="json"))
        return
    _console().print(*render_case(detail))


def _show_failed(store: Any, run_id: str, as_json: bool) -> None:
    failed = [d for d in iter_case_details(store, run_id) if d.errors]
    if as_json:
        emit_json(
            [
                {
                    "case_key": d.case_key,
                    "status": d.status.value,
                    "output": redact_secrets(d.output),
                    "errors": [redact_secrets(e.model_dump(mode="json")) for e in d.errors],
                }
                for d in failed
            ]
        )
        return
    if not failed:
        click.echo(f"run {run_id}: no failed case")
        return
    emit_table(
        f"{len(failed)} failed case(s) of run {run_id}",
        ["case", "stage", "component", "category", "error", "attempts"],
        [
            (
                d.case_key,
                e.stage,
                e.error.component_id,
                e.error.category,
                f"{e.error.error_type}: {_clip(e.error.message, 200)}",
                _attempts(e.error.attempts, len(e.earlier_failures)),
            )
            for d in failed
            for e in d.errors
        ],
    )
    click.echo("themis show --case KEY shows one of them in full")


def _attempts(in_process: int, earlier_runs: int) -> str:
    text = str(in_process)
    if earlier_runs:
        text += f" (+{earlier_runs} earlier failure{'s' * (earlier_runs > 1)})"
    return text


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 120)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(value: Any) -> str:
    """A value as a person reads it: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_case(detail: CaseDetail) -> list[RenderableType]:
    """Rich renderables for one case, in pipeline order."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.rule import Rule
    from rich.table import Table
    from rich.text import Text

    def section(title: str) -> Rule:
        return Rule(Text(title, style="bold"), align="left")

    def block(value: Any, title: str | None = None) -> Panel:
        return Panel(Text(_text(value)), title=escape(title) if title else None, expand=False)

    out: list[RenderableType] = []
    cached = f", cached: {', '.join(detail.cached_stages)}" if detail.cached_stages else ""
    out.append(
        Text.assemble(
            ("case ", "bold"),
            (detail.case_key, "bold cyan"),
            f"  run {detail.run_id}  status ",
            (detail.status.value, "red" if detail.errors else "green"),
            f"  through {detail.completed_through_stage or 'nothing'}{cached}",
        )
    )
    out += [section("input"), block(detail.input)]
    if detail.expected_output is not None:
        out += [section("expected output"), block(detail.expected_output)]
    if detail.metadata:
        out += [section("metadata"), block(detail.metadata)]
    out.append(section("prompt (rendered from the prompt spec)"))
    out += [block(m.content, m.role) for m in detail.prompt]
    for candidate in detail.candidates:
        c = candidate.candidate
        facts = [f"seed {candidate.seed}", f"sample {candidate.sample_index}"]
        if c.token_usage:
            facts.append("tokens " + ", ".join(f"{k} {v}" for k, v in c.token_usage.items()))
        if c.latency_ms is not None:
            facts.append(f"{c.latency_ms:.0f} ms")
        if candidate.cached_from:
            facts.append(f"reused from {candidate.cached_from}")
        out.append(section(f"candidate {c.candidate_id} ({'; '.join(facts)})"))
        out.append(block(c.final_output, "output"))
        if c.conversation:
            out += [block(m.content, f"conversation · {m.role}") for m in c.conversation]
        if c.trace:
            steps = Table("#", "step", "type", "input", "output", box=None, show_edge=False)
            for number, step in enumerate(c.trace, start=1):
                steps.add_row(
                    str(number),
                    step.step_name,
                    step.step_type,
                    _clip(_text(step.input), 80),
                    _clip(_text(step.output), 80),
                )
            out += [Text("trace", style="italic"), steps]
        if c.artifacts:
            out.append(block(c.artifacts, "artifacts"))
    if detail.reduced is not None:
        sources = ", ".join(detail.reduced.source_candidate_ids)
        out += [
            section(f"reduced candidate {detail.reduced.candidate_id} (from {sources})"),
            block(detail.reduced.final_output),
        ]
    for parsed in detail.parsed:
        out += [section(f"parsed value ({parsed.format})"), block(parsed.value)]
    scored = {score.metric_id for score in detail.scores}
    not_scored = [m for m in detail.unparsed_metrics if m not in scored]
    if detail.scores or detail.score_errors or not_scored:
        out.append(section("scores"))
        scores = Table("metric", "value", "details", show_edge=False)
        for score in detail.scores:
            value = f"{score.value:g}"
            if score.metric_id in detail.unparsed_metrics:
                value += " (unparsed)"
            scores.add_row(score.metric_id, value, _text(score.details or ""))
        for metric in not_scored:
            scores.add_row(
                metric,
                Text("0 (unparsed)", style="yellow"),
                "the answer did not parse; it counts 0 in this metric's mean",
            )
        for error in detail.score_errors:
            scores.add_row(error.metric_id, Text("error", style="red"), error.reason)
        out.append(scores)
    for evaluation in detail.evaluations:
        outcome = (
            f"score {evaluation.score.value:g}"
            if evaluation.score is not None
            else f"error: {evaluation.score_error.reason if evaluation.score_error else '?'}"
        )
        out.append(section(f"judges of {evaluation.metric_id} ({outcome})"))
        for call in evaluation.calls:
            title = f"{call.judge_model_id or 'judge'} · {call.call_id}"
            if call.attempts > 1:
                title += f" · {call.attempts} attempts"
            out.append(Text(title, style="bold"))
            if isinstance(call.prompt, list):
                out += [
                    block(m.get("content") if isinstance(m, dict) else m, f"prompt · "
                          f"{m.get('role', '') if isinstance(m, dict) else ''}")
                    for m in call.prompt
                ]  # fmt: skip
            else:
                out.append(block(call.prompt, "prompt"))
            if call.response_text is not None:
                out.append(block(call.response_text, "verdict (judge's answer)"))
            if call.judgment is not None:
                out.append(block(call.judgment, "parsed judgment"))
            if call.error:
                out.append(Text(f"error: {call.error}", style="red"))
    if detail.errors:
        out.append(section("errors"))
        for failure in detail.errors:
            e = failure.error
            out.append(
                Text.assemble(
                    (f"{failure.stage}", "bold red"),
                    f" {e.component_id or ''} [{e.category}] {e.error_type}: {e.message}",
                    f"  ({_when(failure.at)}; {e.attempts} attempt{'s' * (e.attempts > 1)}"
                    f"{', retryable' if e.retryable else ''})",
                )
            )
            for number, earlier in enumerate(e.earlier_errors, start=1):
                out.append(Text(f"    attempt {number}: {earlier}"))
            for attempt in failure.earlier_failures:
                out.append(
                    Text(
                        f"    earlier failure {_when(attempt.at)} in run {attempt.run_id}: "
                        f"{attempt.error.error_type}: {attempt.error.message}"
                    )
                )
    if detail.recovered_failures:
        out.append(
            Text(f"{detail.recovered_failures} earlier failure(s) of this case later succeeded")
        )
    return out

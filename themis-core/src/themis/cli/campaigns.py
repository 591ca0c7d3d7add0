"""``themis campaign run|status|report``: a project's models x grid points x benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from themis.cli.errors import EXIT_FAILED_CASES, UserError
from themis.cli.options import SET_HELP, json_option, progress_option
from themis.cli.output import emit_json, emit_table, note

if TYPE_CHECKING:
    from themis.campaign import Campaign

PROJECT_FILE = click.argument(
    "project_file", type=click.Path(path_type=Path, dir_okay=False), metavar="PROJECT_FILE"
)
SET = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)


def _campaign(
    project_file: Path,
    overrides: tuple[str, ...],
    progress: str | None = None,
    *,
    reading: str | None = None,
) -> Campaign:
    """The campaign of a file. ``reading`` names a read-only command: it never
    creates a SQLite store, and a missing one holds nothing yet."""
    from themis.campaign import Campaign, load_campaign_spec
    from themis.core.storage.stores.memory import InMemoryRunStore
    from themis.specs import SqliteBlobStorageSpec

    if not project_file.is_file():
        raise UserError(f"{project_file}: campaign file not found")
    spec = load_campaign_spec(project_file, list(overrides))
    runtime = spec.project.execution_policy.runtime_config()
    if progress is not None:
        runtime = runtime.model_copy(update={"progress": progress})
    storage = spec.project.storage
    if (
        reading is not None
        and isinstance(storage, SqliteBlobStorageSpec)
        and not Path(storage.database_path).is_file()
    ):
        if reading == "report":
            raise UserError(
                f"{project_file}: nothing to report: no store at {storage.database_path} yet; "
                f"run `themis campaign run {project_file}` first"
            )
        return Campaign(
            spec, runtime=runtime, store=InMemoryRunStore(), base_dir=project_file.parent
        )
    return Campaign(spec, runtime=runtime, base_dir=project_file.parent)


@click.group("campaign", short_help="Run and report a campaign: models x grids x benchmarks.")
def campaign() -> None:
    """A campaign file (YAML or TOML) holds a project (storage, seed, execution
    policy), models (each with inference params or a grid) and benchmarks
    (catalog names or datasets with their own scoring). Each (model, grid
    point, benchmark) is an ordinary run with its own run id, stored in the
    project's store.

    \b
    Example:
      themis campaign run project.yaml
      themis campaign status project.yaml
      themis campaign report project.yaml --format latex -o leaderboard.tex
    """


@campaign.command("run", short_help="Run every point not yet finished.")
@PROJECT_FILE
@SET
@click.option("--model", "models", multiple=True, help="Only this model or point (repeatable).")
@click.option("--benchmark", "benchmarks", multiple=True, help="Only this benchmark (repeatable).")
@progress_option
@json_option
def run_command(
    project_file: Path,
    overrides: tuple[str, ...],
    models: tuple[str, ...],
    benchmarks: tuple[str, ...],
    progress: str | None,
    as_json: bool,
) -> None:
    """Run the campaign point by point. Points already completed in the store
    are skipped; unfinished ones continue, reusing every stored generation.
    Exits 3 when a point did not complete."""
    from themis.campaign import PointOutcome

    with _campaign(project_file, overrides, progress) as campaign:
        points = campaign.select(models=list(models) or None, benchmarks=list(benchmarks) or None)

        def report(outcome: PointOutcome) -> None:
            state = "skipped (completed earlier)" if outcome.skipped else outcome.status.value
            note(f"{outcome.point_id} on {outcome.benchmark}: {state} ({outcome.run_id})")
            if outcome.error:
                note(f"  error: {outcome.error}")

        result = campaign.run(points=points, on_point=report)
    if as_json:
        emit_json(result.model_dump(mode="json"))
    else:
        emit_table(
            f"campaign {result.project_name}",
            ["model", "benchmark", "status", "run_id", "metric means"],
            [
                (
                    o.point_id,
                    o.benchmark,
                    "skipped" if o.skipped else o.status.value,
                    o.run_id,
                    ", ".join(f"{k}={v:.4f}" for k, v in o.metric_means.items()),
                )
                for o in result.points
            ],
        )
        click.echo(f"ran: {len(result.ran)}, skipped: {len(result.skipped)}")
    if result.failed:
        note(f"{len(result.failed)} point(s) did not complete; rerun to retry them")
        sys.exit(EXIT_FAILED_CASES)


@campaign.command("status", short_help="Every point, its run id and what the store holds.")
@PROJECT_FILE
@SET
@json_option
def status_command(project_file: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """List the campaign's points in run order with their run ids and stored status."""
    with _campaign(project_file, overrides, reading="status") as campaign:
        rows = []
        for point in campaign.points:
            stored = campaign.store.resume(point.run_id)
            rows.append(
                {
                    "model": point.point_id,
                    "benchmark": point.benchmark,
                    "run_id": point.run_id,
                    "status": stored.status.value if stored else "not run",
                }
            )
    if as_json:
        emit_json(rows)
        return
    emit_table(None, ["model", "benchmark", "run_id", "status"], [list(r.values()) for r in rows])


@campaign.command("report", short_help="Leaderboard and comparisons as Markdown, CSV or LaTeX.")
@PROJECT_FILE
@SET
@click.option(
    "--format",
    "report_format",
    type=click.Choice(["markdown", "csv", "latex", "json"]),
    default="markdown",
    show_default=True,
)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write here.")
@click.option("--baseline", help="Model or point to compare against (default: the file's).")
@click.option("--correction", type=click.Choice(["holm", "bh", "none"]), default=None)
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None)
@click.option(
    "--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None
)
def report_command(
    project_file: Path,
    overrides: tuple[str, ...],
    report_format: str,
    output: Path | None,
    baseline: str | None,
    correction: str | None,
    alpha: float | None,
    confidence: float | None,
) -> None:
    """The leaderboard (models by benchmarks: means with confidence intervals)
    and paired comparisons of every point against the baseline, with p-values
    adjusted across all comparisons (Holm by default)."""
    from themis.campaign import campaign_report

    with _campaign(project_file, overrides, reading="report") as campaign:
        document = campaign_report(
            campaign,
            baseline=baseline,
            correction=correction,  # type: ignore[arg-type]
            alpha=alpha,
            confidence=confidence,
        ).export(report_format)  # type: ignore[arg-type]
    if output is None:
        click.echo(document, nl=not document.endswith("\n"))
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(document, encoding="utf-8")
    note(f"wrote {report_format} campaign report to {output}")

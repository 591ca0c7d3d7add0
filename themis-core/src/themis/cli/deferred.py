"""Deferred execution from a shell: ``themis submit`` and ``themis worker``.

``submit`` stores a run for workers and prints its run id at once;
``worker`` runs submitted runs from a store. A cluster scheduler (a Slurm
array, a Kubernetes Job) starts as many workers as it likes; they share a
run through the store's work leases (docs/scaleout.md).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from themis.cli.errors import EXIT_USER_ERROR
from themis.cli.options import config_options, json_option
from themis.cli.output import emit_json, emit_table, note
from themis.cli.targets import load_experiment
from themis.core.deferred import worker as worker_module
from themis.core.deferred.locations import describe_location
from themis.core.deferred.submit import submit_experiment
from themis.core.deferred.worker import run_worker

STORE_HELP = (
    "Where runs are stored: a SQLite file (runs.sqlite) or a PostgreSQL URL "
    "(postgresql://user@host/db)."
)


@click.command(short_help="Store a run for workers; print its run id.")
@config_options()
@click.option(
    "--store",
    "store",
    metavar="URL",
    help=STORE_HELP + " Default: the store the config names.",
)
def submit(config: Path, overrides: tuple[str, ...], store: str | None) -> None:
    """Compile an experiment and store it for workers; print its run id at once.

    Nothing runs and no model is called: start workers with `themis worker`
    (a Slurm array, a Kubernetes Job, or a shell loop). Workers rebuild the
    experiment from what this stores: the config with its --set overrides,
    and python: components from the config's folder. Secrets are never
    stored; each worker reads them from its own environment.

    \b
    Example:
      RUN_ID=$(themis submit --config experiment.yaml --store postgresql://db/evals)
      themis worker --store postgresql://db/evals --run-id "$RUN_ID"
    """
    experiment = load_experiment(config, overrides)
    run_id = submit_experiment(experiment, store=store)
    click.echo(run_id)
    url = experiment.storage.parameters.get("url")
    where = store or (url if isinstance(url, str) else experiment.storage.path) or "STORE"
    command = f"themis worker --store {describe_location(where)} --run-id {run_id}"
    note(f"submitted {run_id}; run it with: {command}")


@click.command(short_help="Run submitted runs from a store.")
@click.option("--store", "store", required=True, metavar="URL", help=STORE_HELP)
@click.option(
    "--run-id",
    metavar="RUN_ID",
    help="Work on this run until it is done (default: take pending submitted runs in turn).",
)
@click.option(
    "--max-idle",
    "max_idle",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Wait this long for new submissions before exiting (default: exit as soon "
    "as none is pending); with --run-id, how long to wait for that run to be submitted.",
)
@json_option
def worker(store: str, run_id: str | None, max_idle: float | None, as_json: bool) -> None:
    """Run submitted runs from a store until nothing is left to do.

    With --run-id, work on that run until it is done; several workers on one
    run share its cases. Without it, take pending submitted runs one after
    another and exit once none has been pending for --max-idle seconds.
    API keys come from this process's environment.

    \b
    Exit codes: 0 done, failed cases included (they are stored: `themis
    report` shows them; a cluster job must not retry a finished run); 2 a
    run could not be rebuilt or run here, a bad store, an unknown run id, or
    a run never submitted.

    \b
    Example:
      themis worker --store postgresql://db/evals --run-id run-1a2b... --max-idle 60
    """
    _log_runs_to_stderr()
    report = run_worker(store, run_id=run_id, max_idle_s=max_idle)
    if as_json:
        emit_json(report.model_dump(mode="json"))
    else:
        emit_table(
            None,
            ["run_id", "outcome", "status", "cases", "seconds"],
            [
                (
                    run.run_id,
                    run.outcome,
                    run.status.value if run.status else None,
                    run.cases,
                    run.seconds,
                )
                for run in report.runs
            ],
            right=2,
        )
        if not report.runs:
            note("no submitted run was pending")
    errors = [run for run in report.runs if run.error]
    for run in errors:
        note(f"error: run {run.run_id}: {run.error}")
    if errors:
        sys.exit(EXIT_USER_ERROR)


def _log_runs_to_stderr() -> None:
    """The worker's one line per run on stderr, for a cluster job's log."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger(worker_module.__name__)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

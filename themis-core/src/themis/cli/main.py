"""``themis``: run and inspect experiments from a shell.

stdout carries results; stderr carries progress and diagnostics. Exit codes:
0 success, 1 internal error, 2 user error (bad config, unknown component,
missing run; a one-line reason, no traceback unless ``--debug``), 3 the run
finished but some cases failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from themis.core.config_files import ConfigError
from themis.core.models import STAGES, RunResult, RunStatus
from themis.core.registry import ComponentLoadError, InvalidComponentError, UnknownComponentError
from themis.core.stores.base import UnknownRunError

USER_ERRORS = (
    ConfigError,
    UnknownComponentError,
    ComponentLoadError,
    InvalidComponentError,
    UnknownRunError,
    ValueError,
    FileNotFoundError,
)

EXIT_USER_ERROR = 2
EXIT_FAILED_CASES = 3

_state: dict[str, bool] = {"debug": False}
out = Console()


@click.group(
    name="themis",
    help="Evaluate LLMs and LLM systems: reproducible, durable, inspectable runs.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
def cli(debug: bool) -> None:
    _state["debug"] = debug


def config_options(command: Any) -> Any:
    """``--config FILE`` and repeatable ``--set dotted.key=value``, as Experiment.from_config."""
    command = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value, e.g. generation.candidate_policy.num_samples=3.",
    )(command)
    return click.option(
        "--config",
        "-c",
        "config",
        required=True,
        type=click.Path(path_type=Path),
        help="Experiment config file (YAML or TOML).",
    )(command)


def load_experiment(config: Path, overrides: tuple[str, ...]) -> Any:
    from themis.core.experiment import Experiment

    return Experiment.from_config(config, overrides=list(overrides))


def print_result(result: RunResult, as_json: bool) -> None:
    if as_json:
        payload = {
            "run_id": result.run_id,
            "status": result.status.value,
            "completed_through_stage": result.completed_through_stage,
            "metric_means": result.metric_means,
        }
        click.echo(json.dumps(payload, indent=2))
        return
    table = Table(title="metric means")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("n", justify="right")
    for metric, mean in result.metric_means.items():
        count = sum(1 for case in result.cases for s in case.scores if s.metric_id == metric)
        table.add_row(metric, f"{mean:.4f}", str(count))
    out.print(table)
    failed = len(result.failed_cases)
    click.echo(
        f"run_id: {result.run_id}\nstatus: {result.status.value}\n"
        f"cases: {len(result.cases)} ({failed} failed)\n"
        f"completed through: {result.completed_through_stage}"
    )


def exit_for(result: RunResult) -> None:
    """Exit 3 (listing a few failures on stderr) when any case failed."""
    if result.status in (RunStatus.failed, RunStatus.partial_failure):
        for case in result.failed_cases[:5]:
            if case.errors:
                reason = case.errors[0]
                click.echo(
                    f"failed {case.case_key} at {reason.stage}: "
                    f"{reason.error_type}: {reason.message}",
                    err=True,
                )
        sys.exit(EXIT_FAILED_CASES)


@cli.command()
@config_options
@click.option(
    "--until-stage",
    type=click.Choice(STAGES),
    default="judge",
    show_default=True,
    help="Stop after this stage.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run(config: Path, overrides: tuple[str, ...], until_stage: str, as_json: bool) -> None:
    """Compile and run an experiment; prints metric means and the run id."""
    experiment = load_experiment(config, overrides)
    result = experiment.run(until_stage=until_stage)
    print_result(result, as_json)
    exit_for(result)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: maps user errors to exit code 2 and one line."""
    try:
        cli.main(args=argv, prog_name="themis", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
    except USER_ERRORS as exc:
        if _state["debug"]:
            raise
        message = "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
        click.echo(f"error: {message}", err=True)
        sys.exit(EXIT_USER_ERROR)


if __name__ == "__main__":  # pragma: no cover
    main()

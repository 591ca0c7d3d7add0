"""Options shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from themis.core.models import STAGES

F = TypeVar("F", bound=Callable[..., Any])

SET_HELP = (
    "Override one config value (repeatable), as Experiment.from_config(overrides=...): "
    "--set generation.candidate_policy.num_samples=3"
)


def config_options(*, required: bool = True) -> Callable[[F], F]:
    """``--config FILE`` and repeatable ``--set dotted.key=value``."""

    def decorate(command: F) -> F:
        command = click.option(
            "--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP
        )(command)
        return click.option(
            "--config",
            "-c",
            "config",
            required=required,
            type=click.Path(path_type=Path, dir_okay=False),
            help="Experiment config file (YAML or TOML).",
        )(command)

    return decorate


def store_options(command: F) -> F:
    """``--path`` and ``--store``: a store named directly rather than through a config."""
    command = click.option(
        "--store",
        "store_id",
        metavar="STORE",
        help="Store kind from the themis.stores group (default: sqlite when --path is given).",
    )(command)
    return click.option(
        "--path",
        "store_path",
        callback=store_location,
        help=(
            "Store location, e.g. .themis/runs.sqlite, or a PostgreSQL URL "
            "(postgresql://user@host/db); instead of --config."
        ),
    )(command)


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""A ``--path`` starting with one of these is a PostgreSQL store's URL, not a file."""


def store_location(
    context: click.Context, parameter: click.Parameter, value: str | None
) -> Path | str | None:
    """A file path, or a PostgreSQL URL kept as written (a Path would fold its ``//``)."""
    if value is None or value.startswith(POSTGRES_SCHEMES):
        return value
    return Path(value)


def run_target_options(command: F) -> F:
    """Which stored run a read command looks at: from a config, or a store and a run id."""
    command = click.option(
        "--run-id",
        metavar="RUN_ID",
        help="The run to read (default: the config's run, or the only run in the store).",
    )(command)
    return config_options(required=False)(store_options(command))


def json_option(command: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        command
    )


def until_stage_option(command: F) -> F:
    return click.option(
        "--until-stage",
        type=click.Choice(STAGES),
        default="judge",
        show_default=True,
        help="Stop after this stage.",
    )(command)


def progress_option(command: F) -> F:
    return click.option(
        "--progress",
        type=click.Choice(["auto", "on", "off"]),
        default=None,
        help="Live progress on stderr (default: the config's runtime.progress; "
        "auto = only when stderr is a terminal).",
    )(command)


def existing_run_policy_option(command: F) -> F:
    return click.option(
        "--existing-run-policy",
        type=click.Choice(["auto", "error", "rerun"]),
        default=None,
        help="When the store already holds this run (default: the config's "
        "runtime.existing_run_policy, auto): auto reuses what it stored, error "
        "refuses (exit 2), rerun recomputes every stage.",
    )(command)


def executor_options(command: F) -> F:
    """``--executor``, ``--workers`` and ``--ray-address``: where the cases run."""
    command = click.option(
        "--ray-address",
        metavar="ADDRESS",
        default=None,
        help="With --executor ray: 'auto' (the cluster this machine belongs to), host:port "
        "or ray://host:port (default: the config's runtime.ray_address; unset starts a "
        "local Ray on 127.0.0.1).",
    )(command)
    command = click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="With --executor ray: how many Ray actors share the run (default: the "
        "config's runtime.workers, 1).",
    )(command)
    return click.option(
        "--executor",
        type=click.Choice(["local", "ray"]),
        default=None,
        help="local runs the cases in this process; ray in Ray actors that share the run "
        "through the store (default: the config's runtime.executor, local).",
    )(command)


def metric_option(help_text: str) -> Callable[[F], F]:
    return click.option(
        "--metric", "metric_ids", multiple=True, metavar="METRIC_ID", help=help_text
    )

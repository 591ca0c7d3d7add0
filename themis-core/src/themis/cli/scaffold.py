"""``themis init``: a starter project that ``themis run`` runs as is."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import click

from themis.cli.errors import UserError
from themis.cli.output import note

STARTER_FILES = ("experiment.yaml", "data.jsonl", "metrics.py")
"""What a starter project holds: a config, a tiny dataset, and a custom metric
that the config names as ``python:metrics:CloseEnough``."""


@click.command("init", short_help="Create a starter project that `themis run` runs as is.")
@click.argument(
    "directory", type=click.Path(path_type=Path, file_okay=False), default=".", required=False
)
@click.option("--force", is_flag=True, help="Overwrite starter files that already exist.")
def init_command(directory: Path, force: bool) -> None:
    """Create a starter project in DIRECTORY (default: the current directory).

    \b
    It writes:
      experiment.yaml   the experiment: generator, parser, metrics, dataset, store
      data.jsonl        a tiny dataset
      metrics.py        a metric of your own, named in the config as python:metrics:CloseEnough
    """
    existing = [name for name in STARTER_FILES if (directory / name).exists()]
    if existing and not force:
        raise UserError(
            f"{directory}: {', '.join(existing)} already exist; pick an empty directory "
            "or pass --force to overwrite them"
        )
    starter = resources.files("themis.cli") / "starter"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for name in STARTER_FILES:
            (directory / name).write_text(
                (starter / name).read_text(encoding="utf-8"), encoding="utf-8"
            )
            click.echo(str(directory / name))
    except OSError as exc:  # a directory that cannot be made or written is the user's to fix
        raise UserError(
            f"{directory}: cannot write the starter files: {exc.strerror or exc}"
        ) from exc
    config = directory / "experiment.yaml"
    note(f"next: themis run --config {config}\n      then: themis report --config {config}")

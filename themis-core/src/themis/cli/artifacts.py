"""``themis export`` and ``themis import``: a run's stage results as portable bundle files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from themis.cli.errors import UserError
from themis.cli.options import run_target_options, store_location
from themis.cli.output import note
from themis.cli.targets import resolve_run, resolve_store
from themis.core.analysis import bundles


@click.command("export", short_help="Write one stage's stored results of a run to a bundle.")
@click.argument("stage", type=click.Choice(list(bundles.BUNDLE_TYPES)))
@run_target_options
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    help="Bundle file to write (JSON); `-` writes it to stdout.",
)
def export_command(
    stage: str,
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | None,
    store_id: str | None,
    run_id: str | None,
    output: Path,
) -> None:
    """Write one stage's stored results of a run to a bundle file.

    STAGE is generation, reduction, parse, score or evaluation. The bundle
    carries the run's snapshot and is checksummed; `themis import` loads it
    into another store, where replay, report and compare use it like local
    results.

    \b
    Example:
      themis export generation --config experiment.yaml --output generation.json
    """
    target = resolve_run(config, overrides, store_id, store_path, run_id)
    bundle = bundles.export_bundle(target.store, target.run_id, stage)
    if str(output) == "-":
        click.echo(bundle.to_json())
    else:
        bundle.write(output)
    note(
        f"exported {stage} bundle of run {target.run_id}: {len(bundle.records)} records "
        f"-> {'stdout' if str(output) == '-' else output}"
    )


@click.command("import", short_help="Load bundle files into a store.")
@click.argument(
    "bundle_files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)
@click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Import into this config's store; the bundles must be of the config's run.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Config override.")
@click.option(
    "--path",
    "store_path",
    callback=store_location,
    help="Import into this store file (created if missing), or a PostgreSQL URL.",
)
@click.option("--store", "store_id", metavar="STORE", help="Store kind (default: sqlite).")
def import_command(
    bundle_files: tuple[Path, ...],
    config: Path | None,
    overrides: tuple[str, ...],
    store_path: Path | str | None,
    store_id: str | None,
) -> None:
    """Load bundle files (of any stage) into a store; importing twice changes nothing.

    Every file is read and checked (format, schema version, checksum, that its
    records belong to its run) before anything is written.

    \b
    Example:
      themis import generation.json parse.json --path .themis/runs.sqlite
    """
    loaded = [bundles.read_bundle(path) for path in bundle_files]
    store, where, experiment = resolve_store(
        config, overrides, store_id, store_path, must_exist=False
    )
    expected: dict[str, Any] = {}
    if experiment is not None:
        expected["run_id"] = experiment.compile().run_id
        for path, bundle in zip(bundle_files, loaded, strict=True):
            if bundle.run_id != expected["run_id"]:
                raise UserError(
                    f"{path}: the bundle is from another run ({bundle.run_id}), not the run of "
                    f"{config} ({expected['run_id']}); nothing was imported"
                )
    for bundle in loaded:
        bundles.import_bundle(store, bundle, **expected)
        click.echo(
            f"imported {bundle.kind} bundle of run {bundle.run_id}: "
            f"{len(bundle.records)} records into the {where}"
        )

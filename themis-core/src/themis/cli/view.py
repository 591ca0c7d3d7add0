"""``themis view``: browse a store's runs, reports and comparisons in a local web page."""

from __future__ import annotations

from pathlib import Path

import click

from themis.cli.errors import UserError
from themis.cli.options import config_options
from themis.cli.output import note
from themis.cli.targets import resolve_store

DEFAULT_STORE_DIRECTORY = Path(".themis")


def _default_store() -> Path:
    """The one SQLite store under ./.themis, where starter projects keep their runs."""
    found = sorted(DEFAULT_STORE_DIRECTORY.glob("*.sqlite"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise UserError(
            "no store given and none in ./.themis; name one: themis view --store runs.sqlite"
        )
    listing = ", ".join(str(path) for path in found)
    raise UserError(f"several stores in ./.themis ({listing}); pick one with --store PATH")


@click.command("view", short_help="Browse runs, reports and comparisons in a local web page.")
@config_options(required=False)
@click.option(
    "--store",
    "--path",
    "store_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="SQLite store to show (default: the one store in ./.themis).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
def view(
    config: Path | None, overrides: tuple[str, ...], store_path: Path | None, port: int
) -> None:
    """Serve a store's runs on 127.0.0.1: a run list, each run's HTML report,
    and comparisons of selected runs. Pages reload by themselves while a run
    is still storing results. Stop it with Ctrl+C.

    \b
    Examples:
      themis view --store .themis/runs.sqlite
      themis view --config experiment.yaml --port 8765
    """
    from themis.core.analysis.viewer import RunViewer, ViewerServer

    if config is None and store_path is None:
        store_path = _default_store()
    store, where, _ = resolve_store(config, overrides, None, store_path, must_exist=True)
    try:
        server = ViewerServer(RunViewer(store), port=port)
    except OSError as exc:
        raise UserError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc})") from exc
    click.echo(f"Themis viewer of the {where}: {server.url}", nl=True)
    note("press Ctrl+C to stop")
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        note("stopped")
    finally:
        server.server_close()

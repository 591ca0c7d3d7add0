"""``themis``: every Python workflow from a shell.

stdout carries results (tables, JSON, reports); stderr carries progress and
diagnostics. Exit codes (see :mod:`themis.cli.errors`): 0 success, 1 internal
error, 2 user error with a one-line reason (no traceback unless ``--debug``),
3 the run finished but some cases failed, 4 the store stayed locked by another
process longer than ``runtime.store_lock_timeout_s``.
"""

from __future__ import annotations

import sys

import click

from themis.cli import (
    artifacts,
    campaigns,
    components,
    deferred,
    inspection,
    quick_eval,
    reports,
    runs,
    scaffold,
    show,
    view,
)
from themis.cli.errors import EXIT_INTERRUPTED, USER_ERRORS, exit_code_for, one_line
from themis.core import distributions

_debug = {"enabled": False}


class CommandsInOrder(click.Group):
    """Lists commands in the order they are added: the order a user needs them."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


@click.group(
    cls=CommandsInOrder,
    name="themis",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--debug", is_flag=True, envvar="THEMIS_DEBUG", help="Show the traceback of any error."
)
@click.version_option(package_name=distributions.CORE, prog_name="themis")
def cli(debug: bool) -> None:
    """Evaluate LLMs and LLM systems: reproducible, durable, inspectable runs.

    \b
    Start here:
      themis init my-eval                                  a starter project
      themis run --config my-eval/experiment.yaml          run it
      themis report --config my-eval/experiment.yaml       report it
      themis view --config my-eval/experiment.yaml         browse what the model said
      themis quick-eval file data.jsonl --model ID         score a data file

    Results go to stdout, progress and diagnostics to stderr. Exit codes: 0 ok,
    1 internal error, 2 user error (one line; --debug shows the traceback),
    3 some cases failed, 4 the store stayed locked by another process.
    """
    _debug["enabled"] = debug


for _command in (
    runs.run,
    runs.resume,
    runs.replay,
    runs.rejudge,
    deferred.submit,
    deferred.worker,
    reports.estimate,
    reports.report,
    inspection.quickcheck_command,
    show.show,
    inspection.inspect,
    reports.compare,
    view.view,
    artifacts.export_command,
    artifacts.import_command,
    scaffold.init_command,
    quick_eval.quick_eval,
    components.components_command,
    campaigns.campaign,
):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: the error tree becomes exit codes (``cli.errors``)."""
    try:
        cli.main(args=argv, prog_name="themis", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except USER_ERRORS as exc:
        if _debug["enabled"]:
            raise
        click.echo(f"error: {one_line(exc)}", err=True)
        sys.exit(exit_code_for(exc))


if __name__ == "__main__":  # pragma: no cover
    main()

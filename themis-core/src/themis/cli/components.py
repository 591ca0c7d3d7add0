"""``themis components``: what is installed, where it comes from, and what is broken."""

from __future__ import annotations

from typing import Any

import click

from themis.cli.options import json_option
from themis.cli.output import emit_json, emit_table, note
from themis.core.authoring import registry


def _component_version(factory: Any) -> str | None:
    """A component's own version, read from its class without building it."""
    version = getattr(factory, "version", None)
    return str(version) if isinstance(version, str | int | float) else None


@click.command(
    "components", short_help="List installed components and plugins that failed to load."
)
@click.option(
    "--kind",
    type=click.Choice(sorted(registry.GROUPS)),
    help="Only this kind of component.",
)
@json_option
def components_command(kind: str | None, as_json: bool) -> None:
    """List every discovered component: id, kind, version and distribution.

    Components are found through entry points, builtins included; a plugin
    that fails to import is listed with its distribution and the error.
    """
    failures = registry.load_failures(kind)
    broken = {(failure.kind, failure.component_id) for failure in failures}
    rows: list[dict[str, Any]] = []
    for info in registry.list_components(kind):
        if (info.kind, info.component_id) in broken:
            continue
        try:
            factory, _ = registry.load_factory(info.kind, info.component_id)
        except registry.ComponentLoadError as exc:
            failures.append(
                registry.LoadFailure(info.kind, info.component_id, info.distribution, str(exc))
            )
            continue
        rows.append(
            {
                "id": info.component_id,
                "kind": info.kind,
                "version": _component_version(factory),
                "distribution": info.distribution,
                "distribution_version": info.distribution_version,
                "entry_point": info.entry_point,
            }
        )
    failed = [
        {
            "id": failure.component_id,
            "kind": failure.kind,
            "distribution": failure.distribution,
            "error": failure.error,
        }
        for failure in failures
    ]
    if as_json:
        emit_json({"components": rows, "failures": failed})
        return
    emit_table(
        None,
        ["id", "kind", "version", "distribution"],
        [
            (
                row["id"],
                row["kind"],
                row["version"],
                f"{row['distribution']} {row['distribution_version'] or ''}".strip(),
            )
            for row in rows
        ],
    )
    if failed:
        emit_table(
            "failed to load",
            ["id", "kind", "distribution", "error"],
            [(row["id"], row["kind"], row["distribution"], row["error"]) for row in failed],
        )
        note(f"{len(failed)} component(s) failed to load; see the table above")

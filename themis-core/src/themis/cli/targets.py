"""Where a command finds its experiment, its store and its run.

Experiment commands take ``--config``; read commands take either ``--config``
(the config's store and run) or ``--path`` (a store file) with ``--run-id``.
Every store a command opens is closed when the command ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from themis.cli.errors import UserError
from themis.core.config import StorageConfig
from themis.core.experiment import Experiment, open_store
from themis.core.storage.stores.base import RunStore, UnknownRunError
from themis.core.storage.stores.postgres import redact_url

MEMORY_STORE = "memory"


@dataclass(frozen=True)
class RunTarget:
    """One run in one store, and the experiment it came from when a config named it."""

    store: RunStore
    run_id: str
    where: str
    experiment: Experiment | None = None


def load_experiment(config: Path, overrides: tuple[str, ...]) -> Experiment:
    return Experiment.from_config(config, overrides=list(overrides))


def describe(storage: StorageConfig) -> str:
    """A store as a user would name it: ``sqlite store .themis/runs.sqlite``."""
    url = storage.parameters.get("url")
    if isinstance(url, str) and url:
        return f"{storage.store} store {redact_url(url)}"
    return f"{storage.store} store" + (f" {storage.path}" if storage.path else "")


def _close_with_command(store: RunStore) -> RunStore:
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(store.close)
    return store


def _check_store(storage: StorageConfig, source: str, *, must_exist: bool) -> None:
    """A store shared between commands must outlive them; reading one that was
    never written is a mistake, not an empty result."""
    if storage.store == MEMORY_STORE:
        raise UserError(
            f"{source}: the memory store keeps nothing once a command ends; store runs in a "
            "file (storage.store: sqlite, storage.path: runs.sqlite) to use them later"
        )
    if (
        must_exist
        and storage.store == "sqlite"
        and storage.path
        and not Path(storage.path).exists()
    ):
        raise UserError(f"{source}: no store at {storage.path}; nothing has been run into it yet")


def experiment_store(experiment: Experiment) -> RunStore:
    """The store a config names, opened for the length of the command."""
    return _close_with_command(experiment.resolve_store())


def experiment_store_for(storage: StorageConfig) -> RunStore:
    """The store ``storage`` names, opened for the length of the command."""
    return _close_with_command(open_store(storage))


def require_run(store: RunStore, run_id: str, where: str, hint: str = "") -> None:
    if store.resume(run_id) is None:
        runs = [run.run_id for run in store.list_runs()]
        known = ", ".join(runs[-5:]) if runs else "none"
        raise UnknownRunError(
            f"run {run_id} is not in the {where} (runs there: {known})"
            + (f"; {hint}" if hint else "")
        )


def stored_experiment_run(
    experiment: Experiment, config: Path, store: RunStore | None = None
) -> tuple[RunStore, str]:
    """The config's store (or ``store``, already open) and run id; the store
    must already hold that run."""
    _check_store(experiment.storage, str(config), must_exist=True)
    store = store or experiment_store(experiment)
    run_id = experiment.compile().run_id
    require_run(
        store,
        run_id,
        describe(experiment.storage),
        f"run it first: themis run --config {config}",
    )
    return store, run_id


def resolve_store(
    config: Path | None,
    overrides: tuple[str, ...],
    store_id: str | None,
    store_path: Path | str | None,
    *,
    must_exist: bool,
) -> tuple[RunStore, str, Experiment | None]:
    """The store named by ``--config`` or by ``--store``/``--path``."""
    if config is not None and (store_path is not None or store_id is not None):
        raise UserError(
            "give either --config or --store/--path, not both "
            "(to move a config's store use --set storage.path=...)"
        )
    if config is not None:
        experiment = load_experiment(config, overrides)
        _check_store(experiment.storage, str(config), must_exist=must_exist)
        return experiment_store(experiment), describe(experiment.storage), experiment
    if overrides:
        raise UserError("--set changes a config: it needs --config")
    if store_path is None and store_id is None:
        raise UserError(
            "say which store to use: --config FILE, or --path STORE_FILE (e.g. .themis/runs.sqlite)"
        )
    if isinstance(store_path, str):  # a PostgreSQL URL (see options.store_location)
        storage = StorageConfig(store=store_id or "postgres", parameters={"url": store_path})
    else:
        storage = StorageConfig(
            store=store_id or "sqlite", path=str(store_path) if store_path is not None else None
        )
    _check_store(storage, "--path" if store_path is not None else "--store", must_exist=must_exist)
    return experiment_store_for(storage), describe(storage), None


def resolve_run(
    config: Path | None,
    overrides: tuple[str, ...],
    store_id: str | None,
    store_path: Path | str | None,
    run_id: str | None,
) -> RunTarget:
    """The stored run a read command looks at; it must exist."""
    store, where, experiment = resolve_store(
        config, overrides, store_id, store_path, must_exist=True
    )
    if run_id is None and experiment is not None:
        run_id = experiment.compile().run_id
    if run_id is None:
        runs = store.list_runs()
        if len(runs) != 1:
            listing = ", ".join(run.run_id for run in runs) or "none"
            raise UserError(
                f"the {where} holds {len(runs)} runs ({listing}); pick one with --run-id"
            )
        run_id = runs[0].run_id
    hint = f"run it first: themis run --config {config}" if config is not None else ""
    require_run(store, run_id, where, hint)
    return RunTarget(store=store, run_id=run_id, where=where, experiment=experiment)

"""Submitting a run: its snapshot and recipe go to the store, nothing runs.

The submission is an event in the run's own stream (``RunSubmittedEvent``),
not a table of its own: the run's status stays ``pending`` (what
``save_snapshot`` records) until a worker starts it, so ``themis inspect
runs`` lists a submitted run like any other, and a bundle or a store copy
carries the submission with the run.
"""

from __future__ import annotations

from themis.core.authoring.identity import content_hash
from themis.core.deferred.locations import open_store_at
from themis.core.deferred.recipes import experiment_recipe
from themis.core.errors import ConfigError, UnknownRunError, UserError
from themis.core.experiment import Experiment, themis_version
from themis.core.storage.events import RunStartedEvent, RunSubmittedEvent
from themis.core.storage.stores.base import RunStore


class NotSubmittedError(UserError, LookupError):
    """A worker was pointed at a run that was never submitted."""


def submit_experiment(experiment: Experiment, *, store: RunStore | str | None = None) -> str:
    """Store ``experiment``'s run for workers and return its run id at once.

    The experiment is compiled (bad input fails here, before anything is
    stored), its snapshot is saved and a recipe a worker rebuilds it from is
    recorded; no model is called. Start workers with
    ``run_worker(store, run_id=...)`` or ``themis worker --store ... --run-id ...``.

    ``store`` is a ``RunStore``, a SQLite file path or a PostgreSQL URL
    (``postgresql://user@host/db``); None uses the store the experiment's
    ``storage`` names. A component a worker could not rebuild (a class
    defined in ``__main__`` or inside a function, arguments that are not
    JSON data) raises :class:`~themis.core.errors.ConfigError` naming it.
    Submitting the same experiment twice gives the same run id and
    records the submission once.
    """
    snapshot = experiment.compile()
    recipe = experiment_recipe(experiment)
    if store is None and experiment.storage.store == "memory":
        raise ConfigError(
            "submit: the experiment's storage is the memory store, which no worker can reach; "
            "pass store= (a SQLite file, a postgresql:// URL or a RunStore), or set storage"
        )
    opened = open_store_at(store, must_exist=False) if isinstance(store, str) else None
    target = opened or experiment.resolve_store(None if isinstance(store, str) else store)
    try:
        target.initialize()
        target.save_snapshot(snapshot)
        event = RunSubmittedEvent(
            event_id=f"{snapshot.run_id}:run_submitted:{content_hash(recipe)[:16]}",
            run_id=snapshot.run_id,
            recipe=recipe,
            themis_version=themis_version(),
        )
        target.append_events([event])
    finally:
        if opened is not None:
            opened.close()
    return snapshot.run_id


def find_submission(store: RunStore, run_id: str) -> RunSubmittedEvent | None:
    """The run's latest submission recorded before its work began, if any.

    Only the head of the run's stream is read (up to its first start), so
    checking a run of a million cases costs a few rows.
    """
    found: RunSubmittedEvent | None = None
    for event in store.iter_events(run_id):
        if isinstance(event, RunSubmittedEvent):
            found = event
        elif isinstance(event, RunStartedEvent):
            break
    return found


def require_submission(store: RunStore, run_id: str, where: str) -> RunSubmittedEvent:
    """The run's submission; an unknown run or one never submitted is an error."""
    if store.resume(run_id) is None:
        known = [run.run_id for run in store.list_runs()]
        listing = ", ".join(known[-5:]) if known else "none"
        raise UnknownRunError(f"run {run_id} is not in the {where} (runs there: {listing})")
    submission = find_submission(store, run_id)
    if submission is None:
        raise NotSubmittedError(
            f"run {run_id} in the {where} was never submitted, so a worker cannot rebuild its "
            "experiment: submit it (themis submit --config FILE --store ...) or continue it "
            "with themis resume --config FILE"
        )
    return submission

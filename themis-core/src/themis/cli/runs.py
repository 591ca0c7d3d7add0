"""Commands that execute an experiment: run, resume, replay, rejudge."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from pydantic import ValidationError

from themis.cli.errors import UserError
from themis.cli.options import (
    config_options,
    executor_options,
    existing_run_policy_option,
    json_option,
    metric_option,
    progress_option,
    until_stage_option,
)
from themis.cli.output import ReuseCount, exit_for, print_result
from themis.cli.targets import experiment_store, load_experiment, stored_experiment_run
from themis.core.authoring.config_files import format_validation_error
from themis.core.config import RAY_DEFAULTS, RuntimeConfig
from themis.core.experiment import Experiment
from themis.core.storage.events import CaseRunEvent, RunEvent
from themis.core.storage.stores.base import RunStore


def _runtime(experiment: Experiment, progress: str | None, **settings: object) -> RuntimeConfig:
    """The config's runtime settings, with the command's options where given
    (``--progress``, ``--existing-run-policy``, ``--executor`` ...; runtime
    settings are never part of the run id), checked together."""
    update = {key: value for key, value in settings.items() if value is not None}
    if update.get("executor") == "local":
        # --executor local runs here whatever Ray settings the config holds.
        update = {**RAY_DEFAULTS, **update}
    if progress is not None:
        update["progress"] = progress
    if not update:
        return experiment.runtime
    try:
        return RuntimeConfig.model_validate({**experiment.runtime.model_dump(), **update})
    except ValidationError as exc:
        options = ", ".join(f"--{key.replace('_', '-')}" for key in update)
        raise UserError(format_validation_error(exc, f"runtime with {options}")) from None


def _stored_states(store: RunStore, run_id: str) -> Counter[str]:
    """Work items of the run the store holds before a command runs it."""
    return Counter(item.state for item in store.work_items(run_id))


class _StoredHere:
    """Counts the work items this process stored (a lifecycle subscriber):
    computed here, or copied from other runs. Other processes sharing the run
    store the rest while it runs."""

    def __init__(self) -> None:
        self.computed = 0
        self.copied = 0

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, CaseRunEvent):  # one work item's result (see projections)
            if event.cached_from:
                self.copied += 1
            else:
                self.computed += 1


def _counter(runtime: RuntimeConfig) -> _StoredHere | None:
    """What counts this command's work as the run stores it; none with Ray,
    whose actors load no subscriber from here and do all the command's work."""
    return None if runtime.executor == "ray" else _StoredHere()


def _reused(
    store: RunStore, run_id: str, before: Counter[str], here: _StoredHere | None
) -> ReuseCount:
    """Work items this command took from the store instead of computing them:
    those the run already had, and those copied from other runs' results;
    and those that other processes sharing the run computed meanwhile
    (``here`` None: the command's Ray actors did all the work)."""
    after = _stored_states(store, run_id)
    total = sum(after.values())
    had = before["done"] + before["cached"]
    if here is None:
        copied = max(after["cached"] - before["cached"], 0)
        return ReuseCount(reused=had + copied, total=total, from_other_runs=copied)
    others = max(total - sum(before.values()) - here.computed - here.copied, 0)
    return ReuseCount(
        reused=had + here.copied,
        total=total,
        from_other_runs=here.copied,
        by_other_processes=others,
    )


@click.command(short_help="Compile and run an experiment.")
@config_options()
@until_stage_option
@progress_option
@existing_run_policy_option
@executor_options
@json_option
def run(
    config: Path,
    overrides: tuple[str, ...],
    until_stage: str,
    progress: str | None,
    existing_run_policy: str | None,
    executor: str | None,
    workers: int | None,
    ray_address: str | None,
    as_json: bool,
) -> None:
    """Compile and run an experiment; prints metric means and the run id.

    Results already in the store are reused, so running the same config again
    only does the work that is missing (--existing-run-policy error refuses a
    stored run instead, rerun recomputes it). --executor ray runs the cases in
    Ray actors sharing the run through the store (docs/ray.md).

    \b
    Examples:
      themis run --config experiment.yaml --set generation.candidate_policy.num_samples=5
      themis run --config experiment.yaml --executor ray --workers 4 --ray-address auto
    """
    experiment = load_experiment(config, overrides)
    store = experiment_store(experiment)
    run_id = experiment.compile().run_id
    runtime = _runtime(
        experiment,
        progress,
        existing_run_policy=existing_run_policy,
        executor=executor,
        workers=workers,
        ray_address=ray_address,
    )
    # A rerun recomputes what the run stored: none of it counts as reused.
    rerun = runtime.existing_run_policy == "rerun"
    before = Counter[str]() if rerun else _stored_states(store, run_id)
    here = _counter(runtime)
    result = experiment.run(
        until_stage=until_stage,  # type: ignore[arg-type]
        runtime=runtime,
        store=store,
        subscribers=None if here is None else [here],
    )
    print_result(result, as_json, reused=_reused(store, run_id, before, here))
    exit_for(result)


@click.command()
@config_options()
@until_stage_option
@progress_option
@executor_options
@json_option
def resume(
    config: Path,
    overrides: tuple[str, ...],
    until_stage: str,
    progress: str | None,
    executor: str | None,
    workers: int | None,
    ray_address: str | None,
    as_json: bool,
) -> None:
    """Continue a stored run: do only the work it has not finished.

    The run must already be in the config's store (a run that was killed,
    stopped with --until-stage, or had failures worth retrying).
    """
    experiment = load_experiment(config, overrides)
    store, run_id = stored_experiment_run(experiment, config)
    before = _stored_states(store, run_id)
    runtime = _runtime(
        experiment, progress, executor=executor, workers=workers, ray_address=ray_address
    )
    here = _counter(runtime)
    result = experiment.resume(
        until_stage=until_stage,  # type: ignore[arg-type]  # click.Choice of STAGES
        runtime=runtime,
        store=store,
        subscribers=None if here is None else [here],
    )
    print_result(result, as_json, reused=_reused(store, run_id, before, here))
    exit_for(result)


@click.command(short_help="Recompute a stored run from one stage on.")
@config_options()
@click.option(
    "--stage",
    required=True,
    type=click.Choice(["reduce", "parse", "score", "judge"]),
    help="Recompute this stage and every stage after it.",
)
@metric_option("Only these metrics (repeatable; default: all).")
@progress_option
@json_option
def replay(
    config: Path,
    overrides: tuple[str, ...],
    stage: str,
    metric_ids: tuple[str, ...],
    progress: str | None,
    as_json: bool,
) -> None:
    """Recompute a stored run from one stage on, never calling the generator.

    Upstream results come from the store; use it after changing a reducer,
    parser, metric or judge (or to re-check one). The new results are stored
    beside the old ones.
    """
    experiment = load_experiment(config, overrides)
    result = experiment.replay(
        stage=stage,  # type: ignore[arg-type]
        metric_ids=list(metric_ids) or None,
        runtime=_runtime(experiment, progress),
        store=stored_experiment_run(experiment, config)[0],
    )
    print_result(result, as_json)
    exit_for(result)


@click.command(short_help="Rerun the judge-backed metrics of a stored run.")
@config_options()
@metric_option("Only these judge-backed metrics (repeatable; default: all of them).")
@progress_option
@json_option
def rejudge(
    config: Path,
    overrides: tuple[str, ...],
    metric_ids: tuple[str, ...],
    progress: str | None,
    as_json: bool,
) -> None:
    """Run the judge-backed metrics of a stored run again, from stored candidates."""
    experiment = load_experiment(config, overrides)
    judged = [
        ref.name
        for ref in experiment.compile().component_refs.metrics
        if (ref.family or "pure") != "pure"
    ]
    if not judged:
        raise UserError(f"{config}: nothing to rejudge: the experiment has no judge-backed metric")
    result = experiment.rejudge(
        metric_ids=list(metric_ids) or None,
        runtime=_runtime(experiment, progress),
        store=stored_experiment_run(experiment, config)[0],
    )
    print_result(result, as_json)
    exit_for(result)

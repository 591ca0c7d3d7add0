"""The Ray executor: a run's cases worked by Ray actors sharing one store.

``RuntimeConfig(executor="ray", workers=N)`` makes ``Experiment.run()`` a
driver: it connects to Ray (or starts a local one), ships the experiment to N
actors and waits. Each actor runs the experiment exactly as another process
would, against its own connection to the shared store, so the actors split
the run through the store's work leases, and a dead actor's leased work is
taken over (at once on its node, elsewhere when its leases expire).
Scheduling across machines is Ray's job; this module only starts actors,
replaces the ones that die (up to ``ray_max_replacements``) and reads the
result back from the store.

The store is given to the actors by location, never as an object: SQLite by
its absolute path (refused when the cluster has more than one node, since a
file lives on one machine), PostgreSQL by its URL, a store a ``themis.stores``
entry point names by its StorageConfig. The in-memory store lives in one
process, so it is refused.

Secrets: actors read API keys from their own environment (a local Ray started
here inherits this process's; a remote cluster needs them set on its nodes or
in a ``runtime_env``). Nothing this module logs holds a payload: store URLs
are logged with their password hidden.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from themis.core.config import (
    RAY_DEFAULTS,
    EvaluationConfig,
    GenerationConfig,
    RuntimeConfig,
    StorageConfig,
)
from themis.core.distributions import CORE, pip_install
from themis.core.engine.case_view import PAGE_SIZE, StoredCaseResults
from themis.core.engine.plan import CasePlan, iter_plans
from themis.core.engine.results import (
    RunTally,
    count_states,
    fold_case,
    new_counts,
    tallied_run_result,
)
from themis.core.errors import (
    ConfigError,
    ExecutorError,
    ExecutorUnavailableError,
    ExistingRunError,
)
from themis.core.models import RunResult, RunSnapshot, StageCounts
from themis.core.storage.stores.base import RunStore
from themis.core.storage.stores.memory import InMemoryRunStore
from themis.core.storage.stores.postgres import PostgresRunStore, redact_url
from themis.core.storage.stores.sqlite import SqliteRunStore

log = logging.getLogger(__name__)

LOCAL_HOST = "127.0.0.1"
"""Where a local Ray started for a run listens: this machine only."""


class ShippableExperiment(Protocol):
    """What the executor needs of an Experiment (core/experiment.py calls it,
    so this module cannot import that one)."""

    @property
    def generation(self) -> GenerationConfig: ...

    @property
    def evaluation(self) -> EvaluationConfig: ...

    @property
    def storage(self) -> StorageConfig: ...

    def compile(self) -> RunSnapshot: ...

    def resolve_store(self, store: RunStore | None = None) -> RunStore: ...

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Any: ...


def import_ray() -> ModuleType:
    """The ``ray`` package, or an error naming the extra that brings it."""
    try:
        import ray
    except ImportError as exc:
        raise ExecutorUnavailableError(
            f"runtime.executor='ray' needs Ray, which is not installed: {pip_install(CORE, 'ray')}"
        ) from exc
    return ray


# -- where the actors find the store ------------------------------------------


def actor_storage(store: RunStore | None, storage: StorageConfig) -> StorageConfig:
    """The store the actors open, by location: ``store`` when the caller
    passed one (SQLite and PostgreSQL stores), else what ``storage`` names.

    A relative SQLite path is made absolute here, where the user meant it.
    """
    if isinstance(store, InMemoryRunStore) or (store is None and storage.store == "memory"):
        raise ConfigError(
            "runtime.executor='ray': the in-memory store lives in one process and Ray actors "
            "cannot share it; store the run in PostgreSQL (storage.store: postgres) or, on a "
            "one-machine Ray, in SQLite (storage.store: sqlite, storage.path: runs.sqlite)"
        )
    if isinstance(store, SqliteRunStore):
        return StorageConfig(
            store="sqlite",
            path=str(store.path.resolve()),
            parameters={
                "blob_root": str(store.blobs.root.resolve()),
                "synchronous": store.synchronous,
                "busy_timeout_ms": store.busy_timeout_ms,
            },
        )
    if isinstance(store, PostgresRunStore):
        parameters: dict[str, Any] = {
            "url": store._url,
            "schema": store.schema,
            "pool_size": store.pool_size,
            "connect_timeout_s": store.connect_timeout_s,
            "blob_threshold": store.blob_threshold,
        }
        if store.blob_root is None:
            parameters["blobs_in_database"] = True
        else:
            parameters["blob_root"] = str(store.blob_root.resolve())
        return StorageConfig(store="postgres", parameters=parameters)
    if store is not None:
        raise ConfigError(
            f"runtime.executor='ray': Ray actors open the store themselves, by location, and "
            f"cannot open {store!r} passed as an object; name it in the experiment's storage "
            "(StorageConfig) and run without store=..."
        )
    if storage.store == "sqlite" and storage.path is not None:
        return storage.model_copy(update={"path": str(Path(storage.path).resolve())})
    return storage


def describe_storage(storage: StorageConfig) -> str:
    """The store as logs show it: never its password."""
    url = storage.parameters.get("url")
    if isinstance(url, str) and url:
        return f"{storage.store} store {redact_url(url)}"
    return f"{storage.store} store" + (f" {storage.path}" if storage.path else "")


def check_store_fits_cluster(storage: StorageConfig, alive_nodes: int, where: str) -> None:
    """A SQLite file is on one machine: actors on other nodes could not open it."""
    if storage.store == "sqlite" and alive_nodes > 1:
        raise ConfigError(
            f"runtime.executor='ray': {where} has {alive_nodes} nodes, and "
            f"the SQLite store {storage.path} is a file on this machine that actors on the "
            "other nodes cannot open; store the run in PostgreSQL (storage.store: postgres, "
            "storage.parameters.url: ...) or use a one-machine Ray"
        )


def check_actor_cpus(runtime: RuntimeConfig, cluster_cpus: float, where: str) -> None:
    """An actor asking for more CPUs than the cluster has would wait for ever."""
    if runtime.ray_actor_cpus > cluster_cpus:
        raise ConfigError(
            f"runtime.ray_actor_cpus={runtime.ray_actor_cpus}: {where} has "
            f"{cluster_cpus:g} CPUs in all, so no actor could start; lower it (0 reserves none)"
        )


# -- shipping the experiment ----------------------------------------------------


def _component_specs(experiment: ShippableExperiment) -> Iterator[tuple[str, Any]]:
    generation, evaluation = experiment.generation, experiment.evaluation
    yield "generation.generator", generation.generator
    yield "generation.reducer", generation.reducer
    yield "generation.selector", generation.selector
    for field in ("parsers", "metrics", "judge_models"):
        for index, spec in enumerate(getattr(evaluation, field)):
            yield f"evaluation.{field}[{index}]", spec


def check_shippable(experiment: ShippableExperiment, dumps: Callable[[Any], bytes]) -> None:
    """Ray pickles the experiment to send it to the actors: a component object
    that cannot be pickled (an open client, a lock) is named before any work."""
    try:
        dumps(experiment)
    except Exception as exc:
        for where, spec in _component_specs(experiment):
            try:
                dumps(spec)
            except Exception as component_exc:
                raise ConfigError(
                    f"runtime.executor='ray': {where} ({type(spec).__name__}) cannot be sent to "
                    f"Ray actors, which receive the experiment pickled: {component_exc}. Give "
                    "the component by id, or build it from settings (e.g. a client factory "
                    "instead of an open client)"
                ) from None
        raise ConfigError(
            f"runtime.executor='ray': the experiment cannot be sent to Ray actors, which "
            f"receive it pickled: {exc}"
        ) from None


# -- the actor ------------------------------------------------------------------


class RunWorker:
    """One Ray actor: runs the experiment against its own connection to the store.

    It is what a second ``themis run`` on another machine would be: the
    store's work leases decide which cases it does, and its ``run()`` returns
    once every case of the run is finished, by it or by another worker.
    """

    def pid(self) -> int:
        """The actor's process id (tests kill it to show a replacement)."""
        return os.getpid()

    def run(self, experiment: Any, until_stage: str) -> str:
        """Run the experiment (its storage and runtime already set for an actor);
        returns the run's status. Only the status travels back: the driver
        reads the result from the store."""
        try:
            result = experiment.run(until_stage=until_stage)
            status: str = result.status.value
            return status
        finally:
            experiment.resolve_store().close()


@dataclass
class _Slot:
    """One of the N worker places and the actor currently holding it."""

    index: int
    actor: Any
    call: Any
    future: asyncio.Future[Any]


@contextmanager
def ray_connection(ray: Any, runtime: RuntimeConfig) -> Iterator[str]:
    """Connected to Ray for the run; yields where, for messages.

    A process already connected (``ray.init`` called by the user, e.g. with a
    ``runtime_env``) keeps its connection. Otherwise this joins
    ``runtime.ray_address``, or starts a local Ray on 127.0.0.1 without a
    dashboard when it is None, and disconnects (stopping a local Ray) after.
    """
    if ray.is_initialized():
        yield "the Ray cluster this process is connected to"
        return
    if runtime.ray_address is None:
        local_ray_settings(ray)
        ray.init(
            address="local",
            _node_ip_address=LOCAL_HOST,
            include_dashboard=False,
        )
        where = "a local Ray on 127.0.0.1"
    else:
        check_reachable(runtime.ray_address)
        try:
            ray.init(address=runtime.ray_address)
        except (ConnectionError, RuntimeError) as exc:
            raise ConfigError(
                f"runtime.ray_address: cannot connect to Ray at {runtime.ray_address!r}: {exc}"
            ) from exc
        where = f"the Ray cluster at {runtime.ray_address}"
    try:
        yield where
    finally:
        ray.shutdown()


PROBE_TIMEOUT_S = 5.0
"""How long a TCP connection to a cluster's address may take before the run is
refused: Ray itself retries an unreachable address for many minutes."""


def check_reachable(address: str) -> None:
    """Refuse at once a ``host:port`` or ``ray://host:port`` nothing listens on.

    ``ray.init`` keeps retrying such an address for many minutes, logging
    warnings, so a mistyped port or a cluster that is down would look like a
    hung run. The address Ray would connect to (it turns a loopback host into
    this machine's address) is tried as well as the one given. ``"auto"`` is
    left to Ray, which fails at once when it finds no cluster.
    """
    if address == "auto":
        return
    target = address.removeprefix("ray://")
    candidates = [_host_port(target)]
    with suppress(Exception):  # Ray's own resolution, when this Ray has it
        from ray._private.services import canonicalize_bootstrap_address

        resolved = canonicalize_bootstrap_address(target)
        if resolved:
            candidates.append(_host_port(resolved))
    failures = []
    for host, port in dict.fromkeys(candidates):
        try:
            with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
                return
        except OSError as exc:
            failures.append(f"{host}:{port}: {exc.strerror or exc}")
    raise ConfigError(
        f"runtime.ray_address: cannot connect to Ray at {address!r} ({'; '.join(failures)}); "
        "is the cluster running, and is this its address (as `ray start --head` prints it)?"
    )


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


LOCAL_RAY_SETTINGS = {
    # Ray binds a node to the address that routes off this machine, turning
    # 127.0.0.1 into it, unless clusters are off: a local Ray is this machine's only.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": ("ENABLE_RAY_CLUSTER", False),
    # Ray otherwise starts workers with the `uv run` that started this process,
    # uploading the working directory and building a second environment from
    # it; a local Ray's workers have this process's environment already.
    "RAY_ENABLE_UV_RUN_RUNTIME_ENV": ("RAY_ENABLE_UV_RUN_RUNTIME_ENV", False),
}
"""Environment variable -> (Ray's constant read from it, the value a local Ray needs)."""


def local_ray_settings(ray: Any) -> None:
    """Keep a local Ray on 127.0.0.1 with this process's environment, unless
    the user set these variables. Ray reads them when it is imported, so the
    constant is set too when that has happened already."""
    constants = ray._private.ray_constants
    for variable, (constant, value) in LOCAL_RAY_SETTINGS.items():
        if variable in os.environ:
            continue
        os.environ[variable] = "1" if value else "0"
        if hasattr(constants, constant):
            setattr(constants, constant, value)


def _alive_nodes(ray: Any) -> int:
    return sum(1 for node in ray.nodes() if node.get("Alive"))


async def run_on_ray(
    experiment: ShippableExperiment,
    *,
    until_stage: str,
    runtime: RuntimeConfig,
    store: RunStore | None,
) -> RunResult:
    """Run ``experiment`` on ``runtime.workers`` Ray actors; the result is read
    back from the store once every actor has returned."""
    ray = import_ray()
    snapshot = experiment.compile()  # bad input fails here, before Ray starts
    if not runtime.share_run and runtime.workers > 1:
        raise ConfigError(
            f"runtime.share_run=False with runtime.workers={runtime.workers}: actors share "
            "the run through work leases, and without them each would run every case; "
            "set share_run to True (the default) or workers to 1"
        )
    if runtime.existing_run_policy == "rerun" and runtime.workers > 1:
        raise ConfigError(
            f"runtime.existing_run_policy='rerun' with runtime.workers={runtime.workers}: a "
            "rerun recomputes every case in the process that asks for it, so each actor "
            "would recompute the whole run; rerun with workers=1 (or executor='local')"
        )
    storage = actor_storage(store, experiment.storage)
    driver_store = experiment.resolve_store(store)
    # Created (or migrated) once, here, rather than by N actors racing to do it.
    await asyncio.to_thread(driver_store.initialize)
    if runtime.existing_run_policy == "error" and driver_store.get_snapshot(snapshot.run_id):
        # The actors cannot apply it: the first to start would stop the others.
        raise ExistingRunError(
            f"run {snapshot.run_id} is already in the store and runtime.existing_run_policy "
            "is 'error'; use 'auto' to reuse what it stored (resume) or 'rerun' to recompute it"
        )
    actor_runtime = runtime.model_copy(
        update={
            **RAY_DEFAULTS,  # an actor runs locally: its own run is no driver
            "executor": "local",
            "progress": "off",
            "existing_run_policy": (
                "auto" if runtime.existing_run_policy == "error" else runtime.existing_run_policy
            ),
        }
    )
    shipped: ShippableExperiment = experiment.model_copy(
        update={"storage": storage, "runtime": actor_runtime}
    )
    from ray import cloudpickle

    check_shippable(shipped, cloudpickle.dumps)
    with ray_connection(ray, runtime) as where:
        nodes = await asyncio.to_thread(_alive_nodes, ray)
        check_store_fits_cluster(storage, nodes, where)
        check_actor_cpus(runtime, float(ray.cluster_resources().get("CPU", 0)), where)
        if nodes > 1 and storage.store == "postgres" and "blob_root" in storage.parameters:
            log.warning(
                "run %s: each of the %d Ray nodes keeps large payloads in its own %s unless "
                "that is a shared filesystem; blobs_in_database=True keeps them in PostgreSQL",
                snapshot.run_id,
                nodes,
                storage.parameters["blob_root"],
            )
        log.info(
            "run %s: %d Ray actor(s) on %s (%d node(s)), %s",
            snapshot.run_id,
            runtime.workers,
            where,
            nodes,
            describe_storage(storage),
        )
        await _drive(ray, shipped, until_stage, runtime, where)
    return await asyncio.to_thread(stored_run_result, driver_store, snapshot, until_stage)


def stored_run_result(store: RunStore, snapshot: RunSnapshot, until_stage: str) -> RunResult:
    """The RunResult of a run the actors finished, read back from the store a
    page of cases at a time (as a worker folds the cases others ran): its
    aggregates tallied here, its cases a view over the store."""
    tally = RunTally(until_stage, [ref.name for ref in snapshot.component_refs.metrics])
    counts = new_counts()

    def fold(plans: list[CasePlan]) -> None:
        keys = [key for plan in plans for key in plan.all_keys()]
        latest = store.latest_events(snapshot.run_id, keys)
        for plan in plans:
            tally.add(fold_case(plan, latest, until_stage))
            count_states(counts, plan, latest)

    page: list[CasePlan] = []
    for plan in iter_plans(snapshot):
        page.append(plan)
        if len(page) >= PAGE_SIZE:
            fold(page)
            page = []
    if page:
        fold(page)
    return tallied_run_result(
        snapshot.run_id,
        StoredCaseResults(store, snapshot, until_stage),
        tally,
        {stage: StageCounts(**values) for stage, values in counts.items()},
    )


async def _drive(
    ray: Any, shipped: ShippableExperiment, until_stage: str, runtime: RuntimeConfig, where: str
) -> None:
    """Start the actors, replace the ones that die, return when all returned."""
    from ray.exceptions import RayActorError, RayTaskError

    worker_class = ray.remote(RunWorker)
    experiment_ref = ray.put(shipped)

    def start(index: int) -> _Slot:
        actor = worker_class.options(
            num_cpus=runtime.ray_actor_cpus,
            max_restarts=0,
            scheduling_strategy="SPREAD",
        ).remote()
        call = actor.run.remote(experiment_ref, until_stage)
        return _Slot(index, actor, call, asyncio.wrap_future(call.future()))

    slots = {slot.future: slot for slot in (start(index) for index in range(runtime.workers))}
    replaced = 0
    try:
        while slots:
            done, _ = await asyncio.wait(list(slots), return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                slot = slots.pop(future)
                try:
                    future.result()
                except RayTaskError as exc:
                    # The run raised inside the actor: the same error a local run raises.
                    cause = getattr(exc, "cause", None)
                    raise (cause if isinstance(cause, BaseException) else exc) from None
                except RayActorError as exc:
                    if replaced >= runtime.ray_max_replacements:
                        raise ExecutorError(
                            f"Ray actor {slot.index} died ({_reason(exc)}) after "
                            f"{replaced} actor(s) were already replaced, the most "
                            f"runtime.ray_max_replacements allows; the finished work is in "
                            "the store: run again to resume"
                        ) from None
                    replaced += 1
                    log.warning(
                        "Ray actor %d died (%s); starting replacement %d of at most %d",
                        slot.index,
                        _reason(exc),
                        replaced,
                        runtime.ray_max_replacements,
                    )
                    new = start(slot.index)
                    slots[new.future] = new
    finally:
        for slot in slots.values():
            with suppress(Exception):
                ray.kill(slot.actor, no_restart=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

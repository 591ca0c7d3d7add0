"""Experiment: the authoring model, its compiler, and its run/replay/rejudge API."""

from __future__ import annotations

import asyncio
import difflib
import platform as platform_module
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, Literal, TypedDict, TypeVar, Unpack

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from themis.core import distributions
from themis.core.analysis.estimate import RunEstimate, estimate_run
from themis.core.authoring import registry
from themis.core.authoring.config_files import format_validation_error, read_experiment_config
from themis.core.authoring.identity import compute_run_id, dataset_hash
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig, StorageConfig
from themis.core.engine.plan import candidate_seeds, resolve_num_samples
from themis.core.engine.runner import (
    ReplayScope,
    ResolvedComponents,
    RunEngine,
    metric_judge_config,
)
from themis.core.errors import ConfigError
from themis.core.models import (
    ComponentRef,
    ComponentRefs,
    Dataset,
    DatasetRef,
    FrozenModel,
    RunIdentity,
    RunProvenance,
    RunResult,
    RunSnapshot,
)
from themis.core.observability.hooks import LifecycleHooks
from themis.core.observability.progress import progress_reporter
from themis.core.storage.stores.base import RunStore

T = TypeVar("T")

Stage = Literal["generate", "reduce", "parse", "score", "judge"]
ReplayStage = Literal["reduce", "parse", "score", "judge"]


class RunOptions(TypedDict, total=False):
    """How to execute, as every execution method of :class:`Experiment` takes it.

    ``run``, ``resume``, ``replay`` and ``rejudge`` (and their ``_async``
    twins) accept these as keyword arguments, defined here once. None of them
    is identity-bearing: they never change the run id.
    """

    runtime: RuntimeConfig | None
    """Concurrency, retries, timeouts, progress; ``Experiment.runtime`` when None."""
    store: RunStore | None
    """Where results go and are reused from; the one ``storage`` names when None."""
    subscribers: list[Any] | None
    """Lifecycle subscribers (``before_generate`` ... ``on_event``) for this call."""
    tracing_provider: Any | None
    """A TracingProvider (e.g. OpenTelemetry) that receives a span per stage call."""


class ResumeOptions(RunOptions, total=False):
    """What ``resume`` takes: ``run``'s arguments."""

    until_stage: Stage


def check_run_options(options: RunOptions) -> None:
    """What a signature with named keywords would refuse: a typo is no default."""
    unknown = sorted(set(options) - RunOptions.__optional_keys__)
    if unknown:
        raise TypeError(
            f"unexpected keyword argument(s) {unknown}; run options are "
            f"{sorted(RunOptions.__optional_keys__)}"
        )


DEFAULT_REDUCER = "builtin/first_candidate"
DEFAULT_SEEDS = (0,)


def themis_version() -> str:
    # None only when running from a source tree that was never installed.
    return registry.installed_version(distributions.CORE) or "0+unknown"


class _Box:
    """Holds a coroutine's result behind a constant repr.

    On Python 3.11, ``asyncio.run`` renders the main task's repr (result
    included) while it restores the SIGINT handler; for a large RunResult that
    costs seconds. Boxing the result keeps that repr trivial.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<themis result>"


async def _boxed(coroutine: Coroutine[Any, Any, T]) -> _Box:
    return _Box(await coroutine)


def run_sync(coroutine: Coroutine[Any, Any, T], *, async_name: str) -> T:
    """Run ``coroutine`` to completion, refusing inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # no loop running: the usual case
    else:
        coroutine.close()
        raise RuntimeError(
            f"this synchronous API cannot run inside a running event loop (a notebook or an "
            f"async app); use `await ...{async_name}(...)` instead"
        )
    # Outside the ``except`` block, so that an error from the run is raised
    # alone, not chained to the "no running event loop" probe above.
    result: T = asyncio.run(_boxed(coroutine)).value
    return result


MAX_LISTED_REFERENCES = 5


def check_references(metrics: list[tuple[Any, ComponentRef]], datasets: list[Dataset]) -> None:
    """Every expected output must be one its metrics can compare against.

    A metric says so through an optional ``check_reference(expected) -> str | None``
    (e.g. builtin/numeric_tolerance: the expected output holds a number). An
    expected answer it cannot read is bad input, refused before any work,
    never a case left out of the mean. Cases without an expected output are
    the metric's to report (a ScoreError per case).
    """
    problems: list[str] = []
    for index, (metric, ref) in enumerate(metrics):
        check = getattr(metric, "check_reference", None)
        if not callable(check):
            continue
        for dataset in datasets:
            for case in dataset.cases:
                if case.expected_output is None:
                    continue
                problem = check(case.expected_output)
                if problem:
                    problems.append(
                        f"evaluation.metrics[{index}] ({ref.name}): dataset "
                        f"{dataset.dataset_id!r} case {case.case_id!r}: {problem}"
                    )
    if problems:
        more = len(problems) - MAX_LISTED_REFERENCES
        raise ConfigError(
            f"{len(problems)} expected output(s) cannot be scored: "
            + "; ".join(problems[:MAX_LISTED_REFERENCES])
            + (f" (and {more} more)" if more > 0 else "")
        )


class Experiment(FrozenModel):
    """Authoring model for a Themis experiment.

    An experiment owns the compile-time inputs required to build a RunSnapshot
    and provides sync and async helpers for running or rejudging that snapshot.
    """

    generation: GenerationConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    datasets: list[Dataset] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_SEEDS), min_length=1)
    environment_metadata: dict[str, str] = Field(default_factory=dict)

    _compiled: tuple[RunSnapshot, ResolvedComponents] | None = PrivateAttr(default=None)
    _default_store: RunStore | None = PrivateAttr(default=None)
    _config_source: tuple[Path, list[str]] | None = PrivateAttr(default=None)
    """The config file and overrides ``from_config`` read, so that a submit
    can record them for workers (``themis.core.deferred``)."""

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds_are_whole_numbers(cls, value: Any) -> Any:
        """``true`` is not a seed, though Python counts it as 1."""
        if isinstance(value, list | tuple):
            for index, seed in enumerate(value):
                if isinstance(seed, bool) or not isinstance(seed, int):
                    raise ConfigError(
                        f"seeds[{index}]: a seed is a whole number, got {seed!r} "
                        f"({type(seed).__name__})"
                    )
        return value

    @model_validator(mode="after")
    def _datasets_unique(self) -> Experiment:
        seen: set[str] = set()
        for index, dataset in enumerate(self.datasets):
            if not dataset.cases:
                raise ConfigError(
                    f"datasets[{index}]: dataset {dataset.dataset_id!r} has no cases; "
                    "an empty dataset (or an empty data file) would run nothing"
                )
            if dataset.dataset_id in seen:
                raise ConfigError(
                    f"datasets[{index}]: duplicate dataset_id {dataset.dataset_id!r}; "
                    "dataset ids must be unique within an experiment"
                )
            seen.add(dataset.dataset_id)
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds: duplicate seeds in {self.seeds}")
        return self

    def __getstate__(self) -> dict[Any, Any]:
        """A pickled experiment (a Ray actor receives one) carries what was
        declared, never what this process built from it: it compiles and opens
        its store again where it is unpickled."""
        state: dict[Any, Any] = super().__getstate__()
        state["__pydantic_private__"] = {"_compiled": None, "_default_store": None}
        return state

    # -- configuration files ----------------------------------------------

    @classmethod
    def from_config(cls, path: str | Path, *, overrides: list[str] | None = None) -> Experiment:
        """Load an experiment definition from YAML or TOML configuration."""
        data = read_experiment_config(Path(path), overrides or [])
        try:
            experiment = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, str(path))) from None
        experiment._config_source = (Path(path).resolve(), list(overrides or []))
        return experiment

    # -- compile -----------------------------------------------------------

    def compile(self) -> RunSnapshot:
        """Resolve every component and fingerprint the experiment; runs nothing."""
        return self._compile()[0]

    def _compile(self) -> tuple[RunSnapshot, ResolvedComponents]:
        if self._compiled is not None:
            return self._compiled
        generation, evaluation = self.generation, self.evaluation
        generator, generator_ref = registry.resolve(
            "generator", generation.generator, where="generation.generator"
        )
        reducer, reducer_ref = registry.resolve(
            "reducer", generation.reducer or DEFAULT_REDUCER, where="generation.reducer"
        )
        selector, selector_ref = (None, None)
        if generation.selector is not None:
            selector, selector_ref = registry.resolve(
                "selector", generation.selector, where="generation.selector"
            )
        parsers = [
            registry.resolve("parser", spec, where=f"evaluation.parsers[{index}]")
            for index, spec in enumerate(evaluation.parsers)
        ]
        metrics = [
            registry.resolve("metric", spec, where=f"evaluation.metrics[{index}]")
            for index, spec in enumerate(evaluation.metrics)
        ]
        judges = [
            registry.resolve("judge", spec, where=f"evaluation.judge_models[{index}]")
            for index, spec in enumerate(evaluation.judge_models)
        ]
        names: set[str] = set()
        for index, (_, ref) in enumerate(metrics):
            if ref.name in names:
                raise ConfigError(
                    f"evaluation.metrics[{index}]: metric {ref.name!r} is listed twice; give one "
                    'of them a distinct name: {"id": ..., "name": ...}'
                )
            names.add(ref.name)
        needs_judge = [
            ref.name for _, ref in metrics if (ref.family or "pure") in ("llm", "selection")
        ]
        if needs_judge and not judges:
            raise ConfigError(
                f"evaluation.judge_models: metric(s) {needs_judge} are judge-backed but no judge "
                "model is configured"
            )
        if (
            selector_ref is not None
            and not judges
            and getattr(selector, "requires_judge_models", False)
        ):
            raise ConfigError(
                f"generation.selector: {selector_ref.component_id} asks a judge to choose "
                "candidates but none is configured; give it the option "
                "{'judge': 'some/judge'} or set evaluation.judge_models"
            )
        check_judge_config(evaluation.judge_config, sorted(names), [ref.name for _, ref in judges])
        check_judge_settings(evaluation.judge_config, metrics)
        check_references(metrics, self.datasets)
        refs = ComponentRefs(
            generator=generator_ref,
            reducer=reducer_ref,
            selector=selector_ref,
            parsers=[ref for _, ref in parsers],
            metrics=[ref for _, ref in metrics],
            judge_models=[ref for _, ref in judges],
        )
        identity = RunIdentity(
            datasets=[
                DatasetRef(
                    dataset_id=d.dataset_id,
                    revision=d.revision,
                    content_hash=dataset_hash(d),
                    case_count=len(d.cases),
                )
                for d in self.datasets
            ],
            components=refs,
            prompt_spec=(
                generation.prompt_spec.model_dump(mode="json") if generation.prompt_spec else None
            ),
            candidate_policy=candidate_policy_identity(
                self.seeds, generation.candidate_policy.num_samples
            ),
            judge_config=dict(evaluation.judge_config),
            workflow_overrides=dict(evaluation.workflow_overrides),
            seeds=list(self.seeds),
        )
        snapshot = RunSnapshot(
            run_id=compute_run_id(identity),
            identity=identity,
            provenance=RunProvenance(
                themis_version=themis_version(),
                python_version=platform_module.python_version(),
                platform=sys.platform,
                environment_metadata=dict(self.environment_metadata),
            ),
            datasets=list(self.datasets),
            component_refs=refs,
        )
        components = ResolvedComponents(
            generator=generator,
            reducer=reducer,
            selector=selector,
            parsers=[(ref, parser) for parser, ref in parsers],
            metrics={ref.name: (ref, metric) for metric, ref in metrics},
            judge_models=[(ref, judge) for judge, ref in judges],
        )
        self._compiled = (snapshot, components)
        return self._compiled

    # -- stores ------------------------------------------------------------

    def resolve_store(self, store: RunStore | None = None) -> RunStore:
        """The store a call uses: the one given, else the one StorageConfig names."""
        if store is not None:
            return store
        if self._default_store is None:
            self._default_store = open_store(self.storage)
        return self._default_store

    def estimate(self, store: RunStore | None = None) -> RunEstimate:
        """Planned work items, expected cache hits and prompt tokens; runs nothing.

        ``store`` defaults to the store ``run()`` would use, so the cache hits
        are exactly what the next run would reuse.
        """
        return estimate_run(self.compile(), self.resolve_store(store))

    # -- execution ---------------------------------------------------------

    async def _execute(
        self,
        *,
        until_stage: str,
        replay: ReplayScope | None,
        options: RunOptions,
    ) -> RunResult:
        check_run_options(options)
        snapshot, components = self._compile()
        runtime = options.get("runtime") or self.runtime
        target = self.resolve_store(options.get("store"))
        hooks = LifecycleHooks(options.get("subscribers"))
        with progress_reporter(
            runtime.progress, total=sum(len(d.cases) for d in self.datasets)
        ) as (on_case_done):
            engine = RunEngine(
                snapshot,
                components,
                target,
                runtime,
                until_stage=until_stage,
                replay=replay,
                hooks=hooks,
                tracing=options.get("tracing_provider"),
                on_case_done=on_case_done,
            )
            return await engine.execute()

    async def run_async(
        self,
        *,
        until_stage: Stage = "judge",
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Run the compiled snapshot asynchronously.

        Work already in the store (this run's, or another run's with the same
        work keys) is reused; a killed run continues where it stopped. With
        ``RuntimeConfig(executor="ray")`` Ray actors do the work and this
        process waits for them (docs/ray.md).
        """
        runtime = options.get("runtime") or self.runtime
        if runtime.executor == "ray":
            return await self._run_on_ray(until_stage, runtime, options)
        return await self._execute(until_stage=until_stage, replay=None, options=options)

    async def _run_on_ray(
        self, until_stage: Stage, runtime: RuntimeConfig, options: RunOptions
    ) -> RunResult:
        from themis.core.engine.ray_executor import run_on_ray

        check_run_options(options)
        in_process = [
            name for name in ("subscribers", "tracing_provider") if options.get(name) is not None
        ]
        if in_process:
            raise ConfigError(
                f"runtime.executor='ray': {' and '.join(in_process)} live in this process, but "
                "Ray actors run the cases; register lifecycle subscribers as a themis.plugins "
                "entry point (every actor loads them), or run with executor='local'"
            )
        return await run_on_ray(
            self, until_stage=until_stage, runtime=runtime, store=options.get("store")
        )

    def run(
        self,
        *,
        until_stage: Stage = "judge",
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Run the compiled snapshot synchronously."""
        return run_sync(
            self.run_async(
                until_stage=until_stage,
                **options,
            ),
            async_name="run_async",
        )

    def _resuming(self, options: ResumeOptions) -> ResumeOptions:
        """A resume reuses what is stored whatever ``existing_run_policy`` says:
        continuing a stored run is what it is for (``error`` would refuse it,
        ``rerun`` would throw its finished work away)."""
        runtime = options.get("runtime") or self.runtime
        return {**options, "runtime": runtime.model_copy(update={"existing_run_policy": "auto"})}

    async def resume_async(self, **options: Unpack[ResumeOptions]) -> RunResult:
        """Continue pending work of this experiment's run (``run_async`` that
        always reuses what is stored, whatever ``existing_run_policy`` says)."""
        return await self.run_async(**self._resuming(options))

    def resume(self, **options: Unpack[ResumeOptions]) -> RunResult:
        """Continue pending work of this experiment's run (``run`` that always
        reuses what is stored, whatever ``existing_run_policy`` says)."""
        return self.run(**self._resuming(options))

    async def replay_async(
        self,
        *,
        stage: ReplayStage,
        metric_ids: list[str] | None = None,
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Replay persisted runs from a downstream stage.

        ``stage`` and everything after it are recomputed from stored upstream
        results; the generator is never called. New results are recorded
        beside the old ones.
        """
        if stage not in ("reduce", "parse", "score", "judge"):
            raise ConfigError(f"replay stage must be reduce, parse, score or judge; got {stage!r}")
        self._check_metric_ids(metric_ids)
        scope = ReplayScope(
            from_stage=stage, metric_ids=frozenset(metric_ids) if metric_ids is not None else None
        )
        return await self._execute(until_stage="judge", replay=scope, options=options)

    def replay(
        self,
        *,
        stage: ReplayStage,
        metric_ids: list[str] | None = None,
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Replay persisted runs from a downstream stage synchronously."""
        return run_sync(
            self.replay_async(
                stage=stage,
                metric_ids=metric_ids,
                **options,
            ),
            async_name="replay_async",
        )

    async def rejudge_async(
        self,
        *,
        metric_ids: list[str] | None = None,
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Re-run workflow-backed metrics from stored upstream artifacts."""
        snapshot = self.compile()
        judge_metrics = [
            ref.name for ref in snapshot.component_refs.metrics if (ref.family or "pure") != "pure"
        ]
        selected = judge_metrics if metric_ids is None else metric_ids
        self._check_metric_ids(selected)
        not_judged = sorted(set(selected) - set(judge_metrics))
        if not_judged:
            raise ConfigError(
                f"rejudge: {not_judged} are not workflow-backed metrics; judge-backed metrics "
                f"of this experiment: {judge_metrics}"
            )
        return await self.replay_async(
            stage="judge",
            metric_ids=list(selected),
            **options,
        )

    def rejudge(
        self,
        *,
        metric_ids: list[str] | None = None,
        **options: Unpack[RunOptions],
    ) -> RunResult:
        """Re-run workflow-backed metrics synchronously."""
        return run_sync(
            self.rejudge_async(
                metric_ids=metric_ids,
                **options,
            ),
            async_name="rejudge_async",
        )

    def _check_metric_ids(self, metric_ids: list[str] | None) -> None:
        if metric_ids is None:
            return
        known = [ref.name for ref in self.compile().component_refs.metrics]
        unknown = sorted(set(metric_ids) - set(known))
        if unknown:
            raise ConfigError(
                f"metric_ids: unknown metric(s) {unknown}; this experiment has {known}"
            )


def candidate_policy_identity(seeds: list[int], num_samples: int | None) -> dict[str, Any]:
    """The candidate policy as the run identity records it: the resolved number
    of candidates and, when there are several, the seed each one sees. A run
    with one candidate per case keeps the identity it always had; one with
    several records its seed layout, so runs compiled before candidates and
    seeds were one-to-one (seeds x samples) never share its run id."""
    resolved = resolve_num_samples(seeds, num_samples)
    policy: dict[str, Any] = {"num_samples": resolved}
    if resolved > 1:
        policy["candidate_seeds"] = [seed for seed, _ in candidate_seeds(seeds, resolved)]
    return policy


def check_judge_config(
    judge_config: dict[str, Any], metric_names: list[str], judge_names: list[str]
) -> None:
    """Catch per-metric judge settings that name no metric or no judge model."""
    for key, value in judge_config.items():
        where = f"evaluation.judge_config.{key}"
        if "/" in key and key not in metric_names:
            raise ConfigError(f"{where}: {key!r} is not a metric of this experiment {metric_names}")
        settings = value if key in metric_names and isinstance(value, dict) else None
        if key == "judge_models":
            settings = judge_config
        if settings is None:
            continue
        wanted = settings.get("judge_models")
        if wanted is None:
            continue
        if not isinstance(wanted, list) or not wanted:
            raise ConfigError(f"{where}: judge_models must be a non-empty list of judge names")
        unknown = sorted(set(map(str, wanted)) - set(judge_names))
        if unknown:
            raise ConfigError(
                f"{where}: unknown judge model(s) {unknown}; configured judges: {judge_names}"
            )


CORE_JUDGE_CONFIG_KEYS = frozenset({"judge_models", "parse_retries"})
"""``judge_config`` settings the workflow runner reads for every judge-backed
metric; a metric declares its own in ``judge_config_keys``."""


def check_judge_settings(judge_config: dict[str, Any], metrics: list[tuple[Any, Any]]) -> None:
    """Catch misspelled or invalid judge settings at compile, not after generation.

    With judge-backed metrics in the run, every key must be a metric's name
    (holding that metric's own settings), a setting the workflow runner
    reads, or one a metric of the run declares in ``judge_config_keys``. A
    metric may also check its settings' values in ``check_judge_config(config)``.
    """
    judged = [(metric, ref) for metric, ref in metrics if (ref.family or "pure") != "pure"]
    names = [ref.name for _, ref in metrics]
    if not judged:
        # Nothing reads judge settings, but a misspelled or foreign key is
        # still a mistake worth saying: only the runner's own settings and
        # the run's metric names are accepted.
        for key in judge_config:
            if key in CORE_JUDGE_CONFIG_KEYS or key in names:
                continue
            raise ConfigError(
                f"evaluation.judge_config.{key}: unknown judge setting {key!r}; no metric of "
                f"this run is judge-backed (metrics: {names}), so judge_config takes only "
                f"{sorted(CORE_JUDGE_CONFIG_KEYS)} or a metric's name: remove the key, or add "
                "a judge-backed metric (such as builtin/llm_rubric) that reads it"
            )
        return
    known = set(CORE_JUDGE_CONFIG_KEYS)
    for metric, _ in judged:
        known.update(getattr(metric, "judge_config_keys", ()))

    def check_keys(settings: dict[str, Any], where: str, allowed: set[str]) -> None:
        for key in settings:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{where}.{key}: unknown judge setting {key!r}; {hint}known settings: "
                f"{sorted(known)}, or a metric's name {names}"
            )

    check_keys(judge_config, "evaluation.judge_config", known | set(names))
    for name in names:
        own = judge_config.get(name)
        if own is not None and not isinstance(own, dict):
            raise ConfigError(
                f"evaluation.judge_config.{name}: a metric's settings must be a mapping, "
                f"got {type(own).__name__}"
            )
        if isinstance(own, dict):
            check_keys(own, f"evaluation.judge_config.{name}", known)
    for metric, ref in judged:
        config = metric_judge_config(judge_config, names, ref.name)
        where = f"evaluation.judge_config (metric {ref.name!r})"
        retries = config.get("parse_retries")
        if retries is not None and (
            isinstance(retries, bool) or not isinstance(retries, int) or retries < 0
        ):
            raise ConfigError(
                f"{where}: parse_retries must be a whole number >= 0, got {retries!r}"
            )
        check = getattr(metric, "check_judge_config", None)
        if callable(check):
            try:
                check(config)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where}: {exc}") from None


def open_store(storage: StorageConfig) -> RunStore:
    """Build the store a StorageConfig names, through the ``themis.stores`` group."""
    factory, _ = registry.load_factory("store", storage.store)
    options = dict(storage.parameters)
    if storage.path is not None:
        options["path"] = storage.path
    try:
        store: RunStore = factory(**options)
    except TypeError as exc:
        if storage.path is not None and "'path'" in str(exc):
            raise ConfigError(
                f"storage.path: store {storage.store!r} takes no path ({storage.path!r}); "
                "path is for file stores such as sqlite. Give its location in "
                "storage.parameters (postgres: parameters.url) and leave path unset "
                "(--set storage.path=null)"
            ) from exc
        raise ConfigError(f"storage: cannot open store {storage.store!r}: {exc}") from exc
    store.initialize()
    return store

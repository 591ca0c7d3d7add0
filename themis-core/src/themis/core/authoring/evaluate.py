"""The one-call API: ``evaluate(model=..., data=..., metric=...)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from themis.core.authoring.config_files import dataset_from_rows
from themis.core.config import (
    EvaluationConfig,
    GenerationConfig,
    RuntimeConfig,
    StorageConfig,
)
from themis.core.experiment import Experiment, run_sync
from themis.core.models import Dataset, RunResult
from themis.core.protocols import LifecycleSubscriber, TracingProvider
from themis.core.storage.stores.base import RunStore


def as_list(value: object | Sequence[object] | None) -> list[Any]:
    """One component spec or several, as a list (``None`` is none)."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _datasets(data: Dataset | Sequence[Dataset] | Sequence[Mapping[str, Any]]) -> list[Dataset]:
    if isinstance(data, Dataset):
        return [data]
    items = list(data)
    if items and all(isinstance(item, Dataset) for item in items):
        return items  # type: ignore[return-value]
    if any(isinstance(item, Dataset) for item in items):
        raise TypeError("data: pass either Datasets or case mappings, not a mix of both")
    return [dataset_from_rows("data", items)]


def build_experiment(
    *,
    model: object,
    data: Dataset | Sequence[Dataset] | Sequence[Mapping[str, Any]],
    metric: object | Sequence[object],
    parser: object | Sequence[object] | None = None,
    judge: object | Sequence[object] | None = None,
    samples: int = 1,
    reducer: object | None = None,
    storage: StorageConfig | None = None,
    runtime: RuntimeConfig | None = None,
    seeds: list[int] | None = None,
    workflow_overrides: dict[str, object] | None = None,
    judge_config: dict[str, object] | None = None,
    environment_metadata: dict[str, str] | None = None,
) -> Experiment:
    """The Experiment that ``evaluate`` runs, for callers who want to keep it."""
    extra: dict[str, Any] = {}
    if seeds is not None:
        extra["seeds"] = seeds
    return Experiment(
        generation=GenerationConfig(
            generator=model,
            # samples=1 is the default: left unset, several seeds give one
            # candidate each, as they do in an Experiment.
            candidate_policy={"num_samples": samples} if samples != 1 else {},
            reducer=reducer,
        ),
        evaluation=EvaluationConfig(
            metrics=as_list(metric),
            parsers=as_list(parser),
            judge_models=as_list(judge),
            workflow_overrides=dict(workflow_overrides or {}),
            judge_config=dict(judge_config or {}),
        ),
        storage=storage or StorageConfig(),
        runtime=runtime or RuntimeConfig(),
        datasets=_datasets(data),
        environment_metadata=dict(environment_metadata or {}),
        **extra,
    )


async def evaluate_async(
    *,
    model: object,
    data: Dataset | Sequence[Dataset] | Sequence[Mapping[str, Any]],
    metric: object | Sequence[object],
    parser: object | Sequence[object] | None = None,
    judge: object | Sequence[object] | None = None,
    samples: int = 1,
    reducer: object | None = None,
    storage: StorageConfig | None = None,
    runtime: RuntimeConfig | None = None,
    seeds: list[int] | None = None,
    workflow_overrides: dict[str, object] | None = None,
    judge_config: dict[str, object] | None = None,
    environment_metadata: dict[str, str] | None = None,
    themis_version: str | None = None,
    python_version: str = "3.12",
    platform: str = "unknown",
    store: RunStore | None = None,
    subscribers: list[LifecycleSubscriber] | None = None,
    tracing_provider: TracingProvider | None = None,
) -> RunResult:
    """Compile and run a Themis experiment asynchronously through the Layer 1 API.

    ``themis_version``, ``python_version`` and ``platform`` are accepted for
    compatibility and recorded nowhere that affects identity: the snapshot's
    provenance always records the interpreter that actually ran.
    """
    del themis_version, python_version, platform
    experiment = build_experiment(
        model=model,
        data=data,
        metric=metric,
        parser=parser,
        judge=judge,
        samples=samples,
        reducer=reducer,
        storage=storage,
        runtime=runtime,
        seeds=seeds,
        workflow_overrides=workflow_overrides,
        judge_config=judge_config,
        environment_metadata=environment_metadata,
    )
    return await experiment.run_async(
        store=store, subscribers=subscribers, tracing_provider=tracing_provider
    )


def evaluate(
    *,
    model: object,
    data: Dataset | Sequence[Dataset] | Sequence[Mapping[str, Any]],
    metric: object | Sequence[object],
    parser: object | Sequence[object] | None = None,
    judge: object | Sequence[object] | None = None,
    samples: int = 1,
    reducer: object | None = None,
    storage: StorageConfig | None = None,
    runtime: RuntimeConfig | None = None,
    seeds: list[int] | None = None,
    workflow_overrides: dict[str, object] | None = None,
    judge_config: dict[str, object] | None = None,
    environment_metadata: dict[str, str] | None = None,
    themis_version: str | None = None,
    python_version: str = "3.12",
    platform: str = "unknown",
    store: RunStore | None = None,
    subscribers: list[LifecycleSubscriber] | None = None,
    tracing_provider: TracingProvider | None = None,
) -> RunResult:
    """Compile and run a Themis experiment synchronously (no running event loop)."""
    return run_sync(
        evaluate_async(
            model=model,
            data=data,
            metric=metric,
            parser=parser,
            judge=judge,
            samples=samples,
            reducer=reducer,
            storage=storage,
            runtime=runtime,
            seeds=seeds,
            workflow_overrides=workflow_overrides,
            judge_config=judge_config,
            environment_metadata=environment_metadata,
            themis_version=themis_version,
            python_version=python_version,
            platform=platform,
            store=store,
            subscribers=subscribers,
            tracing_provider=tracing_provider,
        ),
        async_name="evaluate_async",
    )

"""Running a campaign point by point, resumably, on the project's store.

A point whose run is stored as completed is skipped without a call; any
other point runs through :meth:`Experiment.run_async`, which reuses every
stored work item (by work key), so a killed campaign continues where it
stopped and a changed metric rescores without regenerating.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from themis.campaign.build import CampaignPoint, build_points
from themis.campaign.spec import CampaignSpec, load_campaign_spec
from themis.core.analysis.inspection import get_run_snapshot
from themis.core.analysis.outcomes import means, stored_outcomes
from themis.core.authoring.config_files import ConfigError
from themis.core.config import RuntimeConfig
from themis.core.experiment import run_sync
from themis.core.models import STAGES, FrozenModel, RunStatus
from themis.core.storage.stores.base import RunStore
from themis.core.storage.stores.postgres import postgres_store
from themis.core.storage.stores.sqlite import sqlite_store
from themis.specs.experiment import PostgresBlobStorageSpec, SqliteBlobStorageSpec

__all__ = ["Campaign", "CampaignRunResult", "PointOutcome", "open_project_store"]


def open_project_store(storage: SqliteBlobStorageSpec | PostgresBlobStorageSpec) -> RunStore:
    """The store a project's storage spec describes, ready to use.

    ``sqlite_blob``: ``themis.sqlite_store(<root_dir>/themis.sqlite,
    blob_root=<root_dir>/blobs)``; ``postgres_blob``:
    ``themis.postgres_store(database_url, blob_root=blob_root_dir)``.
    """
    if isinstance(storage, SqliteBlobStorageSpec):
        Path(storage.root_dir).mkdir(parents=True, exist_ok=True)
        project_store = sqlite_store(storage.database_path, blob_root=storage.blob_root)
        # The project's own store, in a folder made for it: created here, so
        # that listing and reporting points not run yet reads an empty store
        # (a bare ``sqlite_store(path)`` never creates a file for a reader).
        project_store.initialize()
        return project_store
    return postgres_store(storage.database_url, blob_root=storage.blob_root_dir)


class PointOutcome(FrozenModel):
    """What happened to one point in one ``Campaign.run``."""

    point_id: str
    model: str
    benchmark: str
    run_id: str
    status: RunStatus
    skipped: bool = False
    metric_means: dict[str, float] = {}
    failed_cases: int = 0
    error: str | None = None


class CampaignRunResult(FrozenModel):
    """Every point's outcome, in run order."""

    project_name: str
    points: list[PointOutcome]

    @property
    def ran(self) -> list[PointOutcome]:
        return [point for point in self.points if not point.skipped]

    @property
    def skipped(self) -> list[PointOutcome]:
        return [point for point in self.points if point.skipped]

    @property
    def failed(self) -> list[PointOutcome]:
        return [p for p in self.points if p.status is not RunStatus.completed]


class Campaign:
    """A project's models x grid points x benchmarks, as ordinary experiments.

    Build it from a :class:`~themis.campaign.spec.CampaignSpec` or a file
    (:meth:`from_file`). Every point is built and compiled up front, so bad
    input fails before anything runs. ``store`` defaults to the project's
    storage spec; ``runtime`` to its execution policy; ``base_dir`` (where
    ``python:`` providers' modules live) to the file's folder, else the
    working directory.
    """

    def __init__(
        self,
        spec: CampaignSpec,
        *,
        store: RunStore | None = None,
        runtime: RuntimeConfig | None = None,
        base_dir: str | Path | None = None,
    ) -> None:
        self.spec = spec
        self.runtime = runtime or spec.project.execution_policy.runtime_config()
        self.points: list[CampaignPoint] = build_points(
            spec, self.runtime, base_dir=Path(base_dir) if base_dir is not None else Path.cwd()
        )
        # Two points may share a run when they ask for the same thing (a baseline
        # that is also a grid point); two different asks that compile to one run
        # would silently report one model's results as the other's.
        models = {model.label: model for model in spec.models}
        seen: dict[tuple[str, str], tuple[str, str]] = {}
        for point in self.points:
            run_id = point.experiment.compile().run_id
            model = models[point.model]
            ask = repr(
                (
                    model.model_id,
                    model.provider,
                    model.extras,
                    None if point.params is None else point.params.model_dump(mode="json"),
                )
            )
            other, other_ask = seen.setdefault((point.benchmark, run_id), (point.point_id, ask))
            if other_ask != ask:
                raise ConfigError(
                    f"models: {other!r} and {point.point_id!r} are the same run on "
                    f"{point.benchmark} ({run_id}): their provider sees no difference "
                    "between them; give them different params or extras"
                )
        self._store = store
        self._owns_store = store is None

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        overrides: list[str] | None = None,
        store: RunStore | None = None,
        runtime: RuntimeConfig | None = None,
    ) -> Campaign:
        """Load a campaign file (YAML or TOML) with ``dotted.key=value`` overrides."""
        spec = load_campaign_spec(path, overrides)
        return cls(spec, store=store, runtime=runtime, base_dir=Path(path).parent)

    @property
    def store(self) -> RunStore:
        if self._store is None:
            self._store = open_project_store(self.spec.project.storage)
        return self._store

    def close(self) -> None:
        """Close the store this campaign opened (a store passed in stays open)."""
        if self._owns_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_finished(self, point: CampaignPoint) -> bool:
        """Whether the store holds this point's run, completed through every stage."""
        stored = self.store.resume(point.run_id)
        return (
            stored is not None
            and stored.status is RunStatus.completed
            and stored.completed_through_stage == STAGES[-1]
        )

    def select(
        self, *, models: list[str] | None = None, benchmarks: list[str] | None = None
    ) -> list[CampaignPoint]:
        """The points of some models (by name or point id) and benchmarks."""
        known_models = {p.model for p in self.points} | {p.point_id for p in self.points}
        known_benchmarks = {p.benchmark for p in self.points}
        for kind, wanted, known in (
            ("model", models, known_models),
            ("benchmark", benchmarks, known_benchmarks),
        ):
            unknown = sorted(set(wanted or []) - known)
            if unknown:
                raise ConfigError(f"unknown {kind}(s) {unknown}; the campaign has {sorted(known)}")
        return [
            p
            for p in self.points
            if (models is None or p.model in models or p.point_id in models)
            and (benchmarks is None or p.benchmark in benchmarks)
        ]

    async def run_async(
        self,
        *,
        points: list[CampaignPoint] | None = None,
        on_point: Callable[[PointOutcome], None] | None = None,
    ) -> CampaignRunResult:
        """Run every point (or the ones given) in order; finished points are skipped.

        A point that fails as a whole (its server is down, a preflight check
        fails) is recorded as failed and the campaign goes on to the next.
        """
        outcomes: list[PointOutcome] = []
        for point in points if points is not None else self.points:
            outcome = await self._run_point(point)
            outcomes.append(outcome)
            if on_point is not None:
                on_point(outcome)
        return CampaignRunResult(project_name=self.spec.project.project_name, points=outcomes)

    def run(
        self,
        *,
        points: list[CampaignPoint] | None = None,
        on_point: Callable[[PointOutcome], None] | None = None,
    ) -> CampaignRunResult:
        """Synchronous :meth:`run_async`."""
        return run_sync(self.run_async(points=points, on_point=on_point), async_name="run_async")

    async def _run_point(self, point: CampaignPoint) -> PointOutcome:
        fields = {
            "point_id": point.point_id,
            "model": point.model,
            "benchmark": point.benchmark,
            "run_id": point.run_id,
        }
        if self.is_finished(point):
            return PointOutcome(
                **fields,
                status=RunStatus.completed,
                skipped=True,
                metric_means=_stored_means(self.store, point.run_id),
            )
        try:
            result = await point.experiment.run_async(store=self.store)
        except Exception as exc:  # one point's failure never stops the campaign
            return PointOutcome(**fields, status=RunStatus.failed, error=f"{exc}")
        return PointOutcome(
            **fields,
            status=result.status,
            metric_means=dict(result.metric_means),
            failed_cases=result.failed_count,
        )


def _stored_means(store: RunStore, run_id: str) -> dict[str, float]:
    """A stored run's means, unparsed answers counted 0 (``themis.core.analysis.outcomes``)."""
    return means(stored_outcomes(store, get_run_snapshot(store, run_id)))

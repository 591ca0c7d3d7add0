"""The catalog API behind the ``themis.catalog`` facade of themis-eval-core.

Registered as the ``catalog`` entry point of the ``themis.adapters`` group;
every public function here is what ``themis.catalog.<function>`` calls.
"""

from __future__ import annotations

from typing import Any

from themis.benchmark import BenchmarkSpec
from themis.catalog.models import BenchmarkCatalogEntry
from themis.core.authoring import registry
from themis.core.models import ComponentRef
from themis_catalog.discovery import benchmark_ids, load_spec, select
from themis_catalog.loading import materialize
from themis_catalog.running import build_experiment, run, run_async
from themis_catalog.validation import validate_benchmark

DISTRIBUTION = "themis-catalog"
COMPONENT_KINDS = ("generator", "reducer", "selector", "parser", "metric", "judge")

__all__ = [
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


def list_benchmark_ids() -> list[str]:
    """Every installed benchmark id, from any distribution."""
    return benchmark_ids()


def _sample_size(spec: BenchmarkSpec) -> int | None:
    try:
        slices = materialize(spec, list(spec.slices), spec.prompt_variant(), source="sample")
    except Exception:
        return None
    return sum(len(s.dataset.cases) for s in slices)


def _entry(spec: BenchmarkSpec, info: registry.ComponentInfo) -> BenchmarkCatalogEntry:
    return BenchmarkCatalogEntry(
        benchmark_id=spec.benchmark_id,
        title=spec.title,
        description=spec.description,
        version=spec.version,
        fingerprint=spec.fingerprint(),
        homepage=spec.homepage,
        tags=list(spec.tags),
        slices=[s.slice_id for s in spec.slices],
        prompt_variants=[p.variant_id for p in spec.prompt_variants],
        scores=[s.name for s in spec.scores],
        judged=spec.judged,
        sources=sorted({s.source.describe() for s in spec.slices}),
        sample_case_count=_sample_size(spec),
        distribution=info.distribution,
        distribution_version=info.distribution_version,
        entry_point=info.entry_point,
    )


def get_benchmark(name: str) -> BenchmarkCatalogEntry:
    """Metadata of the benchmark ``name`` (a variant suffix is accepted and checked)."""
    selection = select(name)
    return _entry(selection.spec, selection.info)


def list_benchmarks() -> list[BenchmarkCatalogEntry]:
    return [_entry(*load_spec(benchmark_id)) for benchmark_id in benchmark_ids()]


def _shipped(kind: str | None = None) -> list[registry.ComponentInfo]:
    kinds = [kind] if kind is not None else [*COMPONENT_KINDS, "benchmark"]
    return [
        info
        for each in kinds
        for info in registry.list_components(each)
        if info.distribution == DISTRIBUTION
    ]


def list_component_ids(*, kind: str | None = None) -> list[str]:
    """Ids of the components and benchmarks themis-catalog ships (of one kind)."""
    return sorted({info.component_id for info in _shipped(kind)})  # one id may be two kinds


def builtin_component_refs() -> dict[str, Any]:
    """A ComponentRef for everything themis-catalog ships, by id."""
    refs: dict[str, Any] = {}
    for info in _shipped():
        if info.kind == "benchmark":
            spec, _ = load_spec(info.component_id)
            refs[info.component_id] = ComponentRef(
                kind="benchmark",
                component_id=info.component_id,
                name=info.component_id,
                version=spec.version,
                fingerprint=spec.fingerprint(),
                distribution=info.distribution,
                distribution_version=info.distribution_version,
                entry_point=info.entry_point,
            )
        else:
            _, ref = registry.resolve(info.kind, info.component_id, where=info.component_id)
            refs[info.component_id] = ref
    return refs


def load(name: str, *, kind: str | None = None) -> object:
    """A component by id (built with default options), or a benchmark's definition
    as ``name`` selects it (``"mmlu_pro:physics"``: that slice only). ``kind``
    picks one where an id names several kinds (``builtin/math_answer`` is a
    parser and a metric)."""
    if "/" in name:
        kinds = [
            each
            for each in COMPONENT_KINDS
            if (kind is None or each == kind)
            and any(info.component_id == name for info in registry.list_components(each))
        ]
        if len(kinds) > 1:
            choices = " or ".join(f"kind={each!r}" for each in kinds)
            raise LookupError(
                f"{name!r} is registered as several kinds {kinds}; pass {choices} to load one"
            )
        if not kinds and kind is not None:
            raise registry.UnknownComponentError(f"no {kind} {name!r} is installed")
        if not kinds:
            known = [info.component_id for info in _shipped()]
            raise registry.UnknownComponentError(
                f"no component {name!r} is installed (the catalog ships {sorted(known)})"
            )
        component, _ = registry.resolve(kinds[0], name, where=name)
        return component
    return select(name).restricted_spec()

"""Finding benchmarks: ``name`` or ``name:variant`` to a definition.

Benchmarks are components of the ``themis.benchmarks`` entry-point group; the
entry point names the benchmark id and points at a BenchmarkSpec or a
function returning one. A variant is one of the benchmark's slices (it runs
that slice alone) or one of its prompt variants.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from themis.benchmark import BenchmarkSpec, PromptVariantSpec, SliceSpec
from themis.core.authoring import registry
from themis.core.errors import ConfigError, UserError


class UnknownVariantError(UserError, LookupError):
    """The ``name:variant`` suffix names no slice or prompt variant of the benchmark."""


@dataclass(frozen=True)
class Selection:
    """What one benchmark name resolves to."""

    name: str
    spec: BenchmarkSpec
    info: registry.ComponentInfo
    slices: list[SliceSpec]
    prompt_variant: PromptVariantSpec

    def restricted_spec(self) -> BenchmarkSpec:
        """The definition as this selection runs it: its slices only, its prompt first."""
        others = [p for p in self.spec.prompt_variants if p is not self.prompt_variant]
        return self.spec.model_copy(
            update={"slices": list(self.slices), "prompt_variants": [self.prompt_variant, *others]}
        )


def split_name(name: str) -> tuple[str, str | None]:
    """``"mmlu_pro:physics"`` -> ``("mmlu_pro", "physics")``."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"benchmark name must be a non-empty string, got {name!r}")
    benchmark_id, _, variant = name.strip().partition(":")
    if not benchmark_id or (":" in name and not variant):
        raise ConfigError(f"benchmark name {name!r} must be 'benchmark' or 'benchmark:variant'")
    return benchmark_id, variant or None


def benchmark_ids() -> list[str]:
    return sorted(info.component_id for info in registry.list_components("benchmark"))


def load_spec(benchmark_id: str) -> tuple[BenchmarkSpec, registry.ComponentInfo]:
    """The definition an installed distribution registers under ``benchmark_id``."""
    target, info = registry.load_factory("benchmark", benchmark_id)
    where = f"benchmark {benchmark_id!r} (distribution {info.distribution or 'unknown'})"
    try:
        value = target() if callable(target) and not isinstance(target, BenchmarkSpec) else target
        spec = value if isinstance(value, BenchmarkSpec) else BenchmarkSpec.model_validate(value)
    except ValidationError as exc:
        raise registry.InvalidComponentError(f"{where}: invalid definition: {exc}") from exc
    if spec.benchmark_id != benchmark_id:
        raise registry.InvalidComponentError(
            f"{where}: the entry point is named {benchmark_id!r} but the definition says "
            f"benchmark_id={spec.benchmark_id!r}"
        )
    return spec, info


def select(name: str, *, prompt_variant: str | None = None) -> Selection:
    """Resolve a benchmark name, and an optional prompt variant, to what runs."""
    benchmark_id, variant = split_name(name)
    spec, info = load_spec(benchmark_id)
    slices = list(spec.slices)
    chosen_prompt = prompt_variant
    if variant is not None:
        slice_ids = [s.slice_id for s in spec.slices]
        prompt_ids = [p.variant_id for p in spec.prompt_variants]
        if variant in slice_ids:
            slices = [spec.slice(variant)]
        elif variant in prompt_ids:
            if prompt_variant is not None and prompt_variant != variant:
                raise ConfigError(
                    f"{name!r} selects prompt variant {variant!r} but prompt_variant="
                    f"{prompt_variant!r} was also given"
                )
            chosen_prompt = variant
        else:
            raise UnknownVariantError(
                f"benchmark {benchmark_id!r} has no variant {variant!r}; slices: {slice_ids}, "
                f"prompt variants: {prompt_ids}"
            )
    try:
        prompt = spec.prompt_variant(chosen_prompt)
    except KeyError as exc:
        raise UnknownVariantError(exc.args[0]) from None
    return Selection(name=name, spec=spec, info=info, slices=slices, prompt_variant=prompt)

"""What the catalog API returns: catalog entries, validation results, and the
run result of a named benchmark (a RunResult with the benchmark's context)."""

from __future__ import annotations

from pydantic import Field, computed_field

from themis.core.models import FrozenModel, JSONValue, RunResult


class BenchmarkCatalogEntry(FrozenModel):
    """Structured metadata of one installed benchmark."""

    benchmark_id: str
    title: str
    description: str = ""
    version: str
    fingerprint: str
    homepage: str | None = None
    tags: list[str] = Field(default_factory=list)
    slices: list[str]
    prompt_variants: list[str]
    scores: list[str]
    judged: bool
    sources: list[str]
    sample_case_count: int | None = None
    distribution: str | None = None
    distribution_version: str | None = None
    entry_point: str | None = None

    @property
    def variants(self) -> list[str]:
        """What ``benchmark_id:variant`` accepts: slices, then prompt variants."""
        return [*self.slices, *self.prompt_variants]


class ValidationCheck(FrozenModel):
    """One check of ``validate_benchmark`` and what it found."""

    name: str
    ok: bool
    detail: str = ""


class BenchmarkValidationResult(FrozenModel):
    """Whether a benchmark loads, its sample materializes, and its reference
    answers score 1.0 through its own parser chain and metrics."""

    name: str
    benchmark_id: str | None = None
    checks: list[ValidationCheck] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def problems(self) -> list[ValidationCheck]:
        return [check for check in self.checks if not check.ok]


class BenchmarkRunResult(RunResult):
    """A RunResult plus the benchmark context of the run.

    ``metadata`` records the benchmark, variant, prompt variant, data source
    and, loudly, anything that makes the score not a real benchmark score:
    ``metadata["demo_judge"]`` is true when judge-scored metrics were graded
    by builtin/demo_judge, ``metadata["sample"]`` when the run used the
    offline sample. ``warnings`` says the same in words.
    """

    benchmark_id: str
    name: str
    prompt_variant: str
    slices: list[str]
    source: str
    metadata: dict[str, JSONValue] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

"""Running a named benchmark: its definition compiled into an Experiment.

The Experiment is an ordinary one: the benchmark's slices are its datasets,
the prompt variant's instructions and few-shot turns its PromptSpec, the
parser chain and scores its evaluation config, so the run id covers the
data, the rendered prompts and every component, and replay, rejudge, reports
and comparisons work on catalog runs like on any other.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis.benchmark import BenchmarkSpec
from themis.catalog.models import BenchmarkRunResult
from themis.core.authoring import registry
from themis.core.authoring.evaluate import as_list
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.errors import ConfigError
from themis.core.experiment import Experiment, run_sync
from themis.core.models import JSONValue, RunResult
from themis.core.storage.stores.base import RunStore
from themis_catalog.discovery import Selection, select
from themis_catalog.loading import (
    BenchmarkDataError,
    MaterializedSlice,
    materialize,
    source_label,
)

log = logging.getLogger(__name__)

DEMO_JUDGE_NOTICE = (
    "{name}: judge-scored metrics {metrics} are graded by builtin/demo_judge, a "
    "string-matching stand-in that is NOT a real grader; this score is not a {benchmark} "
    "score. Pass judge=<a real judge model> for one."
)


class JudgeRequiredError(ConfigError):
    """A judge-scored benchmark was run without a judge model."""


class DemoJudgeWarning(UserWarning):
    """A judge-scored benchmark is graded by the demo judge, not a real grader."""


@dataclass
class PreparedBenchmark:
    """A benchmark's checked inputs and materialized data, before a model is chosen."""

    selection: Selection
    slices: list[MaterializedSlice]
    judges: list[Any]
    source: str
    metadata: dict[str, JSONValue] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    demo_judge_notice: str | None = None


@dataclass
class BenchmarkRun:
    """An Experiment built from a benchmark, with what it was built from."""

    prepared: PreparedBenchmark
    experiment: Experiment


def _is_demo_judge(spec: object, index: int) -> bool:
    judge, _ = registry.resolve("judge", spec, where=f"judge[{index}]")
    return bool(getattr(judge, "is_demo", False))


def _source(source: str | Path) -> str | Path:
    if isinstance(source, str) and source in ("full", "sample"):
        return source
    if isinstance(source, str | Path):
        return Path(source)
    raise TypeError(f"source must be 'full', 'sample' or a path; got {type(source).__name__}")


MAX_LISTED_REFERENCES = 5


def check_references(spec: BenchmarkSpec, slices: Sequence[MaterializedSlice]) -> None:
    """Every case's expected answer must be one its metrics can compare against.

    A metric says so through an optional ``check_reference(expected) -> str | None``;
    an expected answer it cannot read is a benchmark error, raised here, before
    any work, never a case silently left out of the mean.
    """
    problems: list[str] = []
    for score in spec.scores:
        metric, _ = registry.resolve("metric", score.metric.as_config(), where=score.name)
        check = getattr(metric, "check_reference", None)
        if check is None:
            continue
        for each in slices:
            for case in each.dataset.cases:
                problem = check(case.expected_output)
                if problem:
                    problems.append(f"{each.dataset.dataset_id}::{case.case_id}: {problem}")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED_REFERENCES])
        more = len(problems) - MAX_LISTED_REFERENCES
        raise BenchmarkDataError(
            f"{spec.benchmark_id}: {len(problems)} expected answer(s) cannot be scored: {listed}"
            + (f" (and {more} more)" if more > 0 else "")
        )


def prepare_benchmark(
    name: str,
    *,
    judge: object | Sequence[object] | None = None,
    limit: int | None = None,
    source: str | Path = "full",
    prompt_variant: str | None = None,
) -> PreparedBenchmark:
    """Resolve the name, check the judges, and materialize the data."""
    selection = select(name, prompt_variant=prompt_variant)
    spec = selection.spec
    judges = as_list(judge)
    judged = [score.name for score in spec.scores if score.judged]
    if judged and not judges:
        raise JudgeRequiredError(
            f"{spec.benchmark_id} is judge-scored (metrics {judged} are graded by judge "
            "models): pass judge=<judge model id, mapping or object>, or a list for a panel, "
            "e.g. judge={'id': 'openai/judge', 'options': {'model': 'gpt-4o-mini'}} from "
            "themis-adapters-openai. judge='builtin/demo_judge' only exercises the plumbing: "
            "it is not a real grader."
        )
    if judges and not judged:
        raise ConfigError(
            f"{spec.benchmark_id} has no judge-scored metric, so judge= would be unused; drop it"
        )
    demo = any(_is_demo_judge(each, index) for index, each in enumerate(judges))
    where = _source(source)
    slices = materialize(
        spec, selection.slices, selection.prompt_variant, source=where, limit=limit
    )
    check_references(spec, slices)
    case_count = sum(len(s.dataset.cases) for s in slices)
    prepared = PreparedBenchmark(
        selection=selection,
        slices=slices,
        judges=judges,
        source=source_label(where),
        metadata={
            "benchmark_version": spec.version,
            "benchmark_fingerprint": spec.fingerprint(),
            "source": source_label(where),
            "sample": where == "sample",
            "demo_judge": demo,
            "case_count": case_count,
            "revisions": {s.dataset.dataset_id: s.dataset.revision for s in slices},
        },
    )
    if where == "sample":
        prepared.warnings.append(
            f"{name}: scored on the {case_count}-case offline sample, not the full "
            "benchmark; pass source='full' (the default) for the real score."
        )
    if demo:
        prepared.demo_judge_notice = DEMO_JUDGE_NOTICE.format(
            name=name, metrics=judged, benchmark=spec.benchmark_id
        )
        prepared.warnings.append(prepared.demo_judge_notice)
    return prepared


def experiment_for(
    prepared: PreparedBenchmark,
    model: object,
    *,
    samples: int | None = None,
    seeds: list[int] | None = None,
    runtime: RuntimeConfig | None = None,
) -> Experiment:
    """The Experiment that runs ``prepared`` with ``model`` as the generator."""
    spec = prepared.selection.spec
    variant = prepared.selection.prompt_variant
    num_samples: int | None = samples or spec.samples
    if samples is None and spec.samples == 1 and seeds is not None and len(seeds) > 1:
        num_samples = None  # as in evaluate(): one candidate per seed
    return Experiment(
        generation=GenerationConfig(
            generator=model,
            candidate_policy={"num_samples": num_samples},
            reducer=spec.reducer.as_config() if spec.reducer else None,
            prompt_spec=variant.prompt_spec(),
        ),
        evaluation=EvaluationConfig(
            parsers=_stop_cut(variant.stop) + [parser.as_config() for parser in spec.parse.chain],
            metrics=[score.metric.as_config(name=score.name) for score in spec.scores],
            judge_models=prepared.judges,
            judge_config={s.name: dict(s.judge_config) for s in spec.scores if s.judged},
        ),
        runtime=runtime or RuntimeConfig(),
        datasets=[s.dataset for s in prepared.slices],
        environment_metadata={
            "themis.catalog.benchmark": prepared.selection.name,
            "themis.catalog.prompt_variant": variant.variant_id,
            "themis.catalog.source": prepared.source,
            "themis.catalog.demo_judge": str(prepared.metadata["demo_judge"]).lower(),
        },
        **({"seeds": seeds} if seeds is not None else {}),
    )


def _stop_cut(stop: list[str]) -> list[dict[str, JSONValue]]:
    """catalog/cut_at_stop first in the chain of a variant with stop sequences."""
    if not stop:
        return []
    return [{"id": "catalog/cut_at_stop", "options": {"stop": list(stop)}}]


def build_benchmark_run(
    name: str,
    *,
    model: object | None = None,
    judge: object | Sequence[object] | None = None,
    limit: int | None = None,
    source: str | Path = "full",
    prompt_variant: str | None = None,
    samples: int | None = None,
    seeds: list[int] | None = None,
    runtime: RuntimeConfig | None = None,
) -> BenchmarkRun:
    """Check the inputs, materialize the data and build the Experiment (runs nothing)."""
    if model is None:
        raise ConfigError(
            f"catalog run {name!r} needs a model: pass model=<generator id, mapping or object>. "
            "No stand-in can answer a real benchmark (builtin/demo_generator only does "
            "arithmetic), so the catalog does not substitute one."
        )
    prepared = prepare_benchmark(
        name, judge=judge, limit=limit, source=source, prompt_variant=prompt_variant
    )
    experiment = experiment_for(prepared, model, samples=samples, seeds=seeds, runtime=runtime)
    return BenchmarkRun(prepared, experiment)


def build_experiment(name: str, **options: Any) -> Experiment:
    """The Experiment :func:`run` executes for ``name``."""
    return build_benchmark_run(name, **options).experiment


def benchmark_result(prepared: PreparedBenchmark, result: RunResult) -> BenchmarkRunResult:
    return BenchmarkRunResult(
        **{name: getattr(result, name) for name in RunResult.model_fields},
        benchmark_id=prepared.selection.spec.benchmark_id,
        name=prepared.selection.name,
        prompt_variant=prepared.selection.prompt_variant.variant_id,
        slices=[s.slice_id for s in prepared.selection.slices],
        source=prepared.source,
        metadata=prepared.metadata,
        warnings=prepared.warnings,
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
    """Run a named benchmark; see ``themis.catalog.run``."""
    run = build_benchmark_run(
        name,
        model=model,
        judge=judge,
        limit=limit,
        source=source,
        prompt_variant=prompt_variant,
        samples=samples,
        seeds=seeds,
        runtime=runtime,
    )
    notice = run.prepared.demo_judge_notice
    if notice is not None:
        log.warning(notice)
        warnings.warn(DemoJudgeWarning(notice), stacklevel=2)
    result = await run.experiment.run_async(store=store)
    return benchmark_result(run.prepared, result)


def run(name: str, **options: Any) -> BenchmarkRunResult:
    """Synchronous :func:`run_async` (no running event loop)."""
    return run_sync(run_async(name, **options), async_name="run_async")

"""Work items and their keys, derived from a snapshot alone.

Every key hashes the inputs of its work item and the identity of the
components that produce it, never the run id, so a result computed by one run
is found by any other run that would compute the same thing (DESIGN.md,
"Identity"). Because a key depends only on upstream *keys*, never on upstream
*results*, the whole plan is known before any work starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from themis.core.identity import short_hash
from themis.core.models import STAGES, Case, ComponentRef, RunSnapshot, case_key_for

JUDGE_FAMILIES = frozenset({"llm", "selection", "trace"})


def derived_seed(base_seed: int, sample_index: int) -> int:
    """The seed a generator sees: the experiment seed for the first sample,
    a stable derivation of it for the others."""
    if sample_index == 0:
        return base_seed
    return int(short_hash("sample-seed", base_seed, sample_index)[:8], 16)


@dataclass(frozen=True, slots=True)
class GenerationWorkItem:
    """One candidate to generate: a case, a seed and a sample index, keyed."""

    work_key: str
    seed: int
    base_seed: int
    sample_index: int


@dataclass(frozen=True, slots=True)
class MetricItem:
    work_key: str
    metric_id: str
    ref: ComponentRef
    stage: str  # "score" or "judge"


@dataclass(frozen=True, slots=True)
class CasePlan:
    case: Case
    dataset_id: str
    case_key: str
    generations: tuple[GenerationWorkItem, ...]
    reduce_key: str
    parse_key: str
    metrics: tuple[MetricItem, ...]

    def keys_for(self, stage: str) -> list[str]:
        if stage == "generate":
            return [item.work_key for item in self.generations]
        if stage == "reduce":
            return [self.reduce_key]
        if stage == "parse":
            return [self.parse_key]
        return [item.work_key for item in self.metrics if item.stage == stage]

    def all_keys(self) -> list[str]:
        return [key for stage in STAGES for key in self.keys_for(stage)]


def metric_stage(family: str) -> str:
    return "judge" if family in JUDGE_FAMILIES else "score"


def plan_cases(snapshot: RunSnapshot) -> list[CasePlan]:
    """One plan per case, in dataset and case order."""
    identity = snapshot.identity
    refs = snapshot.component_refs
    generator = refs.generator.identity()
    num_samples = int(identity.candidate_policy.get("num_samples", 1))
    reducer_identity = [
        refs.reducer.identity(),
        refs.selector.identity() if refs.selector else None,
    ]
    parser_identity = [ref.identity() for ref in refs.parsers]
    judge_identity = [ref.identity() for ref in refs.judge_models]
    plans: list[CasePlan] = []
    for dataset in snapshot.datasets:
        for case in dataset.cases:
            case_key = case_key_for(dataset.dataset_id, case.case_id)
            generations = tuple(
                GenerationWorkItem(
                    work_key=short_hash(
                        "generate",
                        generator,
                        identity.prompt_spec,
                        dataset.dataset_id,
                        case.case_id,
                        case.input,
                        case.metadata,
                        base_seed,
                        sample_index,
                    ),
                    seed=derived_seed(base_seed, sample_index),
                    base_seed=base_seed,
                    sample_index=sample_index,
                )
                for base_seed in identity.seeds
                for sample_index in range(num_samples)
            )
            generation_keys = [item.work_key for item in generations]
            reduce_key = short_hash("reduce", reducer_identity, generation_keys)
            parse_key = short_hash("parse", parser_identity, reduce_key)
            metrics: list[MetricItem] = []
            for ref in refs.metrics:
                stage = metric_stage(ref.family or "pure")
                if stage == "score":
                    key = short_hash(
                        "score", ref.identity(), parse_key, case.expected_output, case.metadata
                    )
                else:
                    key = short_hash(
                        "judge",
                        ref.identity(),
                        judge_identity,
                        identity.workflow_overrides,
                        identity.judge_config,
                        parse_key,
                        generation_keys,
                        case.input,
                        case.expected_output,
                        case.metadata,
                    )
                metrics.append(MetricItem(key, ref.name, ref, stage))
            plans.append(
                CasePlan(
                    case=case,
                    dataset_id=dataset.dataset_id,
                    case_key=case_key,
                    generations=generations,
                    reduce_key=reduce_key,
                    parse_key=parse_key,
                    metrics=tuple(metrics),
                )
            )
    return plans

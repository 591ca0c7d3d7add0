"""Work items and their keys, derived from a snapshot alone.

Every key hashes the inputs of its work item and the identity of the
components that produce it, never the run id, so a result computed by one run
is found by any other run that would compute the same thing (docs/architecture.md,
"Identity"). Because a key depends only on upstream *keys*, never on upstream
*results*, the whole plan is known before any work starts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from themis.core.authoring.identity import canonical_json, short_hash, short_hash_encoded
from themis.core.errors import CandidateSeedsError as CandidateSeedsError
from themis.core.models import STAGES, Case, ComponentRef, RunSnapshot, case_key_for

JUDGE_FAMILIES = frozenset({"llm", "selection", "trace"})


def derived_seed(base_seed: int, sample_index: int) -> int:
    """The seed a generator sees: the experiment seed for the first sample,
    a stable derivation of it for the others."""
    if sample_index == 0:
        return base_seed
    return int(short_hash("sample-seed", base_seed, sample_index)[:8], 16)


def candidate_seeds(seeds: Sequence[int], num_samples: int) -> list[tuple[int, int]]:
    """``(seed, base_seed)`` for each candidate of a case, in candidate order.

    ``num_samples`` is the number of candidates per case. As many seeds as
    candidates give candidate ``i`` the seed ``seeds[i]``; a single seed is
    spread over the candidates (the first sees it, the others a stable
    derivation of it, never of the run id). Any other count is an error.
    """
    if len(seeds) == num_samples:
        return [(seed, seed) for seed in seeds]
    if len(seeds) == 1:
        return [(derived_seed(seeds[0], index), seeds[0]) for index in range(num_samples)]
    single = (
        "a single seed"
        if num_samples == 1
        else f"a single seed to derive {num_samples} candidates' seeds from"
    )
    raise CandidateSeedsError(
        f"seeds: {len(seeds)} seeds {list(seeds)} for num_samples {num_samples}; each candidate "
        "of a case gets one seed, so give one seed per candidate "
        f"(generation.candidate_policy.num_samples={len(seeds)}) or {single}"
    )


def resolve_num_samples(seeds: Sequence[int], num_samples: int | None) -> int:
    """Candidates per case: ``num_samples`` when given, else one per seed."""
    resolved = len(seeds) if num_samples is None else num_samples
    candidate_seeds(seeds, resolved)  # raises when the seeds do not fit
    return resolved


@dataclass(frozen=True, slots=True)
class GenerationWorkItem:
    """One candidate to generate: a case, a seed and a sample index, keyed.

    ``sample_index`` is the candidate's index within its case; ``base_seed``
    the experiment seed its ``seed`` comes from."""

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
    return list(iter_plans(snapshot))


def case_count(snapshot: RunSnapshot) -> int:
    return sum(len(dataset.cases) for dataset in snapshot.datasets)


def case_keys(snapshot: RunSnapshot, start: int, stop: int) -> list[str]:
    """The case keys of the cases at positions ``start`` to ``stop`` (no hashing)."""
    keys: list[str] = []
    offset = 0
    for dataset in snapshot.datasets:
        first, last = max(start - offset, 0), min(stop - offset, len(dataset.cases))
        offset += len(dataset.cases)
        keys.extend(
            case_key_for(dataset.dataset_id, case.case_id) for case in dataset.cases[first:last]
        )
    return keys


def items_per_case(snapshot: RunSnapshot, until_stage: str) -> int:
    """How many work items each case has up to ``until_stage``: the same for every case."""
    refs = snapshot.component_refs
    stages = STAGES[: STAGES.index(until_stage) + 1]
    num_samples = int(snapshot.identity.candidate_policy.get("num_samples", 1))
    metrics = sum(metric_stage(ref.family or "pure") in stages for ref in refs.metrics)
    return (
        num_samples * ("generate" in stages) + ("reduce" in stages) + ("parse" in stages) + metrics
    )


def iter_plans(
    snapshot: RunSnapshot, start: int = 0, stop: int | None = None
) -> Iterator[CasePlan]:
    """Plans one case at a time, so a run sends its first requests before the
    last case is planned.

    ``start`` and ``stop`` plan only the cases at those positions of the run
    (in dataset and case order), skipping the others without hashing them:
    ``RunResult.cases`` plans a page of cases at a time.

    Keys hash the canonical JSON of their parts (see ``short_hash``); the parts
    every case shares, and each case's own fields, are encoded once.
    """
    identity = snapshot.identity
    refs = snapshot.component_refs
    num_samples = int(identity.candidate_policy.get("num_samples", 1))
    generate_prefix = [
        canonical_json("generate"),
        canonical_json(refs.generator.identity()),
        canonical_json(identity.prompt_spec),
    ]
    # A selector may ask the experiment's judges (SelectContext.judge_models),
    # so with a selector they are part of the selection's identity.
    reducer_identity = canonical_json(
        [refs.reducer.identity(), refs.selector.identity() if refs.selector else None]
        + ([[ref.identity() for ref in refs.judge_models]] if refs.selector else [])
    )
    parser_identity = canonical_json([ref.identity() for ref in refs.parsers])
    judge_shared = [
        canonical_json([ref.identity() for ref in refs.judge_models]),
        canonical_json(identity.workflow_overrides),
        canonical_json(identity.judge_config),
    ]
    metric_refs = [
        (ref, metric_stage(ref.family or "pure"), canonical_json(ref.identity()))
        for ref in refs.metrics
    ]
    # A generation key hashes the seed the candidate sees and its index, so a
    # first candidate keeps the key it always had. Later candidates add a
    # marker: before candidates and seeds were one-to-one, (seed s, index i)
    # named a candidate that saw a seed derived from s, and a store written
    # then must never hand that candidate out as this one.
    samples = [
        (
            seed,
            base_seed,
            index,
            canonical_json(seed),
            canonical_json(index) if index == 0 else canonical_json([index, "candidate-seed"]),
        )
        for index, (seed, base_seed) in enumerate(candidate_seeds(identity.seeds, num_samples))
    ]
    reduce_tag, parse_tag = canonical_json("reduce"), canonical_json("parse")
    score_tag, judge_tag = canonical_json("score"), canonical_json("judge")
    offset = 0
    for dataset in snapshot.datasets:
        first = max(start - offset, 0)
        last = len(dataset.cases) if stop is None else min(stop - offset, len(dataset.cases))
        offset += len(dataset.cases)
        if first >= last:
            continue
        dataset_id = canonical_json(dataset.dataset_id)
        for case in dataset.cases[first:last]:
            case_id = canonical_json(case.case_id)
            case_input = canonical_json(case.input)
            metadata = canonical_json(case.metadata)
            expected = canonical_json(case.expected_output)
            generations = tuple(
                GenerationWorkItem(
                    work_key=short_hash_encoded(
                        *generate_prefix, dataset_id, case_id, case_input, metadata, seed, index
                    ),
                    seed=candidate_seed,
                    base_seed=base_seed,
                    sample_index=sample_index,
                )
                for candidate_seed, base_seed, sample_index, seed, index in samples
            )
            generation_keys = canonical_json([item.work_key for item in generations])
            reduce_key = short_hash_encoded(reduce_tag, reducer_identity, generation_keys)
            parse_key = short_hash_encoded(parse_tag, parser_identity, canonical_json(reduce_key))
            parse_key_json = canonical_json(parse_key)
            metrics: list[MetricItem] = []
            for ref, stage, ref_identity in metric_refs:
                if stage == "score":
                    key = short_hash_encoded(
                        score_tag, ref_identity, parse_key_json, expected, metadata
                    )
                else:
                    key = short_hash_encoded(
                        judge_tag,
                        ref_identity,
                        *judge_shared,
                        parse_key_json,
                        generation_keys,
                        case_input,
                        expected,
                        metadata,
                    )
                metrics.append(MetricItem(key, ref.name, ref, stage))
            yield CasePlan(
                case=case,
                dataset_id=dataset.dataset_id,
                case_key=case_key_for(dataset.dataset_id, case.case_id),
                generations=generations,
                reduce_key=reduce_key,
                parse_key=parse_key,
                metrics=tuple(metrics),
            )

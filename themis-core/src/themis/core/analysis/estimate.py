"""RunEstimate: what a run will do, worked out from its snapshot without running it.

The plan of every case is derived from the snapshot alone (see
``themis.core.engine.plan``), so the number of work items per stage is exact.
A work item whose key already has a completed result in the store is reused
by the engine instead of recomputed; the estimate asks the store the same
question, so ``to_run`` is what the next run would compute.

Prompt tokens are an estimate, not a count: every model tokenises
differently. Themis uses the common rule of thumb of one token per four
characters of prompt text. Generation prompts are rendered exactly as
provider adapters render them (``PromptSpec`` blocks, prefix, case input,
suffix, instructions). Judge prompts cannot be rendered before the answer
they judge exists, so their estimate counts the case input, the reference
answer and the workflow overrides (such as a rubric): a lower bound.
"""

from __future__ import annotations

import json
import math

from pydantic import Field

from themis.core.authoring.prompts import PromptSpec, case_input_text, render_messages
from themis.core.engine.plan import CasePlan, plan_cases
from themis.core.engine.runner import metric_judge_config, select_judges
from themis.core.models import STAGES, FrozenModel, RunSnapshot
from themis.core.storage.stores.base import RunStore, StoreNotFoundError

CHARS_PER_TOKEN = 4
"""The prompt-token heuristic: one token per this many characters."""


class StageEstimate(FrozenModel):
    """Work items of one stage: planned, already in the store, and left to compute."""

    planned: int
    cached: int
    to_run: int


class RunEstimate(FrozenModel):
    """Planned work of a run: items per stage, expected cache hits, judge calls, prompt tokens.

    Informational only; not pricing. Judge calls assume one call per judge
    model a judge-backed metric uses, for each case (what ``builtin/llm_rubric``
    does); a workflow that compares candidates pairwise makes more.
    """

    run_id: str
    cases: int
    seeds: int
    candidates_per_case: int
    stages: dict[str, StageEstimate]
    generator_calls: int
    judge_calls: int
    judge_calls_by_metric: dict[str, int] = Field(default_factory=dict)
    judge_calls_by_model: dict[str, int] = Field(default_factory=dict)
    prompt_tokens: int
    prompt_tokens_by_stage: dict[str, int] = Field(default_factory=dict)
    chars_per_token: int = CHARS_PER_TOKEN

    @property
    def cache_hits(self) -> int:
        """Work items the store already holds, over every stage."""
        return sum(stage.cached for stage in self.stages.values())


def tokens_for(text: str) -> int:
    """Estimated tokens of ``text`` (``ceil(chars / 4)``)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_run(snapshot: RunSnapshot, store: RunStore | None = None) -> RunEstimate:
    """The estimate for ``snapshot``; ``store`` (if given) supplies cache hits."""
    plans = plan_cases(snapshot)
    cached: set[str] = set()
    if store is not None:
        keys = [key for plan in plans for key in plan.all_keys()]
        try:
            cached = set(store.find_completed(keys, prefer_run_id=snapshot.run_id))
        except StoreNotFoundError:
            cached = set()  # a store not created yet holds nothing to reuse
    stages = {
        stage: _stage(
            [key for plan in plans for key in plan.keys_for(stage)],
            cached,
        )
        for stage in STAGES
    }
    spec_data = snapshot.identity.prompt_spec
    spec = None if spec_data is None else PromptSpec.model_validate(spec_data)
    judge_refs = snapshot.component_refs.judge_models
    metric_names = [ref.name for ref in snapshot.component_refs.metrics]
    judges_of = {
        name: [
            ref.name
            for ref, _ in select_judges(
                [(ref, None) for ref in judge_refs],
                metric_judge_config(snapshot.identity.judge_config, metric_names, name),
            )
        ]
        for name in metric_names
    }
    overrides = json.dumps(snapshot.identity.workflow_overrides, sort_keys=True)
    by_metric: dict[str, int] = {}
    by_model = dict.fromkeys((ref.name for ref in judge_refs), 0)
    generation_tokens = judge_tokens = 0
    for plan in plans:
        to_generate = sum(item.work_key not in cached for item in plan.generations)
        generation_tokens += to_generate * _generation_prompt_tokens(plan, spec)
        for metric in plan.metrics:
            if metric.stage != "judge":
                continue
            by_metric.setdefault(metric.metric_id, 0)
            if metric.work_key in cached:
                continue
            judges = judges_of[metric.metric_id]
            by_metric[metric.metric_id] += len(judges)
            for name in judges:
                by_model[name] += 1
            judge_tokens += len(judges) * _judge_prompt_tokens(plan, overrides)
    identity = snapshot.identity
    return RunEstimate(
        run_id=snapshot.run_id,
        cases=len(plans),
        seeds=len(identity.seeds),
        candidates_per_case=int(identity.candidate_policy.get("num_samples", 1)),
        stages=stages,
        generator_calls=stages["generate"].to_run,
        judge_calls=sum(by_metric.values()),
        judge_calls_by_metric=by_metric,
        judge_calls_by_model=by_model,
        prompt_tokens=generation_tokens + judge_tokens,
        prompt_tokens_by_stage={"generate": generation_tokens, "judge": judge_tokens},
    )


def _stage(keys: list[str], cached: set[str]) -> StageEstimate:
    hits = sum(key in cached for key in keys)
    return StageEstimate(planned=len(keys), cached=hits, to_run=len(keys) - hits)


def _generation_prompt_tokens(plan: CasePlan, spec: PromptSpec | None) -> int:
    messages = render_messages(spec, plan.case.input)
    return sum(tokens_for(str(message.content)) for message in messages)


def _judge_prompt_tokens(plan: CasePlan, overrides: str) -> int:
    reference = json.dumps(plan.case.expected_output, sort_keys=True, ensure_ascii=False)
    return tokens_for(case_input_text(plan.case.input) + reference + overrides)

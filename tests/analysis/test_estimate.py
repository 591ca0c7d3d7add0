"""RunEstimate: planned work, cache hits and prompt tokens, computed without running."""

from __future__ import annotations

import math

from tests.analysis.helpers import ReplayableGenerator, judged_experiment, replayable_experiment
from tests.conftest import arithmetic_dataset
from themis import InMemoryRunStore, PromptSpec, RunEstimate
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.storage.events import EvaluationCompletedEvent


def test_planned_work_per_stage_without_running_anything() -> None:
    refusing = ReplayableGenerator(explode=True)  # estimating must never generate
    experiment = replayable_experiment(
        refusing,
        generation=GenerationConfig(
            generator=refusing, candidate_policy={"num_samples": 3}, reducer="builtin/majority_vote"
        ),
        seeds=[1],
    )
    store = InMemoryRunStore()
    estimate = experiment.estimate(store=store)
    assert isinstance(estimate, RunEstimate)
    assert (estimate.cases, estimate.seeds, estimate.candidates_per_case) == (5, 1, 3)
    planned = {stage: s.planned for stage, s in estimate.stages.items()}
    assert planned == {"generate": 15, "reduce": 5, "parse": 5, "score": 10, "judge": 0}
    assert all(s.cached == 0 and s.to_run == s.planned for s in estimate.stages.values())
    assert estimate.generator_calls == 15 and estimate.judge_calls == 0
    assert estimate.cache_hits == 0
    assert list(store.list_runs()) == []  # nothing was run or stored


def test_cache_hits_come_from_the_store() -> None:
    store = InMemoryRunStore()
    replayable_experiment(ReplayableGenerator()).run(store=store)
    again = replayable_experiment(ReplayableGenerator()).estimate(store=store)
    assert all(s.to_run == 0 and s.cached == s.planned for s in again.stages.values())
    assert again.generator_calls == 0 and again.prompt_tokens == 0
    # A run that differs only in its metric reuses generation, reduction and parsing.
    rescored = replayable_experiment(
        ReplayableGenerator(),
        evaluation=EvaluationConfig(
            metrics=["builtin/contains"], parsers=["builtin/json_identity"]
        ),
    ).estimate(store=store)
    assert rescored.stages["generate"].cached == 5 and rescored.stages["parse"].cached == 5
    assert rescored.stages["score"].to_run == 5
    assert rescored.generator_calls == 0


def test_default_store_is_the_one_run_uses() -> None:
    experiment = replayable_experiment(ReplayableGenerator())
    assert experiment.estimate().generator_calls == 5
    experiment.run()
    assert experiment.estimate().generator_calls == 0


def test_judge_calls_match_what_a_run_makes() -> None:
    experiment = judged_experiment()
    store = InMemoryRunStore()
    estimate = experiment.estimate(store=store)
    assert estimate.stages["judge"].planned == 3
    assert estimate.judge_calls_by_metric == {"builtin/llm_rubric": 6}
    assert estimate.judge_calls_by_model == {"builtin/demo_judge": 3, "second": 3}
    result = experiment.run(store=store)
    made = sum(
        len(event.execution["calls"])
        for event in store.iter_events(result.run_id)
        if isinstance(event, EvaluationCompletedEvent)
    )
    assert estimate.judge_calls == made == 6
    assert estimate.prompt_tokens_by_stage["judge"] > 0


def test_metric_judge_config_narrows_the_judges() -> None:
    experiment = judged_experiment(
        evaluation=EvaluationConfig(
            metrics=["builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=["builtin/demo_judge", {"id": "builtin/demo_judge", "name": "second"}],
            judge_config={"builtin/llm_rubric": {"judge_models": ["second"]}},
        )
    )
    estimate = experiment.estimate(store=InMemoryRunStore())
    assert estimate.judge_calls_by_model == {"builtin/demo_judge": 0, "second": 3}


def test_prompt_tokens_use_the_rendered_prompt() -> None:
    dataset = arithmetic_dataset(count=2)  # questions "0+0" and "1+1"
    experiment = replayable_experiment(
        ReplayableGenerator(),
        generation=GenerationConfig(
            generator=ReplayableGenerator(),
            prompt_spec=PromptSpec(instructions="Answer briefly.", prefix="Q:", suffix="A:"),
        ),
        datasets=[dataset],
    )
    estimate = experiment.estimate(store=InMemoryRunStore())
    # system "Answer briefly." (15 chars) + user "Q:\n\n0+0\n\nA:" (11 chars), per case
    per_case = math.ceil(15 / 4) + math.ceil(11 / 4)
    assert estimate.prompt_tokens_by_stage == {"generate": 2 * per_case, "judge": 0}
    assert estimate.prompt_tokens == 2 * per_case

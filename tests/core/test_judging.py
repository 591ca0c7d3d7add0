"""Judge-backed evaluation: panels, unparseable answers, stored executions,
stage boundaries, replay and rejudge."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore, get_evaluation_execution
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.models import (
    Case,
    Dataset,
    GenerationResult,
    RunStatus,
    Score,
    ScoreError,
    TraceStep,
)
from themis.core.storage.events import (
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    GenerationCompletedEvent,
    ScoreCompletedEvent,
)
from themis.core.workflows import WorkflowTrace

STRICT = {"id": "builtin/demo_judge", "name": "strict", "options": {"behaviour": "fail"}}
LENIENT = {"id": "builtin/demo_judge", "name": "lenient", "options": {"behaviour": "pass"}}
COMPARE = {"id": "builtin/demo_judge", "name": "compare"}


def rubric_experiment(*judges: Any, **evaluation: Any) -> Any:
    config = {
        "metrics": ["builtin/llm_rubric"],
        "parsers": ["builtin/json_identity"],
        "judge_models": list(judges),
        "workflow_overrides": {"rubric": "pass if the answer is correct"},
    }
    config.update(evaluation)
    return make_experiment(evaluation=EvaluationConfig(**config))


def events_of(store: InMemoryRunStore, run_id: str, kind: type) -> list[Any]:
    return [e for e in store.iter_events(run_id) if isinstance(e, kind)]


def test_rubric_with_the_demo_judge_scores_correct_answers() -> None:
    result = rubric_experiment(COMPARE).run()
    assert result.status is RunStatus.completed
    assert result.metric_means == {"builtin/llm_rubric": 1.0}


def test_panel_of_two_disagreeing_judges_is_aggregated_with_agreement() -> None:
    store = InMemoryRunStore()
    result = rubric_experiment(STRICT, LENIENT).run(store=store)
    assert result.metric_means == {"builtin/llm_rubric": 0.5}
    details = result.cases[0].scores[0].details
    assert details["verdicts"] == ["fail", "pass"]
    assert details["agreement"] == 0.0
    assert details["judge_scores"] == [0.0, 1.0]
    majority = rubric_experiment(STRICT, LENIENT, judge_config={"aggregation": "majority"}).run()
    assert majority.metric_means == {"builtin/llm_rubric": 0.0}
    execution = get_evaluation_execution(store, result.run_id, "c1", "builtin/llm_rubric")
    assert execution is not None
    assert [call.judge_model_id for call in execution.judge_calls] == ["strict", "lenient"]
    assert [r.model for r in execution.judge_responses] == ["strict", "lenient"]
    assert [j["verdict"] for j in execution.parsed_judgments] == ["fail", "pass"]  # type: ignore[index, call-overload]
    assert len(execution.scores) == 2
    assert isinstance(execution.aggregation_output, Score)
    assert execution.aggregation_output.value == 0.5


def test_unparseable_judge_answer_is_retried_then_a_scoring_error() -> None:
    garbage = {"id": "builtin/demo_judge", "options": {"behaviour": "garbage"}}
    store = InMemoryRunStore()
    result = rubric_experiment(garbage, judge_config={"parse_retries": 2}).run(store=store)
    assert result.status is RunStatus.failed  # every case failed, but the run completed
    case = result.cases[0]
    assert case.scores == []
    (error,) = case.score_errors
    assert "unparseable judgment" in error.reason
    assert case.errors[0].category == "parse_error"
    failed = events_of(store, result.run_id, EvaluationFailedEvent)
    assert len(failed) == 4
    assert failed[0].execution["calls"][0]["attempts"] == 3
    assert failed[0].execution["calls"][0]["response_text"] == "I would rather not say."
    execution = get_evaluation_execution(store, result.run_id, "c0", "builtin/llm_rubric")
    assert execution is not None and execution.status == "failed"
    assert execution.score is None and isinstance(execution.aggregation_output, ScoreError)
    (failure,) = execution.failures
    assert failure.call_id == execution.judge_calls[0].call_id
    assert "unparseable judgment" in failure.error
    assert execution.parsed_judgments == [] and execution.scores == []
    assert [r.text for r in execution.judge_responses] == ["I would rather not say."]


def test_every_judge_call_is_stored_and_inspectable() -> None:
    store = InMemoryRunStore()
    result = rubric_experiment(COMPARE).run(store=store)
    execution = get_evaluation_execution(store, result.run_id, "c2", "builtin/llm_rubric")
    assert execution is not None and execution.score is not None
    assert execution.status == "completed" and execution.failures == []
    assert execution.subject_kind == "reduced_candidate"
    assert isinstance(execution.trace, WorkflowTrace)
    assert execution.trace.metric_id == "builtin/llm_rubric"
    assert execution.execution_id in {e.event_id for e in store.iter_events(result.run_id)}
    (call,) = execution.judge_calls
    assert execution.trace.calls == [call]
    (prompt,) = execution.rendered_prompts
    prompt_text = " ".join(message["content"] for message in prompt)  # type: ignore[index, union-attr]
    assert "Rubric:\npass if the answer is correct" in prompt_text
    assert "Candidate answer:\n4" in prompt_text
    (response,) = execution.judge_responses
    assert response.text.startswith("VERDICT: PASS")
    assert execution.parsed_judgments == [{"verdict": "pass", "score": 1.0}]
    assert call.token_usage is not None and call.token_usage["output_tokens"] == 12
    assert call.latency_ms is not None and call.latency_ms >= 0
    assert execution.aggregation_output == execution.score


def test_duplicate_case_ids_across_datasets_need_dataset_id() -> None:
    store = InMemoryRunStore()
    experiment = rubric_experiment(COMPARE).model_copy(
        update={"datasets": [arithmetic_dataset("a", 2), arithmetic_dataset("b", 2)]}
    )
    result = experiment.run(store=store)
    with pytest.raises(ValueError, match=r"exists in datasets \['a', 'b'\]"):
        get_evaluation_execution(store, result.run_id, "c1", "builtin/llm_rubric")
    by_dataset = get_evaluation_execution(
        store, result.run_id, "c1", "builtin/llm_rubric", dataset_id="b"
    )
    by_key = get_evaluation_execution(
        store, result.run_id, "c1", "builtin/llm_rubric", case_key="b::c1"
    )
    assert by_dataset is not None and by_dataset.dataset_id == "b"
    assert by_key == by_dataset


def test_separate_metrics_carry_separate_judge_configuration() -> None:
    experiment = make_experiment(
        evaluation=EvaluationConfig(
            metrics=[
                {"id": "builtin/llm_rubric", "name": "strict_rubric"},
                {"id": "builtin/llm_rubric", "name": "lenient_rubric"},
            ],
            judge_models=[STRICT, LENIENT],
            judge_config={
                "strict_rubric": {"judge_models": ["strict"], "rubric": "be harsh"},
                "lenient_rubric": {"judge_models": ["lenient"], "rubric": "be kind"},
            },
        )
    )
    result = experiment.run()
    assert result.metric_means == {"lenient_rubric": 1.0, "strict_rubric": 0.0}
    rubrics = {s.metric_id: s.details["rubric"] for s in result.cases[0].scores}
    assert rubrics == {"strict_rubric": "be harsh", "lenient_rubric": "be kind"}


def test_judge_config_naming_an_unknown_judge_fails_at_compile() -> None:
    experiment = rubric_experiment(
        COMPARE, judge_config={"builtin/llm_rubric": {"judge_models": ["nobody"]}}
    )
    with pytest.raises(ValueError, match=r"unknown judge model\(s\) \['nobody'\]"):
        experiment.compile()


def test_judge_metric_without_judges_fails_at_compile() -> None:
    with pytest.raises(ValueError, match="no judge model is configured"):
        rubric_experiment().compile()


class GuardedGenerator:
    """Answers correctly until ``armed``; then any call fails the test."""

    component_id = "test/guarded"
    version = "1"
    armed = False
    calls = 0

    def fingerprint(self) -> str:
        return "guarded"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        if GuardedGenerator.armed:
            raise AssertionError("the generator must not be called")
        GuardedGenerator.calls += 1
        question = case.input["question"]
        left, right = question.split("+")
        return GenerationResult(
            candidate_id=case.case_id, final_output={"answer": str(int(left) + int(right))}
        )


@pytest.fixture
def guarded() -> Any:
    GuardedGenerator.armed = False
    GuardedGenerator.calls = 0
    yield GuardedGenerator
    GuardedGenerator.armed = False


def test_replay_score_with_a_changed_metric_never_calls_the_generator(guarded: Any) -> None:
    store = InMemoryRunStore()
    first = make_experiment(generation=GenerationConfig(generator=guarded())).run(store=store)
    assert first.metric_means == {"builtin/exact_match": 1.0}
    guarded.armed = True
    changed = make_experiment(
        generation=GenerationConfig(generator=guarded()),
        evaluation=EvaluationConfig(
            metrics=["builtin/contains"], parsers=["builtin/json_identity"]
        ),
    )
    replayed = changed.replay(stage="score", store=store)
    assert replayed.run_id != first.run_id
    assert replayed.status is RunStatus.completed
    assert replayed.metric_means == {"builtin/contains": 1.0}
    copied = events_of(store, replayed.run_id, GenerationCompletedEvent)
    assert copied and all(event.cached_from == first.run_id for event in copied)
    assert "generate" in replayed.cases[0].cached_stages


def test_replay_without_stored_upstream_fails_cases_instead_of_generating(guarded: Any) -> None:
    guarded.armed = True
    result = make_experiment(generation=GenerationConfig(generator=guarded())).replay(stage="parse")
    assert result.status is RunStatus.failed
    assert "replay never recomputes" in result.cases[0].errors[0].message


def test_rejudge_one_metric_leaves_the_other_untouched() -> None:
    store = InMemoryRunStore()
    experiment = make_experiment(
        evaluation=EvaluationConfig(
            metrics=[
                "builtin/exact_match",
                {"id": "builtin/llm_rubric", "name": "first"},
                {"id": "builtin/llm_rubric", "name": "second"},
            ],
            judge_models=[COMPARE],
        )
    )
    run = experiment.run(store=store)

    def counts() -> dict[str, int]:
        seen: dict[str, int] = {}
        for event in store.iter_events(run.run_id):
            if isinstance(event, EvaluationCompletedEvent | ScoreCompletedEvent):
                seen[event.metric_id] = seen.get(event.metric_id, 0) + 1
        return seen

    assert counts() == {"builtin/exact_match": 4, "first": 4, "second": 4}
    rejudged = experiment.rejudge(metric_ids=["first"], store=store)
    assert rejudged.run_id == run.run_id
    assert counts() == {"builtin/exact_match": 4, "first": 8, "second": 4}
    assert rejudged.metric_means == run.metric_means
    with pytest.raises(ValueError, match="not workflow-backed"):
        experiment.rejudge(metric_ids=["builtin/exact_match"], store=store)


def test_until_stage_stops_at_the_boundary_and_a_later_run_continues(guarded: Any) -> None:
    store = InMemoryRunStore()
    experiment = rubric_experiment(COMPARE).model_copy(
        update={"generation": GenerationConfig(generator=guarded())}
    )
    for stage in ("generate", "reduce", "parse", "score"):
        partial = experiment.run(until_stage=stage, store=store)  # type: ignore[arg-type]
        assert partial.completed_through_stage == stage
        assert partial.status is RunStatus.completed
    assert guarded.calls == 4
    assert events_of(store, partial.run_id, EvaluationCompletedEvent) == []
    guarded.armed = True
    full = experiment.run(store=store)
    assert full.completed_through_stage == "judge"
    assert full.metric_means == {"builtin/llm_rubric": 1.0}


def test_sync_and_async_forms_agree() -> None:
    import asyncio

    experiment = rubric_experiment(COMPARE)
    store = InMemoryRunStore()
    sync_result = experiment.run(store=store)
    async_result = asyncio.run(experiment.replay_async(stage="judge", store=store))
    rejudged = asyncio.run(experiment.rejudge_async(store=store))
    assert sync_result.metric_means == async_result.metric_means == rejudged.metric_means


def test_replay_records_new_results_beside_the_old_ones() -> None:
    store = InMemoryRunStore()
    experiment = rubric_experiment(COMPARE)
    result = experiment.run(store=store)
    experiment.replay(stage="judge", store=store)
    evaluations = events_of(store, result.run_id, EvaluationCompletedEvent)
    assert len(evaluations) == 8
    assert len({event.event_id for event in evaluations}) == 8


class AgentGenerator:
    """A fake agent whose trace records tool calls (no real agent runs here)."""

    component_id = "test/agent"
    version = "1"

    def fingerprint(self) -> str:
        return "agent"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        tools = ["search", "calculator"] if case.case_id == "c0" else ["calculator"]
        trace = [TraceStep(step_name="plan", step_type="node")] + [
            TraceStep(step_name=tool, step_type="tool_call", metadata={"tool_name": tool})
            for tool in tools
        ]
        return GenerationResult(candidate_id=case.case_id, final_output="done", trace=trace)


def test_trace_metrics_count_steps_and_check_tool_use() -> None:
    experiment = make_experiment(
        generation=GenerationConfig(generator=AgentGenerator()),
        evaluation=EvaluationConfig(
            metrics=[
                "builtin/trace_step_count",
                {
                    "id": "builtin/trace_step_count",
                    "name": "within_budget",
                    "options": {"max_steps": 2},
                },
                {
                    "id": "builtin/tool_call_usage",
                    "options": {"required_tools": ["calculator"], "forbidden_tools": ["search"]},
                },
            ]
        ),
        datasets=[arithmetic_dataset(count=2)],
    )
    result = experiment.run()
    by_case = {case.case_id: {s.metric_id: s.value for s in case.scores} for case in result.cases}
    assert by_case["c0"] == {
        "builtin/trace_step_count": 3.0,
        "within_budget": 0.0,
        "builtin/tool_call_usage": 0.0,
    }
    assert by_case["c1"] == {
        "builtin/trace_step_count": 2.0,
        "within_budget": 1.0,
        "builtin/tool_call_usage": 1.0,
    }


def test_pairwise_preference_scores_the_selected_candidate() -> None:
    dataset = Dataset(
        dataset_id="d",
        cases=[Case(case_id="q", input={"question": "3+4"}, expected_output="7")],
    )
    experiment = make_experiment(
        generation=GenerationConfig(
            generator={"id": "builtin/demo_generator", "options": {"error_rate": 0.5}},
            candidate_policy={"num_samples": 4},  # type: ignore[arg-type]
            reducer="builtin/majority_vote",
        ),
        evaluation=EvaluationConfig(
            metrics=["builtin/pairwise_preference", "builtin/exact_match"],
            parsers=["builtin/json_identity"],
            judge_models=[COMPARE],
        ),
        datasets=[dataset],
        seeds=[1, 2, 3, 4],
    )
    result = experiment.run(runtime=RuntimeConfig(max_concurrent_tasks=4))
    scores = {s.metric_id: s for s in result.cases[0].scores}
    distinct = {str(c.final_output) for c in result.cases[0].generated_candidates}
    assert len(distinct) == 2  # right and wrong answers both sampled
    correct = scores["builtin/exact_match"].value == 1.0
    assert scores["builtin/pairwise_preference"].value == (1.0 if correct else 0.0)
    assert scores["builtin/pairwise_preference"].details["comparisons"] == 2


def test_trace_and_timeline_views_read_a_case() -> None:
    from themis.core.analysis.views import TimelineView, TraceView

    store = InMemoryRunStore()
    experiment = make_experiment(
        generation=GenerationConfig(generator=AgentGenerator()),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match", "builtin/llm_rubric"],
            parsers=["builtin/json_identity"],
            judge_models=[COMPARE],
        ),
        datasets=[arithmetic_dataset(count=1)],
    )
    result = experiment.run(store=store)
    (trace,) = TraceView.for_case(result.cases[0])
    text = trace.render()
    assert "[tool_call] search" in text and "[node] plan" in text
    timeline = TimelineView.from_store(store, result.run_id, "c0", dataset_id="arith")
    stages = [entry.stage for entry in timeline.entries]
    assert stages == ["generate", "reduce", "parse", "score", "judge"]
    rendered = timeline.render()
    assert "builtin/exact_match" in rendered and "builtin/llm_rubric" in rendered
    with pytest.raises(ValueError, match="case_key"):
        TimelineView.from_store(store, result.run_id, "c0")

"""Stage caching across runs in one store: only what changed is recomputed."""

from __future__ import annotations

from typing import Any

from tests.conftest import arithmetic_dataset, make_experiment
from themis import InMemoryRunStore, PromptSpec, get_execution_state
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.models import Case, GenerationResult, RunStatus


class Counting:
    component_id = "test/counting-cache"
    version = "1"

    def __init__(self, salt: str = "") -> None:
        self.salt = salt
        self.calls: list[tuple[str, int]] = []

    def fingerprint(self) -> str:
        return f"counting{self.salt}"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        self.calls.append((case.case_id, ctx.seed))
        question = case.input["question"]
        left, right = question.split("+")
        return GenerationResult(
            candidate_id=f"{case.case_id}-{ctx.seed}",
            final_output={"answer": str(int(left) + int(right))},
        )


def experiment(generator: Counting, **changes: Any) -> Any:
    generation = GenerationConfig(generator=generator, prompt_spec=changes.pop("prompt_spec", None))
    return make_experiment(generation=generation, **changes)


def test_changing_only_a_metric_rescores_without_generating() -> None:
    store = InMemoryRunStore()
    generator = Counting()
    first = experiment(generator).run(store=store)
    assert len(generator.calls) == 4
    second = experiment(
        generator,
        evaluation=EvaluationConfig(
            metrics=["builtin/token_f1"], parsers=["builtin/json_identity"]
        ),
    ).run(store=store)
    assert second.run_id != first.run_id
    assert len(generator.calls) == 4
    assert second.metric_means == {"builtin/token_f1": 1.0}
    assert second.stage_counts["generate"].cached == 4
    assert second.stage_counts["score"].done == 4
    assert all(case.cached_stages == ["generate", "reduce", "parse"] for case in second.cases)
    state = get_execution_state(store, second.run_id)
    assert state.stages["generate"].cached == 4 and state.stages["score"].done == 4


def test_changing_the_prompt_or_the_generator_regenerates() -> None:
    store = InMemoryRunStore()
    generator = Counting()
    experiment(generator).run(store=store)
    experiment(generator, prompt_spec=PromptSpec(instructions="Be brief.")).run(store=store)
    assert len(generator.calls) == 8
    other = Counting(salt="-v2")
    experiment(other).run(store=store)
    assert len(other.calls) == 4


def test_changing_the_seeds_generates_only_the_new_seeds() -> None:
    store = InMemoryRunStore()
    generator = Counting()
    experiment(generator, seeds=[1]).run(store=store)
    generator.calls.clear()
    result = experiment(generator, seeds=[1, 2]).run(store=store)
    assert sorted({seed for _, seed in generator.calls}) == [2]
    assert len(generator.calls) == 4
    assert result.stage_counts["generate"].cached == 4
    assert result.stage_counts["generate"].done == 4


def test_rerunning_the_same_experiment_reuses_everything() -> None:
    store = InMemoryRunStore()
    generator = Counting()
    first = experiment(generator).run(store=store)
    again = experiment(generator).run(store=store)
    assert again.run_id == first.run_id
    assert len(generator.calls) == 4
    assert again.metric_means == first.metric_means
    events = [e for e in store.iter_events(first.run_id) if getattr(e, "work_key", None)]
    assert len(events) == 4 * 4  # generate, reduce, parse, score: nothing written twice


def test_failed_work_is_retried_on_the_next_run() -> None:
    class Flaky(Counting):
        broken = True

        def generate(self, case: Case, ctx: Any) -> GenerationResult:
            if Flaky.broken and case.case_id == "c2":
                raise RuntimeError("flaky")
            return super().generate(case, ctx)

    store = InMemoryRunStore()
    generator = Flaky()
    first = experiment(generator, datasets=[arithmetic_dataset(count=4)]).run(store=store)
    assert first.status is RunStatus.partial_failure
    Flaky.broken = False
    generator.calls.clear()
    second = experiment(generator, datasets=[arithmetic_dataset(count=4)]).run(store=store)
    assert second.status is RunStatus.completed
    assert generator.calls == [("c2", 7)]

"""The engine's first cut: stages, events, concurrency, failures, sync and async APIs."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from tests.conftest import arithmetic_dataset, make_experiment
from themis import Experiment, InMemoryRunStore, RuntimeConfig, evaluate, evaluate_async
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult, ParsedOutput, RunStatus, Score
from themis.core.storage.events import GenerationCompletedEvent, ScoreCompletedEvent


class CountingGenerator:
    """Async generator that records how many calls are in flight at once."""

    component_id = "test/counting"
    version = "1"

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.calls = 0

    def fingerprint(self) -> str:
        return "counting"

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        await asyncio.sleep(self.delay)
        self.in_flight -= 1
        return GenerationResult(candidate_id=f"{case.case_id}-{ctx.seed}", final_output="x")


class RaisingOn:
    """A component of any kind that raises for one case id."""

    version = "1"

    def __init__(self, component_id: str, bad_case: str) -> None:
        self.component_id = component_id
        self.bad_case = bad_case

    def fingerprint(self) -> str:
        return f"raising-{self.bad_case}"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        if case.case_id == self.bad_case:
            raise RuntimeError(f"generator exploded on {case.case_id}")
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "0"})

    def parse(self, candidate: Any, ctx: Any) -> ParsedOutput:
        if ctx.case.case_id == self.bad_case:
            raise ValueError("cannot parse this one")
        return ParsedOutput(value=candidate.final_output)

    def score(self, parsed: Any, case: Case, ctx: Any) -> Score:
        if case.case_id == self.bad_case:
            raise ZeroDivisionError("metric divided by zero")
        return Score(metric_id=self.component_id, value=1.0)


def test_every_stage_result_is_an_event() -> None:
    store = InMemoryRunStore()
    result = make_experiment().run(store=store)
    types = [e.event_type for e in store.iter_events(result.run_id)]
    assert types[0] == "run_started" and types[-1] == "run_completed"
    for kind in (
        "generation_completed",
        "reduction_completed",
        "parse_completed",
        "score_completed",
    ):
        assert types.count(kind) == 4
    case = result.cases[0]
    assert case.generated_candidates and case.reduced_candidate and case.parsed_outputs
    assert case.scores[0].metric_id == "builtin/exact_match"


def test_at_most_max_concurrent_tasks_in_flight() -> None:
    generator = CountingGenerator()
    experiment = make_experiment(
        generation=GenerationConfig(generator=generator, candidate_policy={"num_samples": 3}),  # type: ignore[arg-type]
        evaluation=EvaluationConfig(),
        datasets=[arithmetic_dataset(count=20)],
    )
    experiment.run(runtime=RuntimeConfig(max_concurrent_tasks=4))
    assert generator.calls == 60
    assert generator.peak == 4


@pytest.mark.parametrize(
    "role,stage,error_type,message",
    [
        ("generator", "generate", "RuntimeError", "generator exploded on c1"),
        ("parser", "parse", "ValueError", "cannot parse this one"),
        ("metric", "score", "ZeroDivisionError", "metric divided by zero"),
    ],
)
def test_a_raising_component_fails_its_case_and_the_run_goes_on(
    role: str, stage: str, error_type: str, message: str
) -> None:
    component = RaisingOn(f"test/raising-{role}", "c1")
    generation = GenerationConfig(generator="builtin/demo_generator")
    evaluation = EvaluationConfig(metrics=["builtin/exact_match"])
    if role == "generator":
        generation = GenerationConfig(generator=component)
    elif role == "parser":
        evaluation = EvaluationConfig(metrics=["builtin/exact_match"], parsers=[component])
    else:
        evaluation = EvaluationConfig(metrics=[component])
    result = make_experiment(generation=generation, evaluation=evaluation).run()
    assert result.status is RunStatus.partial_failure
    failed = {case.case_id: case for case in result.cases if case.status is RunStatus.failed}
    assert list(failed) == ["c1"]
    (error,) = failed["c1"].errors
    assert (error.stage, error.error_type, error.message) == (stage, error_type, message)
    assert all(case.status is RunStatus.completed for case in result.cases if case.case_id != "c1")


def test_all_cases_failing_gives_failed_status() -> None:
    class Broken:
        component_id = "test/broken"
        version = "1"

        def fingerprint(self) -> str:
            return "broken"

        async def generate(self, case: Case, ctx: Any) -> GenerationResult:
            raise RuntimeError("down")

    result = make_experiment(generation=GenerationConfig(generator=Broken())).run(
        runtime=RuntimeConfig(max_retries=0)
    )
    assert result.status is RunStatus.failed


def test_wrong_return_type_is_a_clear_failure() -> None:
    class ReturnsString:
        component_id = "test/str"
        version = "1"

        def fingerprint(self) -> str:
            return "s"

        def generate(self, case: Case, ctx: Any) -> str:
            return "oops"

    result = make_experiment(generation=GenerationConfig(generator=ReturnsString())).run()
    error = result.cases[0].errors[0]
    assert "returned str, expected GenerationResult" in error.message


def test_sync_generator_runs_off_the_event_loop() -> None:
    loop_threads: set[str] = set()

    class Blocking:
        component_id = "test/blocking"
        version = "1"

        def fingerprint(self) -> str:
            return "b"

        def generate(self, case: Case, ctx: Any) -> GenerationResult:
            loop_threads.add(threading.current_thread().name)
            return GenerationResult(candidate_id="x", final_output={"answer": "0"})

    make_experiment(generation=GenerationConfig(generator=Blocking())).run()
    assert threading.main_thread().name not in loop_threads


def test_run_inside_a_running_loop_points_to_run_async() -> None:
    async def inside() -> None:
        with pytest.raises(RuntimeError, match="run_async"):
            make_experiment().run()
        result = await make_experiment().run_async()
        assert result.status is RunStatus.completed

    asyncio.run(inside())


def test_evaluate_with_ids_and_list_of_dicts() -> None:
    result = evaluate(
        model="builtin/demo_generator",
        data=[
            {"case_id": "a", "input": {"question": "2+3"}, "expected_output": "5"},
            {"question": "4*4", "expected_output": "16"},
        ],
        metric=["builtin/exact_match", "builtin/numeric_tolerance"],
        parser="builtin/number",
        samples=3,
        reducer="builtin/majority_vote",
        seeds=[1, 2, 3],
    )
    assert result.status is RunStatus.completed
    assert result.metric_means == {"builtin/exact_match": 1.0, "builtin/numeric_tolerance": 1.0}
    assert len(result.cases[0].generated_candidates) == 3


def test_evaluate_async_with_objects() -> None:
    generator = CountingGenerator(delay=0)

    class Always:
        component_id = "test/always"
        version = "1"

        def fingerprint(self) -> str:
            return "always"

        async def score(self, parsed: Any, case: Case, ctx: Any) -> Score:
            return Score(metric_id="ignored", value=0.5)

    result = asyncio.run(
        evaluate_async(model=generator, data=arithmetic_dataset(count=3), metric=Always())
    )
    assert result.metric_means == {"test/always": 0.5}
    with pytest.raises(RuntimeError, match="evaluate_async"):

        async def nested() -> None:
            evaluate(model=generator, data=arithmetic_dataset(), metric=Always())

        asyncio.run(nested())


class SeedRecorder(CountingGenerator):
    """Records (base_seed, sample_index, seed) of every call."""

    def __init__(self) -> None:
        super().__init__(0)
        self.seen: list[tuple[int, int, int]] = []

    async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        self.seen.append((ctx.base_seed, ctx.sample_index, ctx.seed))
        return await super().generate(case, ctx)


def seeded(recorder: SeedRecorder, seeds: list[int], num_samples: int | None) -> Experiment:
    policy = {} if num_samples is None else {"num_samples": num_samples}
    return make_experiment(
        generation=GenerationConfig(generator=recorder, candidate_policy=policy),  # type: ignore[arg-type]
        datasets=[arithmetic_dataset(count=1)],
        seeds=seeds,
    )


def test_as_many_seeds_as_samples_give_each_candidate_its_seed() -> None:
    recorder = SeedRecorder()
    result = seeded(recorder, [5, 9, 11], 3).run()
    assert len(result.cases[0].generated_candidates) == 3  # not 3 seeds x 3 samples
    assert sorted(recorder.seen) == [(5, 0, 5), (9, 1, 9), (11, 2, 11)]


def test_one_seed_with_several_samples_derives_a_seed_per_candidate() -> None:
    recorder = SeedRecorder()
    experiment = seeded(recorder, [5], 3)
    experiment.run()
    first = sorted(recorder.seen)
    assert [(b, i) for b, i, _ in first] == [(5, 0), (5, 1), (5, 2)]
    assert first[0][2] == 5  # the first candidate sees the experiment seed itself
    assert len({seed for _, _, seed in first}) == 3
    # Derived from the seed alone, never from the run id: another experiment
    # (another run id) with the same seed gives its candidates the same seeds.
    recorder.seen.clear()
    other = seeded(recorder, [5], 3).model_copy(
        update={"environment_metadata": {"x": "y"}, "datasets": [arithmetic_dataset(count=2)]}
    )
    assert other.compile().run_id != experiment.compile().run_id
    other.run(store=InMemoryRunStore())
    assert {seed for _, _, seed in recorder.seen} == {seed for _, _, seed in first}


def test_seeds_unset_num_samples_gives_one_candidate_per_seed() -> None:
    recorder = SeedRecorder()
    result = seeded(recorder, [1, 2, 3], None).run()
    assert len(result.cases[0].generated_candidates) == 3
    assert sorted(seed for _, _, seed in recorder.seen) == [1, 2, 3]
    snapshot = seeded(SeedRecorder(), [1, 2, 3], None).compile()
    assert snapshot.identity.candidate_policy == {"num_samples": 3, "candidate_seeds": [1, 2, 3]}


@pytest.mark.parametrize(("seeds", "num_samples"), [([1, 2], 3), ([1, 2, 3], 2), ([1, 2, 3], 1)])
def test_a_seed_count_that_fits_no_candidate_layout_is_a_compile_error(
    seeds: list[int], num_samples: int
) -> None:
    experiment = seeded(SeedRecorder(), seeds, num_samples)
    with pytest.raises(
        ValueError, match=rf"{len(seeds)} seeds .* num_samples {num_samples}"
    ) as info:
        experiment.compile()
    # Both fixes, in words that fit the count (never "a single seed to derive 1 from").
    assert f"num_samples={len(seeds)}" in str(info.value) and "a single seed" in str(info.value)
    assert "derive 1 " not in str(info.value)


def test_evaluate_samples_and_seeds_give_one_candidate_per_seed() -> None:
    recorder = SeedRecorder()
    result = evaluate(
        model=recorder, data=arithmetic_dataset(count=1), metric=[], samples=2, seeds=[3, 4]
    )
    assert len(result.cases[0].generated_candidates) == 2
    with pytest.raises(ValueError, match="3 seeds"):
        evaluate(
            model=recorder, data=arithmetic_dataset(count=1), metric=[], samples=2, seeds=[3, 4, 5]
        )


def test_seeds_are_reproducible_across_runs() -> None:
    recorder = SeedRecorder()
    seeded(recorder, [5], 2).run()
    first = sorted(recorder.seen)
    recorder.seen.clear()
    seeded(recorder, [5], 2).run(store=InMemoryRunStore())
    assert sorted(recorder.seen) == first


def test_events_carry_work_keys_and_results() -> None:
    store = InMemoryRunStore()
    result = make_experiment().run(store=store)
    events = list(store.iter_events(result.run_id))
    generated = [e for e in events if isinstance(e, GenerationCompletedEvent)]
    scored = [e for e in events if isinstance(e, ScoreCompletedEvent)]
    assert len({e.work_key for e in generated}) == 4
    assert all(e.score.value == 1.0 for e in scored)


def test_a_failing_preflight_stops_the_run_before_any_work() -> None:
    from themis.core.engine.runner import PreflightError

    generator = CountingGenerator(delay=0)

    class NotReady(CountingGenerator):
        async def preflight(self) -> None:
            raise ConnectionError("server at http://127.0.0.1:9 is down")

    store = InMemoryRunStore()
    not_ready = NotReady(0)
    with pytest.raises(PreflightError, match="test/counting is not ready: ConnectionError"):
        make_experiment(generation=GenerationConfig(generator=not_ready)).run(store=store)
    assert not_ready.calls == 0 and store.list_runs() == []
    assert (
        make_experiment(generation=GenerationConfig(generator=generator)).run().status.value
        == "completed"
    )


def test_components_close_what_they_opened_when_the_run_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``aclose()``, sync or async, runs once per run, after the last event,
    also when the run fails; a failing close is logged and the result kept."""
    closed: list[str] = []

    class Pooled(CountingGenerator):
        async def aclose(self) -> None:
            closed.append(f"generator after {self.calls} calls")

    class Broken(CountingGenerator):
        async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
            raise RuntimeError("boom")

        def aclose(self) -> None:
            closed.append("broken")
            raise OSError("socket already gone")

    pooled = Pooled(delay=0)
    result = make_experiment(generation=GenerationConfig(generator=pooled)).run()
    assert result.status is RunStatus.completed
    assert closed == ["generator after 4 calls"]

    caplog.set_level("WARNING")
    result = make_experiment(generation=GenerationConfig(generator=Broken(0))).run()
    assert result.status is RunStatus.failed  # every case failed; the run itself finished
    assert closed[-1] == "broken"
    assert "test/counting did not close cleanly: OSError: socket already gone" in caplog.text


@pytest.mark.parametrize("handoff_after_s", [3600.0, 0.0], ids=["inline", "in-a-task"])
def test_a_failing_store_stops_the_run_and_keeps_what_was_committed(
    handoff_after_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways a case's later stages run: inline after a quick generation,
    and in a task of their own after one that waited."""
    from themis.core.engine import scheduler
    from themis.core.engine.writer import StoreWriteError

    monkeypatch.setattr(scheduler, "HANDOFF_AFTER_S", handoff_after_s)

    class DiskFull(InMemoryRunStore):
        def __init__(self) -> None:
            super().__init__()
            self.accepted = 0

        def append_events(self, events: Any) -> Any:
            if self.accepted >= 3:
                raise OSError("database or disk is full")
            self.accepted += len(events)
            return super().append_events(events)

    store = DiskFull()
    # Cases a few at a time on a model that takes a moment, so their events
    # reach the store in several commits rather than all in one.
    experiment = make_experiment(
        generation=GenerationConfig(generator=CountingGenerator(delay=0.005)),
        datasets=[arithmetic_dataset(count=50)],
    )
    with pytest.raises(StoreWriteError, match="disk is full"):
        experiment.run(store=store, runtime=RuntimeConfig(max_concurrent_tasks=4))
    (run,) = store.list_runs()
    kept = list(store.iter_events(run.run_id))
    assert 3 <= len(kept) < 50 * 4


def test_a_worker_sends_its_next_request_before_scoring_the_last_answer() -> None:
    """Generation is the critical path: with one request in flight at a time,
    the next case's request leaves while the previous case is still scored."""
    log: list[str] = []

    class Recording(CountingGenerator):
        async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
            log.append(f"generate {case.case_id}")
            return await super().generate(case, ctx)

    class SlowMetric:
        component_id = "test/slow_metric"
        version = "1"

        def fingerprint(self) -> str:
            return "slow-metric"

        async def score(self, parsed: Any, case: Case, ctx: Any) -> Score:
            await asyncio.sleep(0.02)
            log.append(f"scored {case.case_id}")
            return Score(metric_id=self.component_id, value=1.0)

    result = make_experiment(
        generation=GenerationConfig(generator=Recording(delay=0.005)),
        evaluation=EvaluationConfig(metrics=[SlowMetric()]),
        datasets=[arithmetic_dataset(count=3)],
    ).run(runtime=RuntimeConfig(max_concurrent_tasks=1, progress="off"))

    assert result.status is RunStatus.completed
    first, second = result.cases[0].case_id, result.cases[1].case_id
    assert log.index(f"generate {second}") < log.index(f"scored {first}")
    assert sorted(entry for entry in log if entry.startswith("scored")) == sorted(
        f"scored {case.case_id}" for case in result.cases
    )


def test_the_first_requests_leave_while_later_workers_are_still_starting() -> None:
    """Workers start one loop turn apart: the first worker's request is on its
    way (its await has returned) before the last worker has begun."""
    entered: list[int] = []
    entered_when_first_resumed: list[int] = []

    class Recording(CountingGenerator):
        async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
            entered.append(1)
            await asyncio.sleep(0)  # a request leaving
            if not entered_when_first_resumed:
                entered_when_first_resumed.append(len(entered))
            return await super().generate(case, ctx)

    result = make_experiment(
        generation=GenerationConfig(generator=Recording(delay=0.01)),
        datasets=[arithmetic_dataset(count=64)],
    ).run(runtime=RuntimeConfig(max_concurrent_tasks=32, progress="off"))

    assert result.status is RunStatus.completed
    assert entered_when_first_resumed[0] < 4  # all 32 at once without the stagger


def test_the_store_opens_while_the_components_check_their_backends() -> None:
    """The preflight waits here until the store has been opened; done one after
    the other, the check would time out and fail the run."""
    opened = threading.Event()

    class Opening(InMemoryRunStore):
        def initialize(self) -> None:
            opened.set()

    class WaitsForTheStore(CountingGenerator):
        async def preflight(self) -> None:
            assert await asyncio.to_thread(opened.wait, 10), "the store was not opened meanwhile"

    store = Opening()
    result = make_experiment(generation=GenerationConfig(generator=WaitsForTheStore(0))).run(
        store=store
    )
    assert result.status is RunStatus.completed
    assert [run.run_id for run in store.list_runs()] == [result.run_id]


def test_a_store_that_cannot_save_the_snapshot_stops_the_run_with_its_error() -> None:
    from themis.core.engine.writer import StoreWriteError

    class Full(InMemoryRunStore):
        def save_snapshot(self, snapshot: Any) -> None:
            raise OSError("database or disk is full")

    store = Full()
    with pytest.raises(StoreWriteError, match="disk is full"):
        make_experiment().run(store=store)
    assert store.list_runs() == []


def test_a_selector_runs_before_the_reducer_which_sees_what_it_kept() -> None:
    seen: list[list[str]] = []

    class KeepEvenSamples:
        component_id = "test/keep_even"
        version = "1"

        def fingerprint(self) -> str:
            return "keep-even"

        async def select(
            self, candidates: list[GenerationResult], ctx: Any
        ) -> list[GenerationResult]:
            return [c for c in candidates if int(c.candidate_id.rsplit(".", 1)[1]) % 2 == 0]

    class Recording:
        component_id = "test/recording_reducer"
        version = "1"

        def fingerprint(self) -> str:
            return "recording"

        def reduce(self, candidates: list[GenerationResult], ctx: Any) -> Any:
            from themis.builtins.reducers import FirstCandidate

            seen.append([c.candidate_id for c in candidates])
            return FirstCandidate().reduce(candidates, ctx)

    experiment = make_experiment(
        generation=GenerationConfig(
            generator="builtin/demo_generator",
            candidate_policy={"num_samples": 4},  # type: ignore[arg-type]
            selector=KeepEvenSamples(),
            reducer=Recording(),
        ),
        datasets=[arithmetic_dataset(count=1)],
    )
    result = experiment.run()
    assert seen == [["arith::c0#s7.0", "arith::c0#s7.2"]]
    assert len(result.cases[0].generated_candidates) == 4
    assert experiment.compile().component_refs.selector is not None


def test_a_run_stopped_by_an_unexpected_error_is_marked_failed_and_keeps_its_work() -> None:
    class Stop(BaseException):
        """Not a component failure (not an Exception): it stops the whole run."""

    class Interrupting(CountingGenerator):
        armed = True

        async def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
            if Interrupting.armed and case.case_id == "c3":
                raise Stop
            return await super().generate(case, ctx)

    store = InMemoryRunStore()
    generator = Interrupting(0)
    experiment = make_experiment(generation=GenerationConfig(generator=generator))
    with pytest.raises(Stop):
        experiment.run(store=store, runtime=RuntimeConfig(max_concurrent_tasks=1))
    (run,) = store.list_runs()
    assert run.status is RunStatus.failed
    kinds = [e.event_type for e in store.iter_events(run.run_id)]
    assert kinds.count("score_completed") == 3 and kinds[-1] == "run_failed"
    Interrupting.armed = False
    generator.calls = 0
    resumed = experiment.run(store=store)
    assert resumed.status is RunStatus.completed
    assert generator.calls == 1  # only the case that never finished

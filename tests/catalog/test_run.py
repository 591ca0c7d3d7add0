"""themis.catalog.run: a named benchmark to a real score."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.catalog.helpers import AnswerBook, KeywordJudge
from themis import RunResult, SqliteRunStore, catalog, get_run_snapshot
from themis_catalog.running import DemoJudgeWarning, JudgeRequiredError

GSM8K_ANSWERS = {
    "24 muffins": "24 + 18 = 42, and 42 - 35 = 7.\nThe answer is 7.",
    "12 pages": "12 * 14 = 168.\nThe answer is 168.",
    "45 boxes": "45 * 36 = 1,620.\nThe answer is 1,620.",
    "Maria had": "She spent 14 dollars.\nThe answer is 34.",
    "A train": "The answer is 250.",
}


def test_gsm8k_on_the_offline_sample_gives_a_real_score(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    model = AnswerBook(GSM8K_ANSWERS)
    result = catalog.run("gsm8k", model=model, store=store, source="sample")
    assert isinstance(result, RunResult)
    assert result.status.value == "completed"
    assert result.metric_means == {"accuracy": pytest.approx(3 / 5)}
    assert result.benchmark_id == "gsm8k" and result.prompt_variant == "cot"
    assert result.slices == ["main"] and result.source == "sample"
    assert result.metadata["sample"] is True and result.metadata["demo_judge"] is False
    assert result.metadata["revisions"] == {"gsm8k/main": "offline-sample"}
    assert any("offline sample" in warning for warning in result.warnings)
    wrong = sorted(c.case_id for c in result.cases if c.scores[0].value == 0.0)
    assert wrong == ["3", "4"]
    # The model saw the prompt variant's user message; the store kept the run.
    assert all("The answer is N" in prompt for prompt in model.prompts)
    snapshot = get_run_snapshot(store, result.run_id)
    assert snapshot.identity.prompt_spec is not None
    assert snapshot.provenance.environment_metadata["themis.catalog.benchmark"] == "gsm8k"
    assert [d.dataset_id for d in snapshot.datasets] == ["gsm8k/main"]
    store.close()


def test_two_prompt_variants_are_two_runs_that_compare_case_by_case() -> None:
    book = {key: answer.rsplit(" ", 1)[-1].rstrip(".") for key, answer in GSM8K_ANSWERS.items()}
    cot = catalog.run("gsm8k", model=AnswerBook(GSM8K_ANSWERS), source="sample")
    direct = catalog.run("gsm8k:direct", model=AnswerBook(book), source="sample")
    assert direct.prompt_variant == "direct"
    assert cot.run_id != direct.run_id
    assert [c.case_key for c in cot.cases] == [c.case_key for c in direct.cases]
    assert direct.metric_means == cot.metric_means
    again = catalog.run("gsm8k", model=AnswerBook(GSM8K_ANSWERS), source="sample")
    assert again.run_id == cot.run_id


def test_a_slice_variant_and_a_limit_select_cases() -> None:
    result = catalog.run(
        "mmlu_pro:physics", model=AnswerBook({}, "The answer is (D)."), source="sample"
    )
    assert [c.case_key for c in result.cases] == ["mmlu_pro/physics::9013"]
    assert result.metric_means == {"accuracy": 1.0}
    limited = catalog.run("mmlu_pro", model=AnswerBook({}, "(A)"), source="sample", limit=1)
    assert len(limited.cases) == 14 and len(limited.slices) == 14


def test_a_run_needs_a_model() -> None:
    with pytest.raises(ValueError, match="needs a model"):
        catalog.run("gsm8k", source="sample")


def test_a_judge_scored_benchmark_refuses_to_run_without_a_judge() -> None:
    with pytest.raises(JudgeRequiredError, match="simpleqa is judge-scored"):
        catalog.run("simpleqa", model=AnswerBook({}), source="sample")
    with pytest.raises(ValueError, match="no judge-scored metric"):
        catalog.run("gsm8k", model=AnswerBook({}), judge="builtin/demo_judge", source="sample")


SIMPLEQA_ANSWERS = {
    "bones": "206 bones.",
    "capital city of Australia": "Sydney",
    "Sistine Chapel": "It was Michelangelo.",
    "tungsten": "W",
    "Moon landing": "I do not know.",
}


def test_the_demo_judge_is_announced_loudly() -> None:
    with pytest.warns(DemoJudgeWarning, match="NOT a real grader"):
        result = catalog.run(
            "simpleqa",
            model=AnswerBook(SIMPLEQA_ANSWERS),
            judge="builtin/demo_judge",
            source="sample",
        )
    assert result.metadata["demo_judge"] is True
    assert any("NOT a real grader" in warning for warning in result.warnings)
    assert result.metric_means["correct"] == pytest.approx(3 / 5)


def test_a_real_judge_grades_simpleqa_with_the_benchmark_rubric(
    recwarn: pytest.WarningsRecorder,
) -> None:
    judge = KeywordJudge()
    result = catalog.run(
        "simpleqa", model=AnswerBook(SIMPLEQA_ANSWERS), judge=judge, source="sample"
    )
    assert not [w for w in recwarn if issubclass(w.category, DemoJudgeWarning)]
    assert result.metadata["demo_judge"] is False
    assert result.metric_means == {"correct": pytest.approx(3 / 5)}
    assert len(judge.prompts) == 5
    assert all("hedges between several answers" in prompt for prompt in judge.prompts)


def test_seeds_alone_give_one_candidate_per_seed() -> None:
    """As with evaluate() and an unset num_samples: seeds=[1, 2, 3] on a
    one-sample benchmark is three candidates per case, not a seed-count error;
    with samples given, the seeds must match it."""
    model = AnswerBook(GSM8K_ANSWERS)
    result = catalog.run("gsm8k", model=model, source="sample", limit=2, seeds=[1, 2, 3])
    assert result.status.value == "completed"
    assert [len(case.generated_candidates) for case in result.cases] == [3, 3]
    single = catalog.run("gsm8k", model=model, source="sample", limit=2, seeds=[4])
    assert [len(case.generated_candidates) for case in single.cases] == [1, 1]
    with pytest.raises(ValueError, match="3 seeds"):
        catalog.run("gsm8k", model=model, source="sample", limit=2, samples=2, seeds=[1, 2, 3])

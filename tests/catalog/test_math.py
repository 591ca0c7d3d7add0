"""Math answers: extraction of the final answer, and equivalence checked
against a table of equivalent and non-equivalent answer pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.catalog.helpers import AnswerBook
from themis import InMemoryRunStore, Reporter, StatsEngine, catalog
from themis.benchmark import BenchmarkSpec
from themis.catalog import load
from themis.core.contexts import ParseContext, ScoreContext
from themis.core.models import (
    Case,
    MetricCounts,
    ParsedOutput,
    ReducedCandidate,
    Score,
    ScoreError,
)
from themis_catalog import discovery
from themis_catalog.loading import BenchmarkDataError
from themis_catalog.math_answers import extract_final_answer

EQUIVALENT = [
    ("\\frac{1}{2}", "1/2"),
    ("\\frac12", "0.5"),
    ("0.75", "\\dfrac{3}{4}"),
    ("\\frac{\\sqrt{2}}{2}", "\\sqrt{2}/2"),
    ("2\\sqrt{3}", "\\sqrt{12}"),
    ("x^2+2x+1", "(x+1)^2"),
    ("3", "3.0"),
    ("1000", "1,000"),
    ("(2,5)", "(2, 5)"),
    ("\\{1,2\\}", "\\{2,1\\}"),
    ("5", "x = 5"),
    ("\\infty", "\\infty"),
    ("9", "9"),
]
NOT_EQUIVALENT = [
    ("\\frac{1}{2}", "\\frac{1}{3}"),
    ("2", "-2"),
    ("12", "120"),
    ("x+1", "x-1"),
    ("(1,2)", "(2,1)"),
    ("[0,1)", "[0,1]"),
    ("\\sqrt{2}", "1.414"),
    ("\\pi", "3.14"),
    ("\\infty", "-\\infty"),
    ("5", "banana"),
]


def _score(expected: str, predicted: str) -> Score | ScoreError:
    metric = load("catalog/math_equivalence")
    case = Case(case_id="c", input="q", expected_output=expected)
    ctx = ScoreContext(run_id="r", case=case, case_key="d::c", dataset_id="d")
    return metric.score(ParsedOutput(value=predicted), case, ctx)  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize(("expected", "predicted"), EQUIVALENT)
def test_equivalent_answers_score_one(expected: str, predicted: str) -> None:
    score = _score(expected, predicted)
    assert isinstance(score, Score) and score.value == 1.0, score


@pytest.mark.parametrize(("expected", "predicted"), NOT_EQUIVALENT)
def test_different_answers_score_zero(expected: str, predicted: str) -> None:
    score = _score(expected, predicted)
    assert isinstance(score, Score) and score.value == 0.0, score


def test_a_missing_reference_is_a_scoring_error_not_a_zero() -> None:
    metric = load("catalog/math_equivalence")
    case = Case(case_id="c", input="q")
    ctx = ScoreContext(run_id="r", case=case, case_key="d::c", dataset_id="d")
    outcome = metric.score(ParsedOutput(value="1"), case, ctx)  # type: ignore[attr-defined]
    assert isinstance(outcome, ScoreError) and "no expected_output" in outcome.reason


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("so $x = \\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{3} at first, but finally \\boxed{\\sqrt{\\frac{1}{2}}}", "\\sqrt{\\frac{1}{2}}"),
        ("Natalia sold 72 clips.\n#### 1,234", "1234"),
        ("Adding up, the answer is $42$.", "42"),
        ("**Final answer:** x = 3", "3"),
        ("The answer is (C).", "(C)"),
        ("We get 12 apples, then 15.", "15"),
        ("She has $36 left, so the answer is $36.", "36"),
        ("no digits at all", None),
        # Found by the QA pass on issue 21 (second held-out set):
        ("The solutions are $\\boxed{2, -3}$.", "2, -3"),
        ("\\boxed{1,250}", "1250"),
        ("The answer is $\\$1{,}250{,}000$.", "1250000"),
        ("The answer is 18 dollars and 50 cents.", "18.50"),
        ("The price is 3 dollars and 5 cents.", "3.05"),
        ("The answer is 5 apples. Actually, wait: he gave away 2 more, so he has 3.", "3"),
        ("The answer is 20.\nWait, I made a mistake. 5 * 5 = 25.\nSo 25.", "25"),
        ("The answer is 12. Wait, let me verify: 12 * 3 = 36 cookies, which matches.", "12"),
        ("The answer is 5 apples, which is actually less than 8.", "5"),
        ("The answer is 12. Actually, this checks out since 3 * 4 = 12.", "12"),
        ("The answer is 12. This is actually the number each of the 3 friends gets.", "12"),
        ("The answer is 6. Oh wait, it's 8.", "8"),
        ("Hmm, either 10 or 12. I'm not sure.", None),
        ("The answer is 10 or 12.", "10 or 12"),
        ("He runs 2 or 3 times a week, so 12 in total.", "12"),
        ("She gave away 7, so she has 3 left (out of 10).", "3"),
        ("The total is 4 + (3 * 2) = 10", "10"),
    ],
)
def test_final_answer_extraction(text: str, answer: str | None) -> None:
    assert extract_final_answer(text) == answer


def test_an_answer_without_a_final_answer_is_scored_wrong_not_dropped() -> None:
    parser = load("catalog/math_answer")
    case = Case(case_id="c", input="q", expected_output="4")
    candidate = ReducedCandidate(candidate_id="x", source_candidate_ids=["x"], final_output="hmm")
    parsed = parser.parse(candidate, ParseContext(run_id="r", case=case, case_key="d::c"))  # type: ignore[attr-defined]
    assert parsed.value is None and parsed.metadata["no_answer"] == "hmm"
    score = _score("4", None)  # type: ignore[arg-type]
    assert isinstance(score, Score) and score.value == 0.0


def blank_one_answer(row: dict[str, object], index: int) -> dict[str, object]:
    """A record transform that loses one reference answer (a broken benchmark)."""
    return {**row, "answer": "" if index == 1 else row["answer"]}


def _math500_rows(tmp_path: Path, answers: list[str]) -> Path:
    path = tmp_path / "math500.jsonl"
    rows = [
        {"problem": f"Problem {i}?", "answer": answer, "unique_id": f"p{i}", "subject": "s"}
        for i, answer in enumerate(answers)
    ]
    path.write_text("\n".join(json.dumps({**row, "level": 1}) for row in rows) + "\n")
    return path


def test_a_gold_written_with_escaped_currency_is_read_as_an_amount(tmp_path: Path) -> None:
    path = _math500_rows(tmp_path, ["\\$18.90", "1,250", "\\frac{1}{2}"])
    model = AnswerBook(
        {
            "Problem 0": "She pays \\boxed{\\$18.90}.",
            "Problem 1": "The answer is $1,250.00.",
            "Problem 2": "The answer is 0.5",
        }
    )
    result = catalog.run("math500", model=model, source=path)
    assert result.metric_means == {"accuracy": 1.0}
    assert result.metric_counts["accuracy"].parse_failures == 0


def test_an_unparseable_gold_is_a_benchmark_error_at_load_not_a_dropped_case(
    tmp_path: Path,
) -> None:
    path = _math500_rows(tmp_path, ["4", "", "6"])
    with pytest.raises(
        BenchmarkDataError, match=r"1 expected answer.*::p1: expected answer is empty"
    ):
        catalog.run("math500", model=AnswerBook({}), source=path)


def test_validate_benchmark_reports_an_unparseable_gold(monkeypatch: pytest.MonkeyPatch) -> None:
    real = discovery.load_spec

    def broken(benchmark_id: str) -> tuple[BenchmarkSpec, object]:
        spec, info = real(benchmark_id)
        records = spec.records.model_copy(
            update={"transform": "tests.catalog.test_math:blank_one_answer"}
        )
        return spec.model_copy(update={"records": records}), info

    monkeypatch.setattr(discovery, "load_spec", broken)
    result = catalog.validate_benchmark("math500")
    assert not result.ok
    [problem] = result.problems
    assert problem.name == "sample[boxed]"
    assert "BenchmarkDataError" in problem.detail and "expected answer is empty" in problem.detail


def test_an_output_without_an_answer_counts_as_unparsed_in_the_mean(tmp_path: Path) -> None:
    path = _math500_rows(tmp_path, ["4", "5", "6"])
    model = AnswerBook({"Problem 0": "The answer is 4.", "Problem 1": "I cannot solve this."})
    store = InMemoryRunStore()
    result = catalog.run("math500", model=model, source=path, store=store)
    assert result.status.value == "completed"
    assert result.metric_means["accuracy"] == pytest.approx(1 / 3)
    assert result.metric_counts["accuracy"] == MetricCounts(n=3, parse_failures=2, errors=0)
    [summary] = StatsEngine().summarize(store, result.run_id)
    assert (summary.n, summary.parse_failures, summary.mean) == (3, 2, pytest.approx(1 / 3))
    assert "| accuracy | 0.333 |" in Reporter(store).export_markdown(result.run_id)

"""Math answers: extraction of the final answer, and equivalence checked
against a table of equivalent and non-equivalent answer pairs."""

from __future__ import annotations

import pytest

from themis.catalog import load
from themis.core.contexts import ParseContext, ScoreContext
from themis.core.models import Case, ParsedOutput, ReducedCandidate, Score, ScoreError
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
        ("**Final answer:** x = 3", "x = 3"),
        ("The answer is (C).", "(C)"),
        ("We get 12 apples, then 15.", "15"),
        ("She has $36 left, so the answer is $36.", "36"),
        ("no digits at all", None),
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

"""Multiple-choice letters for any number of options, read from the case."""

from __future__ import annotations

import pytest

from themis.catalog import load
from themis.core.contexts import ParseContext
from themis.core.models import Case, ReducedCandidate


def _parse(text: str, num_options: object) -> object:
    parser = load("catalog/choice_letter")
    case = Case(case_id="c", input="q", metadata={"num_options": num_options})
    candidate = ReducedCandidate(candidate_id="x", source_candidate_ids=["x"], final_output=text)
    return parser.parse(candidate, ParseContext(run_id="r", case=case, case_key="d::c")).value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "count", "letter"),
    [
        ("Option B looks tempting, but the answer is (J).", 10, "J"),
        ("I rule out A and C.\nAnswer: D", 4, "D"),
        ("the answer is z", 26, "Z"),
        ("E", 5, "E"),
        ("Between B and C, I pick C.", 3, "C"),
    ],
)
def test_letters_for_any_number_of_options(text: str, count: int, letter: str) -> None:
    assert _parse(text, count) == letter


def test_a_letter_beyond_the_case_options_is_no_answer() -> None:
    assert _parse("The answer is (F).", 4) is None


def test_the_case_must_say_how_many_options_it_has() -> None:
    with pytest.raises(ValueError, match=r"no integer metadata\['num_options'\]"):
        _parse("The answer is (A).", None)

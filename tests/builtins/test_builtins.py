"""Builtin generators, reducers, parsers and metrics."""

from __future__ import annotations

from typing import Any

import pytest

from themis.builtins.generators import DemoGenerator, solve_arithmetic
from themis.builtins.metrics import Contains, ExactMatch, NumericTolerance, TokenF1
from themis.builtins.parsers import (
    ChoiceLetterParser,
    JsonIdentity,
    NumberParser,
    ParseFailure,
    RegexParser,
)
from themis.builtins.reducers import FirstCandidate, MajorityVote
from themis.core.contexts import GenerateContext, ParseContext, ReduceContext, ScoreContext
from themis.core.models import Case, GenerationResult, ParsedOutput, ReducedCandidate, ScoreError

CASE = Case(case_id="c", input={"question": "q"}, expected_output={"answer": "4"})


def _gen_ctx(seed: int, index: int = 0) -> GenerateContext:
    return GenerateContext("r", "d", "c", "d::c", seed, seed, index)


@pytest.mark.parametrize(
    "text,answer",
    [("2+2", "4"), ("What is 6*7?", "42"), ("7/2", "3.5"), ("(3+4)*5", "35"), ("no math", None)],
)
def test_solve_arithmetic(text: str, answer: str | None) -> None:
    assert solve_arithmetic(text) == answer


def test_demo_generator_is_deterministic_and_seed_aware() -> None:
    generator = DemoGenerator(error_rate=0.5)
    case = Case(case_id="c", input={"question": "2+2"})
    answers = {
        seed: generator.generate(case, _gen_ctx(seed)).final_output["answer"] for seed in range(40)
    }
    assert answers == {
        seed: generator.generate(case, _gen_ctx(seed)).final_output["answer"] for seed in range(40)
    }
    assert set(answers.values()) == {"4", "40"}
    assert DemoGenerator().generate(case, _gen_ctx(1)).final_output == {"answer": "4"}
    assert DemoGenerator(0.1).fingerprint() != DemoGenerator(0.2).fingerprint()


def _candidates(*outputs: Any) -> list[GenerationResult]:
    return [GenerationResult(candidate_id=f"k{i}", final_output=o) for i, o in enumerate(outputs)]


def test_majority_vote_and_first_candidate() -> None:
    ctx = ReduceContext("r", CASE, "d::c")
    reduced = MajorityVote().reduce(_candidates("a", "b", "b", "a", "b"), ctx)
    assert reduced.final_output == "b" and reduced.candidate_id == "k1"
    assert reduced.metadata == {"votes": 3, "total": 5, "distinct": 2}
    assert MajorityVote().reduce(_candidates("a", "b"), ctx).final_output == "a"  # tie: earliest
    assert FirstCandidate().reduce(_candidates("z", "y"), ctx).source_candidate_ids == ["k0", "k1"]
    with pytest.raises(ValueError, match="no candidates"):
        MajorityVote().reduce([], ctx)


def _reduced(output: Any) -> ReducedCandidate:
    return ReducedCandidate(candidate_id="k", source_candidate_ids=["k"], final_output=output)


PARSE_CTX = ParseContext("r", CASE, "d::c")


def test_json_identity_decodes_json_text() -> None:
    assert JsonIdentity().parse(_reduced('{"a": 1}'), PARSE_CTX).value == {"a": 1}
    assert JsonIdentity().parse(_reduced("plain"), PARSE_CTX).value == "plain"
    assert JsonIdentity().parse(_reduced({"answer": "4"}), PARSE_CTX).value == {"answer": "4"}


def test_regex_parser() -> None:
    parser = RegexParser(pattern=r"answer:\s*(\w+)")
    assert parser.parse(_reduced("Answer: yes. answer: no"), PARSE_CTX).value == "yes"
    assert (
        RegexParser(pattern=r"answer:\s*(\w+)", last=True)
        .parse(_reduced("Answer: yes. answer: no"), PARSE_CTX)
        .value
        == "no"
    )
    with pytest.raises(ParseFailure, match="no match"):
        parser.parse(_reduced("nothing"), PARSE_CTX)
    with pytest.raises(ValueError, match="invalid regex"):
        RegexParser(pattern="(")


@pytest.mark.parametrize(
    "output,value",
    [
        ("The answer is 1,234.", 1234),
        ("costs $3.50 total", 3.5),
        ({"answer": "42"}, 42),
        (7, 7),
        ("first 3 then -2", -2),
        ("1e3", 1000),
        ("The balance changed by -$12.", -12),
        ("It fell to \u22125 degrees", -5),
        ("the groups are 2,3", 3),
        ("The answer is 48. Note that 50 would be wrong.", 48),
        ("#### 1,620\nQuestion: next one has 7", 1620),
        ("The answer is 4 * 5 = 20.", 20),
        ("The answer is 5/2.", 2.5),
    ],
)
def test_number_parser(output: Any, value: float) -> None:
    assert NumberParser().parse(_reduced(output), PARSE_CTX).value == value


def test_number_parser_fails_without_a_number() -> None:
    with pytest.raises(ParseFailure):
        NumberParser().parse(_reduced("none here"), PARSE_CTX)


@pytest.mark.parametrize(
    "text,options,letter",
    [
        ("The answer is (C).", 4, "C"),
        ("Answer: b", 4, "B"),
        ("I think it's A, no wait, the answer is D", 4, "D"),
        ("J", 10, "J"),
        ("(G) is right", 10, "G"),
        ("Let me consider B. Then C.", 4, "C"),
        ("Therefore \\boxed{D}", 4, "D"),
        ("**A**", 4, "A"),
        ("I think the answer is (I).", 10, "I"),
        ("A. Incorrect.\nB. Incorrect.\nC. Correct.\nD. Incorrect.", 4, "C"),
        ("The answer is A because it is stable.", 4, "A"),
        ("b", 4, "B"),
        ("c)", 4, "C"),
        ("i", 10, "I"),
        ("The answer is C and D is wrong.", 4, "C"),
        ("The answer is B, since A and C are wrong.", 4, "B"),
        ("The answer is A, B or C. No: the answer is B.", 4, "B"),
    ],
)
def test_choice_letter_parser(text: str, options: int, letter: str) -> None:
    assert ChoiceLetterParser(num_options=options).parse(_reduced(text), PARSE_CTX).value == letter


@pytest.mark.parametrize(
    "text",
    [
        "the answer is a function of pressure, so none of these",
        "I think the reaction is exothermic.",
        "I don't know.",
        "",
        "The answer is A, B or C; I can't decide.",
        "The answer is A or B.",
        "Answer: A/B",
        "The answer is (A), (B)",
    ],
)
def test_choice_letter_parser_reads_no_letter_where_none_was_given(text: str) -> None:
    with pytest.raises(ParseFailure):
        ChoiceLetterParser(num_options=10).parse(_reduced(text), PARSE_CTX)


def test_choice_letter_parser_rejects_letters_out_of_range() -> None:
    with pytest.raises(ParseFailure):
        ChoiceLetterParser(num_options=4).parse(_reduced("E"), PARSE_CTX)


SCORE_CTX = ScoreContext("r", CASE, "d::c", "d")


def _score(metric: Any, predicted: Any, expected: Any) -> Any:
    case = Case(case_id="c", input="q", expected_output=expected)
    return metric.score(ParsedOutput(value=predicted), case, SCORE_CTX)


@pytest.mark.parametrize(
    "predicted,expected,value",
    [
        ({"answer": "4"}, {"answer": "4"}, 1.0),
        ("4", {"answer": "4"}, 1.0),
        (4, "4.0", 1.0),
        ("  Paris ", "paris", 1.0),
        ("Paris", "London", 0.0),
        ({"answer": "5"}, {"answer": "4"}, 0.0),
    ],
)
def test_exact_match(predicted: Any, expected: Any, value: float) -> None:
    assert _score(ExactMatch(), predicted, expected).value == value


def test_exact_match_case_sensitive_option() -> None:
    assert _score(ExactMatch(case_sensitive=True), "Paris", "paris").value == 0.0


def test_reference_metrics_need_an_expected_output() -> None:
    outcome = _score(ExactMatch(), "x", None)
    assert isinstance(outcome, ScoreError) and "no expected_output" in outcome.reason


def test_contains_token_f1_numeric_tolerance() -> None:
    assert _score(Contains(), "The capital is Paris.", "paris").value == 1.0
    assert _score(TokenF1(), "the cat sat", "cat sat down").value == pytest.approx(0.8)
    assert _score(TokenF1(), "", "").value == 1.0
    assert _score(NumericTolerance(abs_tol=0.01), "3.141", "3.14").value == 1.0
    assert _score(NumericTolerance(), "3.2", "3.14").value == 0.0
    assert _score(NumericTolerance(rel_tol=0.1), "105", 100).value == 1.0
    assert isinstance(_score(NumericTolerance(), "1", "not a number"), ScoreError)

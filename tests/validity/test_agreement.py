"""Themis's graders agree with a careful reader, and beat the reference graders.

Every family of the corpus runs through a real Experiment with the parser
chain and metric the catalog uses; each verdict is compared with the careful
grader's. The agreement figures are those docs/catalog.md states (the test
checks the table there is the one measured here). No case is ever missing
from a denominator: every output counts, unparsed ones as 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pytest

from tests.conftest import REPO_ROOT
from tests.validity import corpus
from tests.validity.corpus import Graded
from tests.validity.grading import (
    agreement,
    grade_family,
    lm_eval_choice,
    lm_eval_gsm8k,
    math_verify_end_to_end,
)

MATH_CHAIN = (["catalog/math_answer"], "catalog/math_equivalence")
CHOICE_CHAIN = (["catalog/choice_letter"], "builtin/exact_match")
FAMILIES: dict[str, tuple[list[Graded], tuple[list[object], str], float]] = {
    "GSM8K-style": (corpus.GSM8K, MATH_CHAIN, 0.95),
    "GSM8K-style, held out": (corpus.GSM8K_HELD_OUT, MATH_CHAIN, 0.95),
    "MATH-style": (corpus.MATH, MATH_CHAIN, 0.9),
    "MATH-style, held out": (corpus.MATH_HELD_OUT, MATH_CHAIN, 0.9),
    "multiple choice": (corpus.CHOICE, CHOICE_CHAIN, 0.95),
    "multiple choice, held out": (corpus.CHOICE_HELD_OUT, CHOICE_CHAIN, 0.95),
    "GSM8K-style, second held-out set": (corpus.GSM8K_SECOND_HELD_OUT, MATH_CHAIN, 0.95),
    "MATH-style, second held-out set": (corpus.MATH_SECOND_HELD_OUT, MATH_CHAIN, 0.9),
    "multiple choice, second held-out set": (corpus.CHOICE_SECOND_HELD_OUT, CHOICE_CHAIN, 0.95),
}
Baseline = Callable[[str, str], int]
BASELINES: dict[str, list[tuple[str, Baseline]]] = {
    "GSM8K": [
        ("lm-eval flexible-extract", functools.partial(lm_eval_gsm8k, flexible=True)),
        ("lm-eval strict-match", functools.partial(lm_eval_gsm8k, flexible=False)),
        ("math-verify on the whole output", math_verify_end_to_end),
    ],
    "MATH": [("math-verify on the whole output", math_verify_end_to_end)],
    "multiple": [("lm-eval's MMLU-Pro answer regex", lm_eval_choice)],
}


@functools.cache
def measured(family: str) -> tuple[float, tuple[tuple[str, float], ...]]:
    """Themis's agreement on one family, and each reference grader's."""
    entries, (parsers, metric), _ = FAMILIES[family]
    scores, results = grade_family(entries, parsers, metric)
    counted = sum(counts.n for result in results for counts in result.metric_counts.values())
    assert counted == len(entries), f"{family}: a case left the denominator"
    assert all(c.errors == 0 for r in results for c in r.metric_counts.values())
    baselines = next(b for key, b in BASELINES.items() if family.startswith(key))
    return agreement(entries, scores), tuple(
        (name, _baseline_agreement(entries, grader)) for name, grader in baselines
    )


def _baseline_agreement(entries: Sequence[Graded], grader: Baseline) -> float:
    return agreement(entries, [grader(e.output, e.expected) for e in entries])


def agreement_table() -> str:
    """The Markdown table docs/catalog.md carries."""
    lines = [
        "| Corpus family | Outputs | Themis | Reference graders on the same outputs |",
        "|---|---:|---:|---|",
    ]
    for family, (entries, _, _) in FAMILIES.items():
        ours, baselines = measured(family)
        others = "; ".join(f"{name} {value:.1%}" for name, value in baselines)
        lines.append(f"| {family} | {len(entries)} | {ours:.1%} | {others} |")
    return "\n".join(lines)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_agreement_with_careful_reading_meets_the_target(family: str) -> None:
    threshold = FAMILIES[family][2]
    ours, baselines = measured(family)
    assert ours >= threshold, f"{family}: {ours:.1%} agreement, below {threshold:.0%}"
    for name, value in baselines:
        assert ours >= value, f"{family}: {name} agrees more often ({value:.1%} > {ours:.1%})"


def test_the_builtin_parsers_meet_the_target_too() -> None:
    numbers, _ = grade_family(corpus.GSM8K, ["builtin/number"], "builtin/exact_match")
    assert agreement(corpus.GSM8K, numbers) >= 0.95
    letters, _ = grade_family(
        corpus.CHOICE,
        [{"id": "builtin/choice_letter", "options": {"num_options": 10}}],
        "builtin/exact_match",
    )
    assert agreement(corpus.CHOICE, letters) >= 0.95


def test_every_trap_the_issue_names_is_in_the_corpus() -> None:
    traps = {entry.trap for family in FAMILIES.values() for entry in family[0]}
    for trap in (
        "empty output",
        "refusal",
        "truncated",
        "number word",
        "unit words",
        "parenthesis",
        "unit with slash",
        "exclamation",
        "negative amount",
        "escaped dollar in box",
        "gold with escaped dollar",
        "run-on continuation",
        "article after 'answer is'",
        "pronoun I",
        "walk-through",
        "boxed letter",
        "bold letter",
    ):
        assert trap in traps, trap


def test_docs_state_the_measured_agreement() -> None:
    docs = (REPO_ROOT / "docs" / "catalog.md").read_text(encoding="utf-8")
    assert agreement_table() in docs, "docs/catalog.md: update the agreement table:\n" + (
        agreement_table()
    )

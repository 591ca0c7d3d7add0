"""Exact match and token F1 with several references, checked against SQuAD's official rules.

The reference below restates what SQuAD v1.1's official evaluation script
does (lower case, ASCII punctuation removed, the articles a/an/the removed,
whitespace collapsed; the best score over the gold answers); Themis's
builtin/exact_match (``normalize="squad"``) and builtin/token_f1 must give
the same numbers on every corpus item, through a real run.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from typing import Any

import pytest

from tests.validity.corpus import QA_ITEMS
from tests.validity.grading import QUIET, CorpusModel
from themis import Experiment, InMemoryRunStore
from themis.builtins.metrics import ExactMatch, squad_normalize
from themis.core.config import EvaluationConfig, GenerationConfig
from themis.core.contexts import ScoreContext
from themis.core.models import Case, Dataset, ParsedOutput


def official_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def official_f1(prediction: str, gold: str) -> float:
    predicted, expected = official_normalize(prediction).split(), official_normalize(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def _run() -> dict[str, dict[str, float]]:
    cases = [
        Case(case_id=str(i), input=f"q{i}", expected_output=item.references)
        for i, item in enumerate(QA_ITEMS)
    ]
    result = Experiment(
        generation=GenerationConfig(generator=CorpusModel([i.prediction for i in QA_ITEMS])),
        evaluation=EvaluationConfig(
            metrics=[
                {"id": "builtin/exact_match", "name": "em", "options": {"normalize": "squad"}},
                {"id": "builtin/token_f1", "name": "f1"},
            ]
        ),
        datasets=[Dataset(dataset_id="qa", cases=cases)],
        runtime=QUIET,
    ).run(store=InMemoryRunStore())
    assert result.metric_counts["em"].n == len(QA_ITEMS)  # the empty answer counts too
    return {c.case_id: {s.metric_id: s.value for s in c.scores} for c in result.cases}


def test_several_references_score_the_best_match_as_squad_does() -> None:
    scores = _run()
    for index, item in enumerate(QA_ITEMS):
        got = scores[str(index)]
        official_em = max(
            float(official_normalize(item.prediction) == official_normalize(r))
            for r in item.references
        )
        official = max(official_f1(item.prediction, r) for r in item.references)
        assert got["em"] == official_em == item.exact, item
        assert got["f1"] == pytest.approx(official) and official == pytest.approx(item.f1), item


@pytest.mark.parametrize(
    "text",
    ["The  Quick, brown fox!", "an apple a day", "THE END.", "rock-'n'-roll", "A.B.C", "theater"],
)
def test_squad_normalisation_is_the_official_one(text: str) -> None:
    assert squad_normalize(text) == official_normalize(text)


def _exact(predicted: Any, expected: Any, **options: Any) -> float:
    case = Case(case_id="c", input="q", expected_output=expected)
    score = ExactMatch(**options).score(
        ParsedOutput(value=predicted), case, ScoreContext("r", case, "d::c", "d")
    )
    return float(score.value)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("predicted", "expected", "value"),
    [
        ("NaN", "NaN", 1.0),
        ("nan", "NaN", 1.0),
        ("NaN", "0", 0.0),
        ("inf", "Infinity", 0.0),
        ("2,3", "23", 0.0),
        ("1,250", "1250", 1.0),
        ("4", 4.0, 1.0),
        (18.9, "\\$18.90", 1.0),
        (18.9, "$18.90", 1.0),
        (-12, "-$12", 1.0),
        ("$5", "5", 1.0),
        ("$", "$", 1.0),
        ("$5", "6", 0.0),
        (float("nan"), float("nan"), 1.0),
        ("Broncos", ["Denver Broncos", "Broncos"], 1.0),
        ("Broncos", json.dumps(["Denver Broncos", "Broncos"]), 0.0),
        ("The Broncos", ["Denver Broncos", "Broncos"], 0.0),
        ({"answer": "5"}, {"answer": ["4", "5"]}, 1.0),
        (["a", "b"], ["a", "b"], 1.0),
    ],
)
def test_exact_match_strict_default(predicted: Any, expected: Any, value: float) -> None:
    assert _exact(predicted, expected) == value


def test_normalize_option_is_squads_and_is_part_of_the_identity() -> None:
    assert _exact("The Broncos!", ["Denver Broncos", "broncos"], normalize="squad") == 1.0
    assert _exact("The Broncos!", ["Denver Broncos", "broncos"], normalize=True) == 1.0
    assert ExactMatch(normalize="squad").fingerprint() != ExactMatch().fingerprint()
    with pytest.raises(ValueError, match="normalize"):
        ExactMatch(normalize="lenient")


def test_bleu_and_rouge_through_a_run_equal_sacrebleu_and_rouge_score() -> None:
    """The text-overlap metrics the catalog may use, checked on the same items
    against the reference libraries called directly."""
    import sacrebleu
    from rouge_score import rouge_scorer

    items = [item for item in QA_ITEMS if item.prediction.strip()]
    cases = [
        Case(case_id=str(i), input=f"q{i}", expected_output=item.references)
        for i, item in enumerate(items)
    ]
    result = Experiment(
        generation=GenerationConfig(generator=CorpusModel([i.prediction for i in items])),
        evaluation=EvaluationConfig(metrics=["builtin/bleu", "builtin/rouge"]),
        datasets=[Dataset(dataset_id="qa", cases=cases)],
        runtime=QUIET,
    ).run(store=InMemoryRunStore())
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    for case in result.cases:
        item = items[int(case.case_id)]
        got = {score.metric_id: score.value for score in case.scores}
        bleu = sacrebleu.sentence_bleu(item.prediction, item.references).score
        rouge = max(scorer.score(r, item.prediction)["rougeL"].fmeasure for r in item.references)
        assert got["builtin/bleu"] == pytest.approx(bleu), item
        assert got["builtin/rouge"] == pytest.approx(rouge), item

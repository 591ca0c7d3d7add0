"""Grade a corpus family through a real Experiment, and the reference graders we compare with.

Themis's verdicts come from an ordinary run: a generator that answers each
case with the corpus output, the catalog's parser chain and metric, the
engine and an in-memory store, so the denominators are the ones every
report uses. The baselines re-implement, from their published
configurations, lm-evaluation-harness's GSM8K filters ("strict-match" and
"flexible-extract" with its exact-match normalisation) and its MMLU-Pro
answer regex, and run math-verify end to end on the whole output.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.validity.corpus import Graded
from themis import Experiment, InMemoryRunStore
from themis.core.authoring.identity import content_hash
from themis.core.config import EvaluationConfig, GenerationConfig, RuntimeConfig
from themis.core.contexts import GenerateContext
from themis.core.models import Case, Dataset, GenerationResult, RunResult
from themis_catalog.stops import FEW_SHOT_STOP

QUIET = RuntimeConfig(progress="off", max_retries=0)


class CorpusModel:
    """Answers case ``i`` with the corpus output ``i``: a stand-in for the model whose
    outputs the corpus holds (the engine, parsers, metrics and store are real)."""

    component_id = "test/corpus_model"
    version = "1"

    def __init__(self, outputs: Sequence[str]) -> None:
        self.outputs = list(outputs)

    def fingerprint(self) -> str:
        return content_hash(self.outputs)

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        return GenerationResult(
            candidate_id=ctx.case_key, final_output=self.outputs[int(case.case_id)]
        )


@dataclass(frozen=True)
class Graded_:
    scores: list[float]
    result: RunResult


def grade(
    entries: Sequence[Graded], parsers: list[Any], metric: Any, *, metric_name: str = "score"
) -> tuple[list[float], RunResult]:
    """Each entry's score (in corpus order) and the run's result."""
    cases = [
        Case(
            case_id=str(index),
            input=f"case {index}",
            expected_output=entry.expected,
            metadata={"num_options": entry.num_options},
        )
        for index, entry in enumerate(entries)
    ]
    chain = list(parsers)
    if any(entry.few_shot for entry in entries):
        chain = [{"id": "catalog/cut_at_stop", "options": {"stop": list(FEW_SHOT_STOP)}}, *chain]
    metric_config = (
        {**metric, "name": metric_name}
        if isinstance(metric, dict)
        else {"id": metric, "name": metric_name}
    )
    experiment = Experiment(
        generation=GenerationConfig(generator=CorpusModel([e.output for e in entries])),
        evaluation=EvaluationConfig(parsers=chain, metrics=[metric_config]),
        datasets=[Dataset(dataset_id="corpus", cases=cases)],
        runtime=QUIET,
    )
    result = experiment.run(store=InMemoryRunStore())
    by_id: dict[str, float] = {}
    for case in result.cases:
        scored = {score.metric_id: score.value for score in case.scores}
        by_id[case.case_id] = scored.get(metric_name, 0.0)  # an unparsed case counts 0
    return [by_id[str(index)] for index in range(len(entries))], result


def grade_family(
    entries: Sequence[Graded], parsers: list[Any], metric: Any
) -> tuple[list[float], list[RunResult]]:
    """Chat outputs and few-shot completions graded as the catalog grades each."""
    scores: dict[int, float] = {}
    results = []
    for few_shot in (False, True):
        picked = [(i, e) for i, e in enumerate(entries) if e.few_shot is few_shot]
        if not picked:
            continue
        values, result = grade([e for _, e in picked], parsers, metric)
        results.append(result)
        scores.update({i: v for (i, _), v in zip(picked, values, strict=True)})
    return [scores[i] for i in range(len(entries))], results


def agreement(entries: Sequence[Graded], scores: Sequence[float]) -> float:
    return sum(float(s) == e.verdict for e, s in zip(entries, scores, strict=True)) / len(entries)


# -- baselines ---------------------------------------------------------------

_LM_EVAL_IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]


def _lm_eval_normalise(text: str) -> str:
    for pattern in _LM_EVAL_IGNORE:
        text = re.sub(pattern, "", text)
    return text.lower().strip()


def lm_eval_gsm8k(output: str, expected: str, *, flexible: bool) -> int:
    """lm-eval's GSM8K: "strict-match" (first ``#### N``) or "flexible-extract"
    (the last number-like token), then its exact match (case ignored; commas,
    dollar signs, text up to ``####`` and a final period removed)."""
    if flexible:
        matches = re.findall(r"(-?[$0-9.,]{2,})|(-?[0-9]+)", output)
        found = [m[0] or m[1] for m in matches]
        answer = found[-1] if found else "[invalid]"
    else:
        match = re.search(r"#### (\-?[0-9\.\,]+)", output)
        answer = match.group(1) if match else "[invalid]"
    return int(_lm_eval_normalise(answer) == _lm_eval_normalise(expected))


def lm_eval_choice(output: str, expected: str) -> int:
    """lm-eval's MMLU-Pro answer regex, first match: ``answer is \\(?([A-J])\\)?``."""
    match = re.search(r"answer is \(?([ABCDEFGHIJ])\)?", output)
    return int(match is not None and match.group(1) == expected)


def math_verify_end_to_end(output: str, expected: str) -> int:
    """math-verify's own extraction on the whole output, against the gold."""
    import math_verify  # type: ignore[import-untyped]

    gold = math_verify.parse(f"${expected}$", parsing_timeout=None)
    guess = math_verify.parse(output, parsing_timeout=None)
    if not gold or not guess:
        return 0
    return int(bool(math_verify.verify(gold, guess, timeout_seconds=None)))

"""Pure metrics: deterministic scores of a parsed output against the case.

A case without ``expected_output`` cannot be scored by a reference metric:
the metric returns a :class:`ScoreError` saying so rather than a zero.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.builtins.parsers import parse_number
from themis.core.contexts import ScoreContext
from themis.core.models import Case, JSONValue, ParsedOutput, Score, ScoreError


def _as_number(value: JSONValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _reference(case: Case, metric_id: str) -> JSONValue | ScoreError:
    if case.expected_output is None:
        return ScoreError(
            metric_id=metric_id,
            reason=f"case {case.case_id!r} has no expected_output to compare against",
        )
    return case.expected_output


def _comparable(value: JSONValue, case_sensitive: bool) -> JSONValue:
    if isinstance(value, str):
        text = " ".join(value.strip().split())
        number = _as_number(text)
        if number is not None:
            return number
        return text if case_sensitive else text.lower()
    number = _as_number(value)
    if number is not None:
        return number
    if isinstance(value, dict):
        return {k: _comparable(v, case_sensitive) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v, case_sensitive) for v in value]
    return value


class _ReferenceMetric(BuiltinComponent):
    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        reference = _reference(case, self.component_id)
        if isinstance(reference, ScoreError):
            return reference
        return self.compare(parsed.value, reference)

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score | ScoreError:
        raise NotImplementedError


class ExactMatch(_ReferenceMetric):
    """1.0 when the parsed value equals the expected output, else 0.0.

    Whitespace is collapsed, case ignored unless ``case_sensitive``, and
    numbers compared as numbers ("4", 4 and 4.0 match). An expected
    ``{"answer": x}`` matches a bare predicted ``x`` and vice versa.
    """

    component_id = "builtin/exact_match"
    version = "1"

    def __init__(self, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive

    def options(self) -> dict[str, Any]:
        return {"case_sensitive": self.case_sensitive}

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        if (
            isinstance(reference, dict)
            and not isinstance(predicted, dict)
            and "answer" in reference
        ):
            reference = reference["answer"]
        if (
            isinstance(predicted, dict)
            and not isinstance(reference, dict)
            and "answer" in predicted
        ):
            predicted = predicted["answer"]
        match = _comparable(predicted, self.case_sensitive) == _comparable(
            reference, self.case_sensitive
        )
        return Score(metric_id=self.component_id, value=1.0 if match else 0.0)


class Contains(_ReferenceMetric):
    """1.0 when the expected text occurs in the predicted text (case-insensitive)."""

    component_id = "builtin/contains"
    version = "1"

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        needle = " ".join(output_text(reference).split()).lower()
        haystack = " ".join(output_text(predicted).split()).lower()
        return Score(metric_id=self.component_id, value=1.0 if needle in haystack else 0.0)


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _tokens(text: str) -> list[str]:
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return text.split()


class TokenF1(_ReferenceMetric):
    """SQuAD-style token F1 (lower-cased, punctuation and articles removed)."""

    component_id = "builtin/token_f1"
    version = "1"

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        predicted_tokens = _tokens(output_text(predicted))
        reference_tokens = _tokens(output_text(reference))
        if not predicted_tokens or not reference_tokens:
            value = float(predicted_tokens == reference_tokens)
            return Score(metric_id=self.component_id, value=value)
        common = Counter(predicted_tokens) & Counter(reference_tokens)
        overlap = sum(common.values())
        if overlap == 0:
            return Score(metric_id=self.component_id, value=0.0)
        precision = overlap / len(predicted_tokens)
        recall = overlap / len(reference_tokens)
        f1 = 2 * precision * recall / (precision + recall)
        return Score(
            metric_id=self.component_id,
            value=f1,
            details={"precision": precision, "recall": recall},
        )


class NumericTolerance(_ReferenceMetric):
    """1.0 when the predicted number is within ``abs_tol`` or ``rel_tol`` of the expected."""

    component_id = "builtin/numeric_tolerance"
    version = "1"

    def __init__(self, abs_tol: float = 1e-6, rel_tol: float = 0.0) -> None:
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("abs_tol and rel_tol must be non-negative")
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol

    def options(self) -> dict[str, Any]:
        return {"abs_tol": self.abs_tol, "rel_tol": self.rel_tol}

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score | ScoreError:
        expected = _as_number(reference)
        if expected is None:
            expected = parse_number(output_text(reference))
        if expected is None:
            return ScoreError(
                metric_id=self.component_id, reason=f"expected output {reference!r} is not a number"
            )
        actual = _as_number(predicted)
        if actual is None:
            actual = parse_number(output_text(predicted))
        if actual is None:
            return Score(metric_id=self.component_id, value=0.0, details={"reason": "no number"})
        close = math.isclose(actual, expected, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
        return Score(
            metric_id=self.component_id,
            value=1.0 if close else 0.0,
            details={"predicted": actual, "expected": expected},
        )

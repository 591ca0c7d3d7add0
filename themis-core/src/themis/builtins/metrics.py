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
from themis.core.analysis.outcomes import UNPARSED_FLAG
from themis.core.contexts import ScoreContext
from themis.core.models import Case, JSONValue, ParsedOutput, Score, ScoreError

_NUMERIC_TEXT = re.compile(
    r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?"
)

_CURRENCY = re.compile(r"^([-+]?)\s*\\?\$\s*(?=[-+]?[\d.])")


def _as_number(value: JSONValue) -> float | None:
    """A finite number, or the number a numeric text spells; None otherwise.

    Only well-formed numbers count: ``"1,250"`` (thousands grouped by three)
    is 1250, but ``"2,3"`` is text, and ``"NaN"`` or ``"inf"`` stay text too,
    so they equal themselves and nothing else. A dollar amount is its number:
    a gold ``"\\$18.90"`` equals a parsed 18.9.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = _CURRENCY.sub(r"\1", value.strip())  # "$18.90", "\\$18.90", "-$12"
        if not _NUMERIC_TEXT.fullmatch(text):
            return None
        return float(text.replace(",", ""))
    return None


def _reference(case: Case, metric_id: str) -> JSONValue | ScoreError:
    if case.expected_output is None:
        return ScoreError(
            metric_id=metric_id,
            reason=f"case {case.case_id!r} has no expected_output to compare against",
        )
    return case.expected_output


def _alternatives(reference: JSONValue, predicted: JSONValue) -> list[JSONValue]:
    """The acceptable answers a reference lists: several for a list of plain values
    (SQuAD-style items with more than one gold answer), else the reference itself.

    ``{"answer": [...]}`` and ``{"answers": [...]}`` list them too. A list
    prediction is compared with a list reference as a whole.
    """
    if isinstance(reference, dict) and not isinstance(predicted, dict):
        for key in ("answers", "answer"):
            if key in reference and isinstance(reference[key], list):
                reference = reference[key]
                break
    if (
        isinstance(reference, list)
        and reference
        and not isinstance(predicted, list)
        and all(isinstance(item, str | int | float) for item in reference)
    ):
        return list(reference)
    return [reference]


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD's official answer normalisation: lower case, no ASCII punctuation,
    no articles (a, an, the), whitespace collapsed."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCTUATION))
    return " ".join(text.split())


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
    if isinstance(value, float):  # NaN or infinity: equal to the same value written out
        return str(value) if case_sensitive else str(value).lower()
    if isinstance(value, dict):
        return {k: _comparable(v, case_sensitive) for k, v in value.items()}
    if isinstance(value, list):
        return [_comparable(v, case_sensitive) for v in value]
    return value


NO_ANSWER = "no_answer"
"""``ParsedOutput.metadata`` key a parser sets when it found no answer (value None)."""


class _ReferenceMetric(BuiltinComponent):
    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        reference = _reference(case, self.component_id)
        if isinstance(reference, ScoreError):
            return reference
        if parsed.value is None and NO_ANSWER in parsed.metadata:
            # The parser found no answer: a wrong answer, counted as unparsed.
            return Score(
                metric_id=self.component_id,
                value=0.0,
                details={UNPARSED_FLAG: True, "reason": str(parsed.metadata[NO_ANSWER])[:200]},
            )
        return self.compare(parsed.value, reference)

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score | ScoreError:
        raise NotImplementedError


def _normalize_option(normalize: bool | str | None) -> str | None:
    if normalize is True or normalize == "squad":
        return "squad"
    if normalize is None or normalize is False or normalize == "none":
        return None
    raise ValueError(f"normalize must be 'squad', True, False or None, got {normalize!r}")


class ExactMatch(_ReferenceMetric):
    """1.0 when the parsed value equals the expected output (or any of the
    expected outputs, when it lists several), else 0.0.

    By default whitespace is collapsed, case ignored unless ``case_sensitive``,
    and well-formed numbers compared as numbers ("4", 4 and 4.0 match; "2,3"
    and "23" do not; "NaN" equals "NaN" as text). ``normalize="squad"`` (or
    True) compares text after SQuAD's official normalisation instead, as
    SQuAD's evaluation script does. An expected ``{"answer": x}`` matches a
    bare predicted ``x`` and vice versa.
    """

    component_id = "builtin/exact_match"
    version = "2"

    def __init__(self, case_sensitive: bool = False, normalize: bool | str | None = None) -> None:
        self.case_sensitive = case_sensitive
        self.normalize = _normalize_option(normalize)

    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"case_sensitive": self.case_sensitive}
        if self.normalize is not None:
            options["normalize"] = self.normalize
        return options

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        listed = isinstance(reference, dict) and isinstance(reference.get("answer"), list)
        if (
            isinstance(predicted, dict)
            and (not isinstance(reference, dict) or listed)
            and "answer" in predicted
        ):
            predicted = predicted["answer"]
        references = _alternatives(reference, predicted)
        matched = [index for index, each in enumerate(references) if self._same(predicted, each)]
        details: dict[str, JSONValue] = {}
        if len(references) > 1:
            details["references"] = len(references)
            if matched:
                details["matched"] = matched[0]
        return Score(metric_id=self.component_id, value=1.0 if matched else 0.0, details=details)

    def _same(self, predicted: JSONValue, reference: JSONValue) -> bool:
        if (
            isinstance(reference, dict)
            and not isinstance(predicted, dict)
            and "answer" in reference
        ):
            reference = reference["answer"]
        if self.normalize == "squad":
            return squad_normalize(output_text(predicted)) == squad_normalize(
                output_text(reference)
            )
        same: bool = _comparable(predicted, self.case_sensitive) == _comparable(
            reference, self.case_sensitive
        )
        return same


class Contains(_ReferenceMetric):
    """1.0 when the expected text (or any of several) occurs in the predicted text,
    case-insensitively."""

    component_id = "builtin/contains"
    version = "1"

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        haystack = " ".join(output_text(predicted).split()).lower()
        found = any(
            " ".join(output_text(each).split()).lower() in haystack
            for each in _alternatives(reference, predicted)
        )
        return Score(metric_id=self.component_id, value=1.0 if found else 0.0)


def _tokens(text: str) -> list[str]:
    return squad_normalize(text).split()


def _f1(predicted_tokens: list[str], reference_tokens: list[str]) -> tuple[float, float, float]:
    if not predicted_tokens or not reference_tokens:
        same = float(predicted_tokens == reference_tokens)
        return same, same, same
    common = Counter(predicted_tokens) & Counter(reference_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0, 0.0, 0.0
    precision = overlap / len(predicted_tokens)
    recall = overlap / len(reference_tokens)
    return 2 * precision * recall / (precision + recall), precision, recall


class TokenF1(_ReferenceMetric):
    """SQuAD-style token F1 after SQuAD's normalisation (lower case, punctuation
    and articles removed); with several expected answers, the best F1 over
    them, as SQuAD's evaluation script takes."""

    component_id = "builtin/token_f1"
    version = "2"

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score:
        predicted_tokens = _tokens(output_text(predicted))
        references = _alternatives(reference, predicted)
        best = max(
            (*_f1(predicted_tokens, _tokens(output_text(each))), index)
            for index, each in enumerate(references)
        )
        f1, precision, recall, index = best
        details: dict[str, JSONValue] = {"precision": precision, "recall": recall}
        if len(references) > 1:
            details["references"] = len(references)
            details["best"] = int(index)
        return Score(metric_id=self.component_id, value=f1, details=details)


class NumericTolerance(_ReferenceMetric):
    """1.0 when the predicted number is within ``abs_tol`` or ``rel_tol`` of the
    expected number (or of any of several expected numbers)."""

    component_id = "builtin/numeric_tolerance"
    version = "2"

    def __init__(self, abs_tol: float = 1e-6, rel_tol: float = 0.0) -> None:
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError("abs_tol and rel_tol must be non-negative")
        self.abs_tol = abs_tol
        self.rel_tol = rel_tol

    def options(self) -> dict[str, Any]:
        return {"abs_tol": self.abs_tol, "rel_tol": self.rel_tol}

    def check_reference(self, expected: JSONValue) -> str | None:
        """Why an expected output holds no number to compare with (checked at compile)."""
        for each in _alternatives(expected, None):
            if _number_in(each) is None:
                return f"expected output {each!r} is not a number"
        return None

    def compare(self, predicted: JSONValue, reference: JSONValue) -> Score | ScoreError:
        expected: list[float] = []
        for each in _alternatives(reference, predicted):
            number = _number_in(each)
            if number is None:
                return ScoreError(
                    metric_id=self.component_id,
                    reason=f"expected output {each!r} is not a number",
                )
            expected.append(number)
        actual = _number_in(predicted)
        if actual is None:
            return Score(metric_id=self.component_id, value=0.0, details={"reason": "no number"})
        close = any(
            math.isclose(actual, each, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
            for each in expected
        )
        return Score(
            metric_id=self.component_id,
            value=1.0 if close else 0.0,
            details={
                "predicted": actual,
                "expected": expected[0] if len(expected) == 1 else expected,
            },
        )


def _number_in(value: JSONValue) -> float | None:
    number = _as_number(value)
    return number if number is not None else parse_number(output_text(value))

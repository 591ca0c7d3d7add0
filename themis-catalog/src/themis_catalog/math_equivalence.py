"""catalog/math_equivalence: is the answer mathematically the expected one?

Both sides are parsed by math-verify (LaTeX or plain expressions, through
sympy) and compared symbolically and numerically, so ``\\frac{1}{2}``, ``0.5``
and ``1/2`` match while ``1/3`` does not. math-verify's own timeouts rely on
``signal.alarm``, which works only on the main thread, and Themis may score
off the event loop in a worker thread; they are therefore off, and answers
longer than ``max_chars`` are compared as text instead, which keeps sympy away
from pathological inputs.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.analysis.outcomes import UNPARSED_FLAG
from themis.core.contexts import ScoreContext
from themis.core.models import Case, JSONValue, ParsedOutput, Score, ScoreError
from themis_catalog.math_answers import clean_answer


class _NoTimeoutNotice(logging.Filter):
    """Drop math-verify's one-time notice that its signal timeouts are off (see above)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


def _math_verify() -> Any:
    import math_verify  # type: ignore[import-untyped]

    for name in ("math_verify.grader", "math_verify.parser"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoTimeoutNotice) for f in logger.filters):
            logger.addFilter(_NoTimeoutNotice())
    return math_verify


def _normal(text: str) -> str:
    return "".join(text.split()).rstrip(".").lower()


def _as_math(text: str) -> str:
    return text if "$" in text or "\\boxed" in text else f"${text}$"


def _parse_gold(expected: str) -> Any:
    parsed = _math_verify().parse(
        _as_math(clean_answer(expected, boxed=True)), parsing_timeout=None
    )
    if not parsed:
        raise ValueError(f"expected answer {expected!r} is not a parseable math expression")
    return parsed


@functools.lru_cache(maxsize=4096)
def reference_problem(expected: str, *, max_chars: int = 400) -> str | None:
    """Why ``expected`` cannot serve as a reference answer, or None when it can."""
    if not expected.strip():
        return "expected answer is empty"
    if len(expected) > max_chars:
        return None  # compared as text
    try:
        _parse_gold(expected)
    except ValueError as exc:
        return str(exc)
    return None


def equivalent(expected: str, predicted: str, *, max_chars: int = 400) -> tuple[bool, str]:
    """Whether ``predicted`` equals ``expected`` mathematically, and how it was decided.

    Both are cleaned as stated answers first (currency, units, thousands
    separators; see :func:`clean_answer`), so a gold ``\\$18.90`` is 18.90.
    """
    if _normal(expected) == _normal(predicted):
        return True, "text"
    expected, predicted = clean_answer(expected, boxed=True), clean_answer(predicted, boxed=True)
    if _normal(expected) == _normal(predicted):
        return True, "text"
    if len(predicted) > max_chars or len(expected) > max_chars:
        return False, "too long to compare symbolically"
    mv = _math_verify()
    gold = _parse_gold(expected)
    guess = mv.parse(_as_math(predicted), parsing_timeout=None)
    if not guess:
        return False, "prediction is not a parseable math expression"
    return bool(mv.verify(gold, guess, timeout_seconds=None)), "math-verify"


class MathEquivalence(BuiltinComponent):
    """1.0 when the parsed answer is mathematically equal to the expected answer."""

    component_id = "catalog/math_equivalence"
    version = "2"

    def __init__(self, max_chars: int = 400) -> None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        self.max_chars = max_chars

    def options(self) -> dict[str, Any]:
        return {"max_chars": self.max_chars}

    def check_reference(self, expected: JSONValue) -> str | None:
        """Why a case's expected answer cannot be compared against (checked at load)."""
        if expected is None:
            return "no expected answer"
        return reference_problem(output_text(expected), max_chars=self.max_chars)

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        if case.expected_output is None:
            return ScoreError(
                metric_id=self.component_id,
                reason=f"case {case.case_id!r} has no expected_output to compare against",
            )
        expected = output_text(case.expected_output)
        if parsed.value is None:
            return Score(
                metric_id=self.component_id,
                value=0.0,
                details={"reason": "no final answer", UNPARSED_FLAG: True},
            )
        predicted = output_text(parsed.value)
        try:
            same, how = equivalent(expected, predicted, max_chars=self.max_chars)
        except ValueError as exc:
            return ScoreError(metric_id=self.component_id, reason=str(exc))
        return Score(
            metric_id=self.component_id,
            value=1.0 if same else 0.0,
            details={"expected": expected, "predicted": predicted, "compared_by": how},
        )

"""builtin/math_answer (a metric): the final answer of a solution, checked for
mathematical equality with the expected answer.

The reference's users name ``builtin/math_answer`` as a metric as well as a
parser. As a metric it reads the final answer itself when no math parser did
(the parsed output's ``format`` is not ``"math"``), with the parser of
``catalog/math_answer``, then scores it as ``catalog/math_equivalence`` does.
"""

from __future__ import annotations

from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ScoreContext
from themis.core.models import Case, JSONValue, ParsedOutput, Score, ScoreError
from themis_catalog.math_answers import extract_final_answer
from themis_catalog.math_equivalence import MathEquivalence


class MathAnswerAccuracy(BuiltinComponent):
    """1.0 when the solution's final answer equals the expected answer."""

    component_id = "builtin/math_answer"
    version = "2"  # 2: answers cut to the answer, golds cleaned alike (#21)

    def __init__(self, max_chars: int = 400) -> None:
        self._equivalence = MathEquivalence(max_chars=max_chars)

    def options(self) -> dict[str, Any]:
        return self._equivalence.options()

    def check_reference(self, expected: JSONValue) -> str | None:
        """Why a case's expected answer cannot be compared against (checked at load)."""
        return self._equivalence.check_reference(expected)

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        if parsed.format != "math" and parsed.value is not None:
            answer = extract_final_answer(output_text(parsed.value))
            parsed = ParsedOutput(value=answer, format="math")
        outcome = self._equivalence.score(parsed, case, ctx)
        return outcome.model_copy(update={"metric_id": self.component_id})

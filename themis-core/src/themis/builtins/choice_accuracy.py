"""builtin/choice_accuracy: 1.0 when the chosen option letter is the expected one.

The parsed output is taken as the chosen letter when a choice parser made it
(``format == "choice"``, e.g. ``builtin/choice_letter``); otherwise the
letter is read from its text with ``builtin/choice_letter``, over the case's
``metadata["num_options"]`` options or the metric's ``num_options``. An
answer naming no option scores 0: an unreadable answer is a wrong answer.
"""

from __future__ import annotations

import string
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.builtins.parsers import ChoiceLetterParser
from themis.core.analysis.outcomes import UNPARSED_FLAG
from themis.core.contexts import ParseContext, ScoreContext
from themis.core.models import Case, ParsedOutput, ReducedCandidate, Score, ScoreError


class ChoiceAccuracy(BuiltinComponent):
    """Multiple-choice accuracy: the chosen letter against the expected letter."""

    component_id = "builtin/choice_accuracy"
    version = "2"  # 2: letters read as builtin/choice_letter v2 reads them (#21)

    def __init__(self, num_options: int = 4) -> None:
        ChoiceLetterParser(num_options)  # validates the count
        self.num_options = num_options

    def options(self) -> dict[str, Any]:
        return {"num_options": self.num_options}

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        if case.expected_output is None:
            return ScoreError(
                metric_id=self.component_id,
                reason=f"case {case.case_id!r} has no expected_output to compare against",
            )
        expected = output_text(case.expected_output).strip().strip("().").upper()
        if len(expected) != 1 or expected not in string.ascii_uppercase:
            return ScoreError(
                metric_id=self.component_id,
                reason=f"expected output {case.expected_output!r} is not an option letter",
            )
        chosen = self._chosen(parsed, case, ctx)
        if chosen is None:
            return Score(
                metric_id=self.component_id,
                value=0.0,
                details={"reason": "no option", UNPARSED_FLAG: True},
            )
        return Score(
            metric_id=self.component_id,
            value=1.0 if chosen == expected else 0.0,
            details={"chosen": chosen, "expected": expected},
        )

    def _chosen(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> str | None:
        if parsed.format == "choice":
            return None if parsed.value is None else output_text(parsed.value).strip().upper()
        count = case.metadata.get("num_options")
        if not isinstance(count, int) or isinstance(count, bool):
            count = self.num_options
        parser = ChoiceLetterParser(num_options=count)
        candidate = ReducedCandidate(
            candidate_id="scored", source_candidate_ids=[], final_output=parsed.value
        )
        parse_ctx = ParseContext(ctx.run_id, case, ctx.case_key, ctx.dataset_id)
        try:
            letter = parser.parse(candidate, parse_ctx).value
        except ValueError:  # ParseFailure: no option letter in the text
            return None
        return None if letter is None else str(letter)

"""builtin/best_of_n: a judge picks the best of a case's candidates by pairwise duels.

The first candidate is the champion; each later candidate (with an output
the champion does not already have) duels it, judged twice with the order
swapped to cancel position bias, and takes its place only by winning more
of the two than it loses. N distinct candidates cost at most 2(N-1) judge
calls. The judge never sees the case's expected output: selection happens
before scoring and must not peek at the answer.

The judge is the selector's ``judge`` option (a judge id, or a mapping
``{"id", "options"}``), else the experiment's first judge model
(``EvaluationConfig.judge_models``). Either way its identity is part of the
selection's: a changed judge reselects. Calls to the experiment's judge take
the run's policy (concurrency limits, retries, circuit breaker); the option's
judge is called directly. A judge that fails or answers without a verdict
fails the case's reduction, which the next run retries.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.authoring.identity import canonical_json
from themis.core.authoring.prompts import case_input_text
from themis.core.contexts import SelectContext
from themis.core.models import GenerationResult, JSONValue
from themis.core.workflows import JudgmentParseError, as_judge_response

_WINNER = re.compile(r"winner\s*[:=]\s*\**\s*(A|B|TIE)\b", re.IGNORECASE)
DEFAULT_CRITERIA = "Which response answers the question better: correct, complete and direct?"


class BestOfN(BuiltinComponent):
    """Keep the one candidate a judge prefers in pairwise duels."""

    component_id = "builtin/best_of_n"
    version = "1"

    def __init__(self, judge: Any = None, criteria: str = DEFAULT_CRITERIA) -> None:
        self.judge_spec = judge
        self.criteria = criteria
        self._judge: Any = None
        self._judge_identity: JSONValue = None
        if judge is not None:
            from themis.core.authoring import registry  # the registry loads builtins: import late

            self._judge, ref = registry.resolve(
                "judge", judge, where=f"{self.component_id} option 'judge'"
            )
            self._judge_identity = ref.identity()

    @property
    def requires_judge_models(self) -> bool:
        """Without a ``judge`` option the experiment's judge models must supply
        one; ``compile()`` checks this, so no generation is paid for first."""
        return self._judge is None

    def options(self) -> dict[str, Any]:
        return {"judge": self._judge_identity, "criteria": self.criteria}

    async def select(
        self, candidates: list[GenerationResult], ctx: SelectContext
    ) -> list[GenerationResult]:
        if len(candidates) <= 1:
            return list(candidates)
        judge = self._judge
        if judge is None:
            if not ctx.judge_models:
                raise ValueError(
                    f"{self.component_id} needs a judge: give it the option "
                    "{'judge': 'some/judge'} or configure evaluation.judge_models"
                )
            judge = ctx.judge_models[0]
        question = case_input_text(ctx.case.input)
        champion = candidates[0]
        for challenger in candidates[1:]:
            if canonical_json(challenger.final_output) == canonical_json(champion.final_output):
                continue
            margin = 0
            for challenger_first in (False, True):
                first, second = (
                    (challenger, champion) if challenger_first else (champion, challenger)
                )
                winner = await self._duel(judge, question, first, second, ctx.seed)
                if winner != "TIE":
                    challenger_won = (winner == "A") == challenger_first
                    margin += 1 if challenger_won else -1
            if margin > 0:
                champion = challenger
        return [champion]

    async def _duel(
        self,
        judge: Any,
        question: str,
        first: GenerationResult,
        second: GenerationResult,
        seed: int | None,
    ) -> str:
        prompt = [
            {
                "role": "system",
                "content": "You compare two responses to the same question. "
                f"{self.criteria} Reply with one line: WINNER: A, WINNER: B or WINNER: TIE.",
            },
            {
                "role": "user",
                "content": f"Question:\n{question}\n\n"
                f"Response A:\n{output_text(first.final_output)}\n\n"
                f"Response B:\n{output_text(second.final_output)}\n",
            },
        ]
        answer = judge.judge(prompt, seed=seed)
        if inspect.isawaitable(answer):
            answer = await answer
        text = as_judge_response(answer).text
        match = _WINNER.search(text)
        if match is None:
            raise JudgmentParseError(
                f"{self.component_id}: no 'WINNER: A|B|TIE' in the judge's answer: {text[:200]!r}"
            )
        return match.group(1).upper()

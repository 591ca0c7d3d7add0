"""catalog/choice_letter: the chosen option letter, for any number of options.

builtin/choice_letter reads a fixed number of options. Benchmarks such as
MMLU-Pro have up to ten options per question and fewer on some, so this
parser takes the count from the case (``metadata["num_options"]``) and
delegates to the builtin parser for that count. An answer naming no option
parses to ``None``, which exact match scores 0: an unreadable answer is a
wrong answer, not a case to leave out.
"""

from __future__ import annotations

from functools import cache

from themis.builtins._base import BuiltinComponent
from themis.builtins.parsers import ChoiceLetterParser, ParseFailure
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate


@cache
def _parser(num_options: int) -> ChoiceLetterParser:
    return ChoiceLetterParser(num_options=num_options)


class CaseChoiceLetter(BuiltinComponent):
    """Extract an option letter among the case's ``metadata["num_options"]`` options."""

    component_id = "catalog/choice_letter"
    version = "2"  # 2: reads letters as builtin/choice_letter v2 does (#21)

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        count = ctx.case.metadata.get("num_options")
        if not isinstance(count, int) or isinstance(count, bool):
            raise ParseFailure(
                f"case {ctx.case.case_id!r} has no integer metadata['num_options'] "
                f"(got {count!r}); the benchmark must record how many options each case has"
            )
        try:
            return _parser(count).parse(candidate, ctx)
        except ParseFailure as exc:
            return ParsedOutput(value=None, format="choice", metadata={"no_answer": str(exc)})
        except ValueError as exc:
            raise ParseFailure(f"case {ctx.case.case_id!r}: {exc}") from exc

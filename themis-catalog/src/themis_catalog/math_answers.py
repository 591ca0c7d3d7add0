"""catalog/math_answer: the final answer of a worked solution.

Models state a final answer in a few conventional ways; this parser takes the
last one it finds, in order of how explicit the convention is: ``\\boxed{...}``
(MATH, AIME), ``#### ...`` (GSM8K), then "the (final) answer is ..." /
"Answer: ...", then the last number. The answer text is returned as is (no
normalisation): equivalence is the metric's job. An answer that states no
final answer parses to ``None``, which the metrics score 0: for a benchmark,
an unreadable answer is a wrong answer, not a case to leave out.
"""

from __future__ import annotations

import re

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES = re.compile(r"####\s*([^\n]+)")
_STATED = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is|:|=)\s*(?:\*\*)?\s*([^\n]+)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_CURRENCY = re.compile(r"^\\?\$\s*(-?\d[\d,]*(?:\.\d+)?)$")
_WRAPPERS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"), ("**", "**"))


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces balanced), or None."""
    starts = [match.end() for match in _BOXED.finditer(text)]
    for start in reversed(starts):
        depth = 1
        for index in range(start, len(text)):
            if text[index] == "{":
                depth += 1
            elif text[index] == "}":
                depth -= 1
                if depth == 0:
                    return text[start:index].strip()
    return None


def _clean(answer: str) -> str:
    answer = answer.strip()
    changed = True
    while changed and answer:
        changed = False
        answer = answer.rstrip(" .").strip()
        for left, right in _WRAPPERS:
            fits = len(answer) > len(left) + len(right)
            if fits and answer.startswith(left) and answer.endswith(right):
                answer = answer[len(left) : -len(right)].strip()
                changed = True
                break
    currency = _CURRENCY.match(answer)
    return currency.group(1) if currency else answer


def extract_final_answer(text: str) -> str | None:
    """The final answer stated in ``text``, or None when it states none."""
    boxed = last_boxed(text)
    if boxed:
        return boxed
    for pattern in (_HASHES, _STATED):
        matches = pattern.findall(text)
        if matches:
            stated = matches[-1]
            return last_boxed(stated) or _clean(stated) or None
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


class MathAnswer(BuiltinComponent):
    """Extract the final answer of a worked solution (see the module docstring)."""

    component_id = "catalog/math_answer"
    version = "1"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output)
        answer = extract_final_answer(text)
        if answer is None:
            return ParsedOutput(value=None, format="math", metadata={"no_answer": text[-200:]})
        return ParsedOutput(value=answer, format="math")

"""Parsers: turn a reduced candidate into the value metrics compare.

A parser that cannot find what it looks for raises :class:`ParseFailure`;
the engine records that as a parse failure of the case, with this message.
"""

from __future__ import annotations

import contextlib
import json
import re
import string
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.builtins.choice_letters import find_choice_letter
from themis.core.contexts import ParseContext
from themis.core.errors import ParseFailure as ParseFailure
from themis.core.models import ParsedOutput, ReducedCandidate


class JsonIdentity(BuiltinComponent):
    """Pass structured output through; decode it first when it is JSON text."""

    component_id = "builtin/json_identity"
    version = "1"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        value = candidate.final_output
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        return ParsedOutput(value=value, format="json")


class RegexParser(BuiltinComponent):
    """Extract a capture group (the first match, or the last with ``last=True``)."""

    component_id = "builtin/regex"
    version = "1"

    def __init__(
        self, pattern: str, group: int | str = 1, ignore_case: bool = True, last: bool = False
    ) -> None:
        self.pattern = pattern
        self.group = group
        self.ignore_case = ignore_case
        self.last = last
        try:
            self._regex = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
        except re.error as exc:
            raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc

    def options(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "group": self.group,
            "ignore_case": self.ignore_case,
            "last": self.last,
        }

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output)
        matches = list(self._regex.finditer(text))
        if not matches:
            raise ParseFailure(f"no match for /{self.pattern}/ in {text[:120]!r}")
        match = matches[-1] if self.last else matches[0]
        groups = match.re.groups
        value = match.group(self.group) if groups else match.group(0)
        return ParsedOutput(value=value, format="text", metadata={"span": list(match.span())})


_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-\u2212+]?)\s?(?:\\?[$€£¥]\s?)?(?P<sign2>[-\u2212]?)"
    r"(?P<digits>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<fraction>\.\d+)?(?P<exponent>[eE][-+]?\d+)?"
    r"|(?<![\w.])(?P<bare_sign>[-\u2212]?)(?P<bare>\.\d+)"
)
_FRACTION = re.compile(r"/(\d+)(?!\d|[.,]\d)")
_MINUS = ("-", "\u2212")
_STATED_NUMBER = re.compile(
    r"(?:####|\bfinal\s+answer\b|\banswer\b)\s*(?:is|:|=)?\s*(?P<rest>[^\n]*)", re.IGNORECASE
)


def _to_float(match: re.Match[str]) -> float:
    if match.group("bare") is not None:
        negative = match.group("bare_sign") in _MINUS
        return -float(match.group("bare")) if negative else float(match.group("bare"))
    negative = match.group("sign") in _MINUS or match.group("sign2") in _MINUS
    text = match.group("digits").replace(",", "") + (match.group("fraction") or "")
    text += match.group("exponent") or ""
    return -float(text) if negative else float(text)


def parse_number(text: str) -> float | None:
    """The last number in ``text``.

    Thousands separators count only in groups of three ("1,234" is 1234,
    "2,3" is two numbers); a currency sign, before or after the minus
    ("-$12", "$-12"), and a Unicode minus are allowed.
    """
    matches = list(_NUMBER.finditer(text))
    return _to_float(matches[-1]) if matches else None


def parse_stated_number(text: str) -> float | None:
    """The number of the last explicit answer statement ("#### 12", "The answer
    is 12", "Answer: 12"), else the last number of ``text``."""
    for stated in reversed(list(_STATED_NUMBER.finditer(text))):
        rest = stated.group("rest").split(". ", 1)[0]
        if "=" in rest:  # "The answer is 4 * 5 = 20": the result
            rest = rest.rsplit("=", 1)[1]
        first = _NUMBER.search(rest)
        if first is not None:
            fraction = _FRACTION.match(rest, first.end())
            if fraction is not None and float(fraction.group(1)) != 0:
                return _to_float(first) / float(fraction.group(1))  # "5/2" is 2.5
            return _to_float(first)
    return parse_number(text)


class NumberParser(BuiltinComponent):
    """Extract the answer's number: the one an explicit statement gives ("The
    answer is 12", "#### 12"), else the last number, as int when it is whole."""

    component_id = "builtin/number"
    version = "2"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        value = candidate.final_output
        if isinstance(value, dict) and "answer" in value:
            value = value["answer"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            text = output_text(value)
            found = parse_stated_number(text)
            if found is None:
                raise ParseFailure(f"no number in {text[:120]!r}")
            number = found
        result: int | float = int(number) if number.is_integer() else number
        return ParsedOutput(value=result, format="number")


class ChoiceLetterParser(BuiltinComponent):
    """Extract a multiple-choice letter among ``num_options`` options (A, B, ...).

    Explicit answer statements ("the answer is (C)", "Answer: C", ``\\boxed{C}``)
    win over bold letters, which win over a bare letter; "a" and "I" before
    a word are read as words. See :mod:`themis.builtins.choice_letters`.
    """

    component_id = "builtin/choice_letter"
    version = "2"

    def __init__(self, num_options: int = 4) -> None:
        if not 2 <= num_options <= 26:
            raise ValueError(f"num_options must be within [2, 26], got {num_options}")
        self.num_options = num_options

    def options(self) -> dict[str, Any]:
        return {"num_options": self.num_options}

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output).strip()
        letter = find_choice_letter(text, self.num_options)
        if letter is None:
            raise ParseFailure(
                f"no choice letter A-{string.ascii_uppercase[self.num_options - 1]} "
                f"in {text[:120]!r}"
            )
        return ParsedOutput(value=letter, format="choice")

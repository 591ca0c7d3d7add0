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
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate


class ParseFailure(ValueError):
    """The candidate does not contain what the parser extracts."""


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


_NUMBER = re.compile(r"-?\$?\s?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?|-?\.\d+")


def parse_number(text: str) -> float | None:
    """The last number in ``text`` (thousands separators and ``$`` allowed)."""
    matches = _NUMBER.findall(text)
    for raw in reversed(matches):
        cleaned = raw.replace(",", "").replace("$", "").replace(" ", "")
        try:
            return float(cleaned)
        except ValueError:
            continue
    return None


class NumberParser(BuiltinComponent):
    """Extract the final number of a candidate, as int when it is whole."""

    component_id = "builtin/number"
    version = "1"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        value = candidate.final_output
        if isinstance(value, dict) and "answer" in value:
            value = value["answer"]
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        else:
            text = output_text(value)
            found = parse_number(text)
            if found is None:
                raise ParseFailure(f"no number in {text[:120]!r}")
            number = found
        result: int | float = int(number) if number.is_integer() else number
        return ParsedOutput(value=result, format="number")


class ChoiceLetterParser(BuiltinComponent):
    """Extract a multiple-choice letter among ``num_options`` options (A, B, ...).

    Explicit answer statements ("answer is (C)", "Answer: C") win over a bare
    letter; among bare letters the last one stated counts.
    """

    component_id = "builtin/choice_letter"
    version = "1"

    def __init__(self, num_options: int = 4) -> None:
        if not 2 <= num_options <= 26:
            raise ValueError(f"num_options must be within [2, 26], got {num_options}")
        self.num_options = num_options
        letters = string.ascii_uppercase[:num_options]
        self._explicit = re.compile(
            rf"answer\s*(?:is|:)?\s*(?:option\s*)?[\(\[]?\s*([{letters}])\b", re.IGNORECASE
        )
        self._bare = re.compile(rf"(?:^|[\s\(\[])([{letters}])(?:[\)\]\.:,]|\s|$)")

    def options(self) -> dict[str, Any]:
        return {"num_options": self.num_options}

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output).strip()
        explicit = self._explicit.findall(text)
        if explicit:
            return ParsedOutput(value=explicit[-1].upper(), format="choice")
        bare = self._bare.findall(text)
        if bare:
            return ParsedOutput(value=bare[-1].upper(), format="choice")
        raise ParseFailure(
            f"no choice letter A-{string.ascii_uppercase[self.num_options - 1]} in {text[:120]!r}"
        )

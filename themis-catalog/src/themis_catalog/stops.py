"""catalog/cut_at_stop: an output cut at the first of its prompt's stop sequences.

A benchmark prompt variant with stop sequences (lm-eval's ``until``, for
few-shot "Question: ... Answer: ..." completion prompts) sends them to the
model where its API takes them; not every API does (OpenAI's Responses API
has none) and not every server honours them, so the catalog puts this parser
first in the variant's chain: whatever the model wrote after "Question:" is
never graded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate

FEW_SHOT_STOP = ("Question:", "</s>", "<|im_end|>")
"""lm-eval's ``until`` for few-shot "Question: ... Answer: ..." prompts (GSM8K)."""


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first of the stop sequences (all of it when none occurs)."""
    cut = len(text)
    for sequence in stop:
        if sequence:
            found = text.find(sequence)
            if 0 <= found < cut:
                cut = found
    return text[:cut]


class CutAtStop(BuiltinComponent):
    """The candidate's text up to the first stop sequence."""

    component_id = "catalog/cut_at_stop"
    version = "1"

    def __init__(self, stop: Sequence[str] = FEW_SHOT_STOP) -> None:
        if isinstance(stop, str):
            stop = [stop]
        self.stop = [str(sequence) for sequence in stop]
        if not self.stop or not all(self.stop):
            raise ValueError(f"stop must list non-empty stop sequences, got {stop!r}")

    def options(self) -> dict[str, Any]:
        return {"stop": self.stop}

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        text = output_text(candidate.final_output)
        cut = cut_at_stop(text, self.stop)
        metadata = {"cut_at": len(cut)} if len(cut) < len(text) else {}
        return ParsedOutput(value=cut, format="text", metadata=metadata)

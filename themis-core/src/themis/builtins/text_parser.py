"""builtin/text: the reduced candidate's output as plain text.

For free-text answers scored by overlap metrics (BLEU, ROUGE, token F1): an
``{"answer": ...}`` output becomes its answer, any other non-text output its
JSON, and surrounding whitespace is stripped.
"""

from __future__ import annotations

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ParseContext
from themis.core.models import ParsedOutput, ReducedCandidate


class TextParser(BuiltinComponent):
    """The candidate's output as stripped text (``format="text"``)."""

    component_id = "builtin/text"
    version = "1"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        return ParsedOutput(value=output_text(candidate.final_output).strip(), format="text")

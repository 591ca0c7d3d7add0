"""acme/shouting: 1.0 when the answer is all upper case.

Written against the SDK (``themis.components``) as a third party would: the
fingerprint derives from the id, the version and the metric's fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from themis.components import Metric
from themis.core.contexts import ScoreContext
from themis.core.models import Case, ParsedOutput, Score


@dataclass
class ShoutingMetric(Metric):
    component_id = "acme/shouting"
    version = "0.3"
    min_letters: int = 1
    """Answers with fewer letters than this never count as shouting."""

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score:
        value = parsed.value
        if isinstance(value, dict):
            value = value.get("answer", "")
        text = str(value)
        letters = sum(ch.isalpha() for ch in text)
        shouting = text.isupper() and letters >= self.min_letters
        return Score(metric_id=self.component_id, value=float(shouting))

"""acme/shouting: 1.0 when the answer is all upper case."""

from __future__ import annotations

from typing import Any


class ShoutingMetric:
    component_id = "acme/shouting"
    version = "0.3"

    def fingerprint(self) -> str:
        return "acme-shouting-v0.3"

    def score(self, parsed: Any, case: Any, ctx: Any) -> Any:
        from themis.core.models import Score

        value = parsed.value
        if isinstance(value, dict):
            value = value.get("answer", "")
        text = str(value)
        return Score(metric_id=self.component_id, value=float(text.isupper()))

"""This project's own metric, named in experiment.yaml as ``python:metrics:CloseEnough``.

Themis imports this file relative to the config, builds ``CloseEnough(**options)``
and records it by ``component_id``, ``version`` and ``fingerprint()``. Change
how it scores, bump ``version``, and the next run re-scores every case without
generating anything again.
"""

from __future__ import annotations

from themis.core.contexts import ScoreContext
from themis.core.models import Case, ParsedOutput, Score, ScoreError


class CloseEnough:
    """1.0 when the answer is within ``tolerance`` (relative) of the expected number."""

    component_id = "starter/close_enough"
    version = "1"

    def __init__(self, tolerance: float = 0.05) -> None:
        if tolerance < 0:
            raise ValueError(f"tolerance must not be negative, got {tolerance}")
        self.tolerance = tolerance

    def fingerprint(self) -> str:
        # Everything that changes a score belongs here; it decides the run id.
        return f"{self.component_id}@{self.version}:tolerance={self.tolerance}"

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError:
        try:
            predicted = float(parsed.value)
            expected = float(case.expected_output)
        except (TypeError, ValueError):
            return ScoreError(
                metric_id=self.component_id,
                reason=f"cannot compare {parsed.value!r} with {case.expected_output!r} as numbers",
            )
        relative_error = abs(predicted - expected) / max(abs(expected), 1.0)
        return Score(
            metric_id=self.component_id,
            value=1.0 if relative_error <= self.tolerance else 0.0,
            details={"relative_error": relative_error},
        )

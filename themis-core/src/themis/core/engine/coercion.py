"""What a component returned, as its contract's type.

Components may answer loosely (a dict for a model, a bare number for a
score); the engine and the judge workflows both turn that into the typed
result here, once, and a wrong type into a :class:`ComponentOutputError`
naming the component.
"""

from __future__ import annotations

import math
from typing import TypeVar

from pydantic import BaseModel

from themis.core.errors import ComponentOutputError, ErrorCategory
from themis.core.models import Score, ScoreError

M = TypeVar("M", bound=BaseModel)


def as_model(model: type[M], value: object, kind: str, component_id: str) -> M:
    """``value`` as ``model``: itself, or validated from a dict."""
    if isinstance(value, model):
        return value
    if isinstance(value, dict):
        try:
            return model.model_validate(value)
        except Exception as exc:
            raise ComponentOutputError(
                f"{kind} {component_id!r} returned an invalid {model.__name__}: {exc}"
            ) from exc
    raise ComponentOutputError(
        f"{kind} {component_id!r} returned {type(value).__name__}, expected {model.__name__}"
    )


def as_score(value: object, metric_id: str, producer: str) -> Score | ScoreError:
    """A metric's outcome under ``metric_id``: a Score or ScoreError as given
    (renamed to the metric's configured name), or a bare number as a Score.
    ``producer`` says what returned it, for the error message."""
    outcome: Score | ScoreError
    if isinstance(value, Score | ScoreError):
        outcome = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        outcome = Score(metric_id=metric_id, value=float(value))
    else:
        raise ComponentOutputError(
            f"{producer} returned {type(value).__name__}, expected Score or ScoreError"
        )
    if outcome.metric_id != metric_id:
        outcome = outcome.model_copy(update={"metric_id": metric_id})
    return outcome


def finite_or_error(outcome: Score | ScoreError, case_key: str) -> Score | ScoreError:
    """A NaN or infinite score becomes the metric's error: JSON has no such
    numbers, and one would make every mean and the stored run unreadable."""
    if isinstance(outcome, ScoreError) or math.isfinite(outcome.value):
        return outcome
    return ScoreError(
        metric_id=outcome.metric_id,
        reason=(
            f"metric {outcome.metric_id!r} returned a score that is not a finite number "
            f"({outcome.value}) for case {case_key!r}; a score must be a finite number"
        ),
        details={"category": ErrorCategory.component_error.value, "value": str(outcome.value)},
    )

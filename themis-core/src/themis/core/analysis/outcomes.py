"""How each case counts in each metric's mean: one rule for every number Themis reports.

A case that was asked and not answered correctly is a wrong answer. So a
case whose answer could not be parsed (an empty output, a refusal, truncated
text, "five" where a number was asked) counts **0** in every metric's mean,
as lm-evaluation-harness scores ``[invalid]``, and is counted beside the mean
as a parse failure. A metric may say the same of an answer its parser marked
as "no answer found" by setting ``details["unparsed"] = True`` on its 0 score
(the catalog's parsers do this, so an unanswered benchmark question is a
wrong answer without failing the run).

A case the model never answered (its generation or reduction failed, say a
provider outage), or that the metric itself could not score (a ScoreError,
a judge that failed), is left out of the mean and counted as an error: it
says nothing about the model, the run is marked ``partial_failure``, and
resuming it fills the gap. Cases not reached yet (a run stopped early) are
in neither count.

``RunResult.metric_means``, the Reporter's tables, ``StatsEngine`` summaries
and comparisons, ``quickcheck`` and the CLI all count through this module.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from themis.core.models import (
    CaseResult,
    MetricCounts,
    RunSnapshot,
    case_key_for,
    split_case_key,
)
from themis.core.storage.events import RunStartedEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow
from themis.core.storage.stores.base import RunStore

UNPARSED_FLAG = "unparsed"
"""``Score.details`` key a metric sets (to True) on a 0 given because no answer was found."""

Kind = Literal["scored", "unparsed", "error"]
_NEVER_ANSWERED = ("generate", "reduce")
_SCORING = ("score", "judge")


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one case counts for one metric: its value (0.0 when unparsed, None for an error)."""

    case_key: str
    dataset_id: str
    metric_id: str
    kind: Kind
    value: float | None


def _flagged(details: object) -> bool:
    return isinstance(details, dict) and details.get(UNPARSED_FLAG) is True


def outcomes_from_cases(
    cases: Sequence[CaseResult], metric_ids: Sequence[str], *, scoring: bool = True
) -> list[Outcome]:
    """Outcomes of folded case results (what a RunResult holds); ``scoring=False``
    for a run that stops before scoring (see :func:`outcomes_from_rows`)."""
    outcomes: list[Outcome] = []
    for case in cases:
        scores = {score.metric_id: score for score in case.scores}
        score_errors = {error.metric_id for error in case.score_errors}
        stages = {error.stage for error in case.errors}
        never_answered = any(stage in stages for stage in _NEVER_ANSWERED)
        for metric_id in _with_seen(metric_ids, scores, score_errors):
            score = scores.get(metric_id)
            kind: Kind | None = None
            value: float | None = None
            if score is not None:
                kind = "unparsed" if _flagged(score.details) else "scored"
                value = score.value
            elif metric_id in score_errors or never_answered:
                kind = "error"
            elif "parse" in stages and scoring:
                kind, value = "unparsed", 0.0
            if kind is not None:
                outcomes.append(Outcome(case.case_key, case.dataset_id, metric_id, kind, value))
    return outcomes


def outcomes_from_rows(
    snapshot: RunSnapshot,
    score_rows: Iterable[ScoreRow],
    work_items: Iterable[WorkItemRow],
    *,
    scoring: bool = True,
) -> list[Outcome]:
    """Outcomes of a stored run, from its score rows and work-item states.

    ``scoring=False`` (a run that stops before scoring) counts no unparsed
    answer: no metric ran, so no mean exists to count it in."""
    datasets = {
        case_key_for(dataset.dataset_id, case.case_id): dataset.dataset_id
        for dataset in snapshot.datasets
        for case in dataset.cases
    }
    metric_ids = [ref.name for ref in snapshot.component_refs.metrics]
    seen: dict[tuple[str, str], Outcome] = {}
    for row in score_rows:
        if row.value is None:
            outcome = Outcome(row.case_key, row.dataset_id, row.metric_id, "error", None)
        else:
            flagged = f'"{UNPARSED_FLAG}"' in row.details and _flagged(_loads(row.details))
            kind: Kind = "unparsed" if flagged else "scored"
            outcome = Outcome(row.case_key, row.dataset_id, row.metric_id, kind, row.value)
        seen[(row.case_key, row.metric_id)] = outcome
        if row.metric_id not in metric_ids:
            metric_ids.append(row.metric_id)
    failed: dict[str, Kind] = {}
    for item in work_items:
        if item.state != "failed":
            continue
        if item.stage in _NEVER_ANSWERED:
            failed[item.case_key] = "error"
        elif item.stage == "parse" and scoring:
            failed.setdefault(item.case_key, "unparsed")
    outcomes = list(seen.values())
    for case_key, kind in failed.items():
        dataset_id = datasets.get(case_key) or split_case_key(case_key)[0]
        for metric_id in metric_ids:
            if (case_key, metric_id) not in seen:
                value = 0.0 if kind == "unparsed" else None
                outcomes.append(Outcome(case_key, dataset_id, metric_id, kind, value))
    return outcomes


def stored_outcomes(store: RunStore, snapshot: RunSnapshot) -> list[Outcome]:
    """Outcomes of a run read from a store's projections."""
    run_id = snapshot.run_id
    work_items = store.work_items(run_id)
    return outcomes_from_rows(
        snapshot,
        store.score_rows(run_id),
        work_items,
        scoring=_scoring_ran(store, run_id, work_items),
    )


def _scoring_ran(store: RunStore, run_id: str, work_items: Sequence[WorkItemRow]) -> bool:
    """Whether the run scores: a scoring work item exists, or it reached scoring,
    or (every case failed before) the last start asked for scoring."""
    if any(item.stage in _SCORING for item in work_items):
        return True
    stored = store.resume(run_id)
    if stored is not None and stored.completed_through_stage is not None:
        return stored.completed_through_stage in _SCORING
    until = "judge"
    for event in store.iter_events(run_id):
        if isinstance(event, RunStartedEvent):
            until = event.until_stage
    return until in _SCORING


def _loads(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _with_seen(metric_ids: Sequence[str], *seen: Iterable[str]) -> list[str]:
    ordered = list(metric_ids)
    extra = sorted({metric_id for group in seen for metric_id in group} - set(ordered))
    return ordered + extra


def counted_values(outcomes: Iterable[Outcome]) -> dict[str, dict[str, float]]:
    """The values in each metric's mean, by metric and case key (unparsed as 0.0)."""
    values: dict[str, dict[str, float]] = defaultdict(dict)
    for outcome in outcomes:
        if outcome.value is not None:
            values[outcome.metric_id][outcome.case_key] = outcome.value
    return values


class MetricTally:
    """Each metric's mean and counts, added up one outcome at a time.

    What :func:`means` and :func:`metric_counts` return, without holding the
    outcomes: a run adds each case's outcomes as the case finishes. A mean is
    the exactly rounded sum (``math.fsum``) over its count, so the order in
    which cases finish never changes it.
    """

    def __init__(self) -> None:
        self._partials: dict[str, list[float]] = defaultdict(list)
        self._n: dict[str, int] = defaultdict(int)
        self._valued: dict[str, int] = defaultdict(int)
        self._unparsed: dict[str, int] = defaultdict(int)
        self._errors: dict[str, int] = defaultdict(int)
        self._seen: set[str] = set()

    def add(self, outcomes: Iterable[Outcome]) -> None:
        """Count outcomes; a case must be added once (each case counts once per metric)."""
        for outcome in outcomes:
            metric_id = outcome.metric_id
            self._seen.add(metric_id)
            if outcome.kind == "error":
                self._errors[metric_id] += 1
                continue
            self._n[metric_id] += 1
            if outcome.kind == "unparsed":
                self._unparsed[metric_id] += 1
            if outcome.value is not None:
                _add_exact(self._partials[metric_id], outcome.value)
                self._valued[metric_id] += 1

    def means(self) -> dict[str, float]:
        """Each metric's mean over the cases it counts (sorted by metric id)."""
        return {
            metric_id: math.fsum(self._partials[metric_id]) / self._valued[metric_id]
            for metric_id in sorted(self._partials)
        }

    def counts(self, metric_ids: Sequence[str] = ()) -> dict[str, MetricCounts]:
        """Per metric: cases in its mean, how many of them did not parse, errors."""
        return {
            metric_id: MetricCounts(
                n=self._n.get(metric_id, 0),
                parse_failures=self._unparsed.get(metric_id, 0),
                errors=self._errors.get(metric_id, 0),
            )
            for metric_id in _with_seen(metric_ids, self._seen)
        }


def _add_exact(partials: list[float], value: float) -> None:
    """Add ``value`` to the non-overlapping partial sums ``partials`` without
    rounding (Shewchuk's algorithm, as ``math.fsum`` keeps them)."""
    kept = 0
    for partial in partials:
        if abs(value) < abs(partial):
            value, partial = partial, value
        high = value + partial
        low = partial - (high - value)
        if low:
            partials[kept] = low
            kept += 1
        value = high
    partials[kept:] = [value]


def metric_counts(
    outcomes: Iterable[Outcome], metric_ids: Sequence[str] = ()
) -> dict[str, MetricCounts]:
    """Per metric: how many cases are in its mean, how many of them did not parse, errors."""
    tally = MetricTally()
    tally.add(outcomes)
    return tally.counts(metric_ids)


def means(outcomes: Iterable[Outcome]) -> dict[str, float]:
    """Each metric's mean over the cases it counts (sorted by metric id)."""
    tally = MetricTally()
    tally.add(outcomes)
    return tally.means()

"""Fold a case's events into its CaseResult, and case results into a RunResult.

The engine calls this with the events it has in hand as each case finishes;
inspection calls it with events read back from a store. One fold, two callers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from themis.core.analysis import outcomes
from themis.core.engine.plan import CasePlan
from themis.core.models import (
    STAGES,
    CaseResult,
    CaseResults,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    RunResult,
    RunStatus,
    Score,
    ScoreError,
    StageCounts,
    StageError,
)
from themis.core.storage.events import (
    CaseRunEvent,
    RunEvent,
)


def _state(event: RunEvent | None) -> str:
    if event is None:
        return "pending"
    if event.event_type.endswith("_failed"):  # type: ignore[attr-defined]
        return "failed"
    return "cached" if getattr(event, "cached_from", None) else "done"


def stage_states(plan: CasePlan, latest: Mapping[str, RunEvent], stage: str) -> list[str]:
    return [_state(latest.get(key)) for key in plan.keys_for(stage)]


def fold_case(plan: CasePlan, latest: Mapping[str, RunEvent], until_stage: str) -> CaseResult:
    """The CaseResult for one case from the latest event of each of its work keys.

    Events are told apart by ``event_type`` rather than ``isinstance``: a
    pydantic model class checks instances in Python, and this runs for every
    event of every case.
    """
    candidates: list[GenerationResult] = []
    reduced: ReducedCandidate | None = None
    parsed: list[ParsedOutput] = []
    scores: list[Score] = []
    score_errors: list[ScoreError] = []
    errors: list[StageError] = []
    cached: list[str] = []
    through: str | None = None
    blocked = False
    for stage in STAGES[: STAGES.index(until_stage) + 1]:
        states: list[str] = []
        for key in plan.keys_for(stage):
            event: Any = latest.get(key)
            state = _state(event)
            states.append(state)
            if event is None:
                continue
            kind = event.event_type
            if state == "failed":
                errors.append(event.error)
                if kind in _SCORE_FAILURES:
                    score_errors.append(event.score_error)
            elif kind == "generation_completed":
                candidates.append(event.candidate)
            elif kind == "reduction_completed":
                reduced = event.reduced
            elif kind == "parse_completed":
                parsed = list(event.parsed_outputs)
            elif kind in _SCORES:
                scores.append(event.score)
        if states and all(state == "cached" for state in states):
            cached.append(stage)
        if not blocked and all(state in ("done", "cached") for state in states):
            through = stage
        else:
            blocked = True
    failed = bool(errors)
    complete = through == until_stage
    status = RunStatus.failed if failed else RunStatus.completed if complete else RunStatus.pending
    return CaseResult(
        case_key=plan.case_key,
        dataset_id=plan.dataset_id,
        case_id=plan.case.case_id,
        status=status,
        generated_candidates=candidates,
        reduced_candidate=reduced,
        parsed_outputs=parsed,
        scores=scores,
        score_errors=score_errors,
        errors=errors,
        completed_through_stage=through,
        cached_stages=cached,
    )


_SCORES = frozenset({"score_completed", "evaluation_completed"})
_SCORE_FAILURES = frozenset({"score_failed", "evaluation_failed"})


def latest_by_key(events: Iterable[RunEvent]) -> dict[str, dict[str, RunEvent]]:
    """Latest event per work key, grouped by case key (later events win)."""
    grouped: dict[str, dict[str, RunEvent]] = defaultdict(dict)
    for event in events:
        if isinstance(event, CaseRunEvent):
            grouped[event.case_key][event.work_key] = event
    return grouped


class RunTally:
    """A run's status, last completed stage and metric means and counts,
    added up one case at a time, so that nothing needs every case at once:
    the engine adds each case as it finishes, :func:`build_run_result` the
    cases it is given."""

    def __init__(self, until_stage: str, metric_ids: Sequence[str] = ()) -> None:
        self.until_stage = until_stage
        self.metric_ids = list(metric_ids)
        self.scoring = STAGES.index(until_stage) >= STAGES.index("score")
        self.metrics = outcomes.MetricTally()
        self.cases = 0
        self.pending = 0
        self.failed = 0
        self._through: int | None = None  # the least stage reached by a case that did not fail
        self._unreached = False  # a case that did not fail completed no stage

    def add(self, case: CaseResult) -> None:
        self.cases += 1
        self.pending += case.status is RunStatus.pending
        self.failed += case.status is RunStatus.failed
        if case.status is not RunStatus.failed:
            if case.completed_through_stage is None:
                self._unreached = True
            else:
                index = STAGES.index(case.completed_through_stage)
                self._through = index if self._through is None else min(self._through, index)
        self.metrics.add(
            outcomes.outcomes_from_cases([case], self.metric_ids, scoring=self.scoring)
        )

    def status(self) -> RunStatus:
        if self.pending:
            return RunStatus.running
        if self.failed == 0:
            return RunStatus.completed
        return RunStatus.failed if self.failed == self.cases else RunStatus.partial_failure

    def completed_through(self) -> str | None:
        """The last stage every case has completed (failed cases excluded)."""
        if not self.cases:
            return self.until_stage
        if self._unreached or self._through is None:
            return None
        return STAGES[self._through]


def count_states(
    counts: dict[str, dict[str, int]], plan: CasePlan, latest: Mapping[str, RunEvent]
) -> None:
    """Add one case's work-item states (pending, done, cached, failed) to ``counts``."""
    for stage in STAGES:
        for state in stage_states(plan, latest, stage):
            counts[stage][state] += 1


def new_counts() -> dict[str, dict[str, int]]:
    return {stage: defaultdict(int) for stage in STAGES}


def stage_counts(
    plans: list[CasePlan], latest: Mapping[str, Mapping[str, RunEvent]]
) -> dict[str, StageCounts]:
    counts = new_counts()
    for plan in plans:
        count_states(counts, plan, latest.get(plan.case_key, {}))
    return {stage: StageCounts(**values) for stage, values in counts.items()}


def build_run_result(
    run_id: str,
    cases: Sequence[CaseResult],
    until_stage: str,
    counts: dict[str, StageCounts],
    *,
    metric_ids: Sequence[str] = (),
) -> RunResult:
    """The RunResult holding ``cases`` (a list, or a view over a store),
    its aggregates counted from them in one pass. ``metric_ids`` are the
    run's metrics, so a metric no case could be scored on still has its counts."""
    tally = RunTally(until_stage, metric_ids)
    for case in cases:
        tally.add(case)
    return tallied_run_result(run_id, cases, tally, counts)


def tallied_run_result(
    run_id: str, cases: Sequence[CaseResult], tally: RunTally, counts: dict[str, StageCounts]
) -> RunResult:
    """The RunResult of a run whose cases were added to ``tally`` as they finished."""
    return RunResult(
        run_id=run_id,
        status=tally.status(),
        cases=cases if isinstance(cases, CaseResults) else CaseResults(cases),
        metric_means=tally.metrics.means(),
        metric_counts=tally.metrics.counts(tally.metric_ids),
        completed_through_stage=tally.completed_through(),
        stage_counts=counts,
    )

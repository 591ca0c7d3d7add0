"""One case through the stages: generate, then reduce → parse → score → judge,
each only when the one before succeeded and the run goes that far."""

from __future__ import annotations

from themis.core.engine.plan import CasePlan
from themis.core.engine.scheduler import gather_all
from themis.core.engine.skeleton import StageEnv
from themis.core.engine.spans import Spans
from themis.core.engine.stages import (
    GenerateStage,
    JudgeStage,
    ParseStage,
    ReduceStage,
    ScoreStage,
)
from themis.core.models import GenerationResult
from themis.core.storage.events import RunEvent
from themis.core.workflows import EvaluationSubject


class CasePipeline:
    """A case's stages in order, with a span around each."""

    def __init__(self, env: StageEnv, spans: Spans, until_index: int) -> None:
        self.generate = GenerateStage(env)
        self.reduce = ReduceStage(env)
        self.parse = ParseStage(env)
        self.score = ScoreStage(env)
        self.judge = JudgeStage(env)
        self.spans = spans
        self.until_index = until_index

    async def candidates(
        self, plan: CasePlan, stored: dict[str, RunEvent], latest: dict[str, RunEvent]
    ) -> list[GenerationResult] | None:
        """The case's candidates; None when one failed or the run stops at generation."""
        with self.spans.stage("generate", plan, latest):
            outcomes = await gather_all(
                [
                    self.generate.run(plan, item.work_key, item, stored, latest)
                    for item in plan.generations
                ]
            )
        if any(outcome is None for outcome in outcomes) or self.until_index < 1:
            return None
        return [outcome for outcome in outcomes if outcome is not None]

    async def later_stages(
        self,
        plan: CasePlan,
        candidates: list[GenerationResult],
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> None:
        """Reduce, parse, score and judge, each only when the one before succeeded."""
        spans = self.spans
        with spans.stage("reduce", plan, latest):
            reduced = await self.reduce.run(plan, plan.reduce_key, candidates, stored, latest)
        if reduced is None or self.until_index < 2:
            return
        with spans.stage("parse", plan, latest):
            parsed = await self.parse.run(plan, plan.parse_key, reduced, stored, latest)
        if parsed is None or self.until_index < 3:
            return
        with spans.stage("score", plan, latest):
            await gather_all(
                [
                    self.score.run(plan, item.work_key, (item, parsed), stored, latest)
                    for item in plan.metrics
                    if item.stage == "score"
                ]
            )
        if self.until_index < 4:
            return
        subject = EvaluationSubject(
            case=plan.case, candidates=candidates, reduced=reduced, parsed=parsed
        )
        with spans.stage("judge", plan, latest):
            await gather_all(
                [
                    self.judge.run(plan, item.work_key, (item, subject), stored, latest)
                    for item in plan.metrics
                    if item.stage == "judge"
                ]
            )

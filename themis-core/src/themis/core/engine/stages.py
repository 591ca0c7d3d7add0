"""The five stages, each a small spec on the skeleton (``skeleton.Stage``):
its events, what a stored event holds, and ``produce`` (its context,
before-hook, the component call, coercion, after-hook)."""

from __future__ import annotations

import time
from typing import Any, TypeVar, cast

from themis.core.contexts import (
    EvalScoreContext,
    GenerateContext,
    ParseContext,
    ReduceContext,
    ScoreContext,
    SelectContext,
)
from themis.core.engine.coercion import as_model, as_score, finite_or_error
from themis.core.engine.plan import CasePlan, GenerationWorkItem, MetricItem
from themis.core.engine.skeleton import Attempt, Produced, Stage
from themis.core.models import (
    ComponentRef,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    Score,
    ScoreError,
)
from themis.core.protocols import PureMetric
from themis.core.storage.events import (
    CaseRunEvent,
    EvaluationCompletedEvent,
    EvaluationFailedEvent,
    GenerationCompletedEvent,
    GenerationFailedEvent,
    ParseCompletedEvent,
    ParseFailedEvent,
    ReductionCompletedEvent,
    ReductionFailedEvent,
    ScoreCompletedEvent,
    ScoreFailedEvent,
)
from themis.core.workflows import EvaluationSubject

J = TypeVar("J")


class GenerateStage(Stage[GenerationWorkItem, GenerationResult]):
    name = "generate"
    completed = GenerationCompletedEvent
    failed = GenerationFailedEvent
    reusable = (GenerationCompletedEvent,)

    def attempt(self, plan: CasePlan, work: GenerationWorkItem) -> Attempt:
        ref = self.env.snapshot.component_refs.generator
        return Attempt(ref.component_id, seed=work.seed, sample_index=work.sample_index)

    def output_of(self, event: CaseRunEvent) -> GenerationResult | None:
        return event.candidate if isinstance(event, GenerationCompletedEvent) else None

    async def produce(
        self, plan: CasePlan, work: GenerationWorkItem, attempt: Attempt
    ) -> Produced[GenerationResult]:
        env = self.env
        generator = env.components.generator
        ctx = GenerateContext(
            run_id=env.run_id,
            dataset_id=plan.dataset_id,
            case_id=plan.case.case_id,
            case_key=plan.case_key,
            seed=work.seed,
            base_seed=work.base_seed,
            sample_index=work.sample_index,
            prompt_spec=env.prompt_spec,
            metadata=plan.case.metadata,
        )
        env.hooks.call.before_generate(case=plan.case, ctx=ctx)
        started = time.perf_counter()

        async def call() -> Any:
            # No call timeout here: the policy's task timeout bounds a generation.
            return await env.invoker.call(
                generator.generate, plan.case, ctx, blocking=True, timeout_s=None
            )

        raw = await env.policy.call(
            str(attempt.component_id),
            call,
            component=generator,
            prompt=(plan.case.input, env.prompt_spec),
        )
        candidate = as_model(GenerationResult, raw, "generator", str(attempt.component_id))
        if candidate.latency_ms is None:
            latency_ms = (time.perf_counter() - started) * 1000
            candidate = candidate.model_copy(update={"latency_ms": latency_ms})
        env.hooks.call.after_generate(case=plan.case, result=candidate, ctx=ctx)
        return Produced(candidate, {"candidate": candidate})


class ReduceStage(Stage[list[GenerationResult], ReducedCandidate]):
    name = "reduce"
    completed = ReductionCompletedEvent
    failed = ReductionFailedEvent
    reusable = (ReductionCompletedEvent,)

    def attempt(self, plan: CasePlan, work: list[GenerationResult]) -> Attempt:
        return Attempt(self.env.snapshot.component_refs.reducer.component_id)

    def output_of(self, event: CaseRunEvent) -> ReducedCandidate | None:
        return event.reduced if isinstance(event, ReductionCompletedEvent) else None

    async def produce(
        self, plan: CasePlan, work: list[GenerationResult], attempt: Attempt
    ) -> Produced[ReducedCandidate]:
        env = self.env
        refs = env.snapshot.component_refs
        reducer_id = attempt.component_id
        selected = work
        if env.components.selector is not None:
            attempt.component_id = refs.selector.component_id if refs.selector else reducer_id
            select_ctx = SelectContext(
                **env.case_fields(plan),
                candidate_ids=[c.candidate_id for c in work],
                judge_models=env.selection_judges(),
            )
            selected = list(
                await env.invoker.call(env.components.selector.select, work, select_ctx)
            )
            attempt.component_id = reducer_id
        selected_ids = [c.candidate_id for c in selected]
        ctx = ReduceContext(**env.case_fields(plan), candidate_ids=selected_ids)
        env.hooks.call.before_reduce(candidates=selected, ctx=ctx)
        raw = await env.invoker.call(env.components.reducer.reduce, selected, ctx)
        reduced = as_model(ReducedCandidate, raw, "reducer", str(reducer_id))
        env.hooks.call.after_reduce(reduced=reduced, ctx=ctx)
        return Produced(reduced, {"reduced": reduced, "selected_candidate_ids": selected_ids})


class ParseStage(Stage[ReducedCandidate, ParsedOutput]):
    name = "parse"
    completed = ParseCompletedEvent
    failed = ParseFailedEvent
    reusable = (ParseCompletedEvent,)

    def attempt(self, plan: CasePlan, work: ReducedCandidate) -> Attempt:
        return Attempt(None)

    def output_of(self, event: CaseRunEvent) -> ParsedOutput | None:
        return event.parsed_outputs[-1] if isinstance(event, ParseCompletedEvent) else None

    async def produce(
        self, plan: CasePlan, work: ReducedCandidate, attempt: Attempt
    ) -> Produced[ParsedOutput]:
        env = self.env
        ctx = ParseContext(**env.case_fields(plan))
        env.hooks.call.before_parse(candidate=work, ctx=ctx)
        outputs: list[ParsedOutput] = []
        current = work
        for ref, parser in env.components.parsers:
            attempt.component_id = ref.component_id
            raw = await env.invoker.call(parser.parse, current, ctx)
            parsed = as_model(ParsedOutput, raw, "parser", ref.component_id)
            outputs.append(parsed)
            current = current.model_copy(update={"final_output": parsed.value})
        if not outputs:
            outputs.append(ParsedOutput(value=work.final_output, format="raw"))
        env.hooks.call.after_parse(parsed=outputs[-1], ctx=ctx)
        return Produced(outputs[-1], {"parsed_outputs": outputs})


class ScoreStage(Stage[tuple[MetricItem, ParsedOutput], Score]):
    name = "score"
    completed = ScoreCompletedEvent
    failed = ScoreFailedEvent
    reusable = (ScoreCompletedEvent, ScoreFailedEvent)
    guards_upstream = False

    def attempt(self, plan: CasePlan, work: tuple[MetricItem, ParsedOutput]) -> Attempt:
        item = work[0]
        ref, _ = self.env.components.metrics[item.metric_id]
        return Attempt(ref.component_id, metric_id=item.metric_id)

    def output_of(self, event: CaseRunEvent) -> Score | None:
        return event.score if isinstance(event, ScoreCompletedEvent) else None

    async def produce(
        self, plan: CasePlan, work: tuple[MetricItem, ParsedOutput], attempt: Attempt
    ) -> Produced[Score]:
        env = self.env
        item, parsed = work
        _, metric = env.components.metrics[item.metric_id]
        ctx = ScoreContext(**env.case_fields(plan), parsed_output=parsed)
        env.hooks.call.before_score(metric_id=item.metric_id, parsed=parsed, ctx=ctx)
        # The plan sends only pure metrics here; judge-backed ones go to JudgeStage.
        raw = await env.invoker.call(cast(PureMetric, metric).score, parsed, plan.case, ctx)
        outcome = finite_or_error(
            as_score(raw, item.metric_id, f"metric {attempt.component_id!r}"), plan.case_key
        )
        env.hooks.call.after_score(result=outcome, ctx=ctx)
        if isinstance(outcome, ScoreError):
            return Produced(None, {}, score_error=outcome)
        return Produced(outcome, {"score": outcome})


class JudgeStage(Stage[tuple[MetricItem, EvaluationSubject], Score]):
    name = "judge"
    completed = EvaluationCompletedEvent
    failed = EvaluationFailedEvent
    reusable = (EvaluationCompletedEvent, EvaluationFailedEvent)
    guards_upstream = False

    def attempt(self, plan: CasePlan, work: tuple[MetricItem, EvaluationSubject]) -> Attempt:
        item = work[0]
        ref, _ = self.env.components.metrics[item.metric_id]
        return Attempt(ref.component_id, metric_id=item.metric_id)

    def output_of(self, event: CaseRunEvent) -> Score | None:
        return event.score if isinstance(event, EvaluationCompletedEvent) else None

    async def produce(
        self, plan: CasePlan, work: tuple[MetricItem, EvaluationSubject], attempt: Attempt
    ) -> Produced[Score]:
        env = self.env
        item, subject = work
        _, metric = env.components.metrics[item.metric_id]
        identity = env.snapshot.identity
        judge_config = metric_judge_config(
            identity.judge_config, list(env.components.metrics), item.metric_id
        )
        judges = select_judges(env.components.judge_models, judge_config)
        ctx = EvalScoreContext(
            run_id=env.run_id,
            case=plan.case,
            case_key=plan.case_key,
            dataset_id=plan.dataset_id,
            metric_id=item.metric_id,
            judge_models=tuple(model for _, model in judges),
            workflow_overrides=dict(identity.workflow_overrides),
            judge_config=judge_config,
            seed=env.case_seed,
            case_id=plan.case.case_id,
            metadata=plan.case.metadata,
        )
        env.hooks.call.before_judge(metric_id=item.metric_id, ctx=ctx)
        trace = await env.workflows.run_metric(
            metric,
            subject,
            ctx,
            judge_refs=[judge_ref for judge_ref, _ in judges],
            policy=env.policy,
            invoker=env.invoker,
        )
        result = finite_or_error(trace.result, plan.case_key)
        if result is not trace.result:
            trace = trace.model_copy(update={"result": result})
        env.hooks.call.after_judge(result=trace.result, ctx=ctx)
        execution = trace.model_dump(mode="json")
        if isinstance(trace.result, Score):
            return Produced(trace.result, {"score": trace.result, "execution": execution})
        return Produced(
            None, {}, score_error=trace.result, failure_payload={"execution": execution}
        )


def metric_judge_config(
    judge_config: dict[str, Any], metric_names: list[str], metric_id: str
) -> dict[str, Any]:
    """The judge configuration one metric sees.

    ``judge_config`` holds shared settings plus, under a metric's name, that
    metric's own settings, which win over the shared ones.
    """
    shared = {k: v for k, v in judge_config.items() if k not in metric_names}
    own = judge_config.get(metric_id)
    return {**shared, **own} if isinstance(own, dict) else shared


def select_judges(
    judges: list[tuple[ComponentRef, J]], judge_config: dict[str, Any]
) -> list[tuple[ComponentRef, J]]:
    """The judge models a metric uses: all, or those its config names."""
    wanted = judge_config.get("judge_models")
    if not wanted:
        return judges
    return [(ref, judge) for ref, judge in judges if ref.name in wanted]

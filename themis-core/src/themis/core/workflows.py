"""Evaluation workflows: how judge-backed metrics are executed and recorded.

A judge-backed metric (LLMMetric, SelectionMetric, TraceMetric) builds an
:class:`EvaluationWorkflow` for one subject. :class:`DefaultWorkflowRunner`
renders each judge call's prompt, calls the judge model under the run's
concurrency and retry policy, parses and scores each judgment, aggregates,
and returns a :class:`WorkflowTrace` that records every call: prompt, raw
response, parsed verdict, token usage and timing. The trace is stored with
the evaluation event, so any judgment can be inspected later.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import Field

from themis.core.contexts import EvalScoreContext
from themis.core.engine.coercion import as_score
from themis.core.errors import ComponentTimeoutError, ErrorCategory, classify
from themis.core.errors import JudgmentParseError as JudgmentParseError
from themis.core.errors import WorkflowBuildError as WorkflowBuildError
from themis.core.models import (
    Case,
    ComponentRef,
    FrozenModel,
    GenerationResult,
    JSONValue,
    ParsedOutput,
    ReducedCandidate,
    Score,
    ScoreError,
)

DEFAULT_PARSE_RETRIES = 1


@dataclass(frozen=True, slots=True)
class EvaluationSubject:
    """What a judge-backed metric evaluates for one case."""

    case: Case
    candidates: list[GenerationResult]
    reduced: ReducedCandidate | None
    parsed: ParsedOutput | None


class JudgeCall(FrozenModel):
    """One judge call a workflow asks for; ``judge_index`` picks the judge model."""

    call_id: str
    judge_index: int = 0
    metadata: dict[str, JSONValue] = Field(default_factory=dict)


class JudgeResponse(FrozenModel):
    """What a judge model answered."""

    text: str
    token_usage: dict[str, int] | None = None
    raw: JSONValue = None
    model: str | None = None


class JudgeCallRecord(FrozenModel):
    """Everything stored about one judge call."""

    call_id: str
    judge_index: int
    judge_model_id: str | None
    prompt: JSONValue
    response_text: str | None = None
    raw_response: JSONValue = None
    judgment: JSONValue = None
    score: JSONValue = None
    token_usage: dict[str, int] | None = None
    latency_ms: float | None = None
    attempts: int = 0
    error: str | None = None


SUBJECT_KINDS = {"llm": "reduced_candidate", "selection": "candidate_set", "trace": "trace"}
"""What a judge-backed metric family evaluates: the reduced candidate (an
LLMMetric), all generated candidates (a SelectionMetric), or the candidates'
traces and conversations (a TraceMetric)."""


class WorkflowTrace(FrozenModel):
    """The record of one workflow execution for one case and metric.

    ``calls`` holds every judge call in the order the workflow asked for them;
    ``result`` is what ``aggregate`` returned (or the error that stopped the
    workflow); ``subject_kind`` what was judged (see ``SUBJECT_KINDS``).
    """

    metric_id: str
    calls: list[JudgeCallRecord] = Field(default_factory=list)
    result: Score | ScoreError
    started_at: float
    duration_ms: float
    subject_kind: str | None = None


@runtime_checkable
class WorkflowRunner(Protocol):
    """Protocol for executing evaluation workflows and returning traces."""

    async def run_metric(
        self,
        metric: Any,
        subject: EvaluationSubject,
        ctx: EvalScoreContext,
        *,
        judge_refs: Sequence[ComponentRef],
        policy: Any,
        invoker: Any,
    ) -> WorkflowTrace: ...


def as_judge_response(value: Any) -> JudgeResponse:
    if isinstance(value, JudgeResponse):
        return value
    if isinstance(value, str):
        return JudgeResponse(text=value)
    text = getattr(value, "text", None)
    if isinstance(text, str):
        usage = getattr(value, "token_usage", None)
        return JudgeResponse(
            text=text,
            token_usage=dict(usage) if isinstance(usage, dict) else None,
            raw=getattr(value, "raw", None),
            model=getattr(value, "model", None),
        )
    raise TypeError(f"judge returned {type(value).__name__}; expected a JudgeResponse or str")


def _json_safe(value: Any) -> JSONValue:
    if isinstance(value, FrozenModel):
        return value.model_dump(mode="json")
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return repr(value)


class DefaultWorkflowRunner:
    """Concurrent interpreter for Themis-owned evaluation workflows."""

    async def run_metric(
        self,
        metric: Any,
        subject: EvaluationSubject,
        ctx: EvalScoreContext,
        *,
        judge_refs: Sequence[ComponentRef],
        policy: Any,
        invoker: Any,
    ) -> WorkflowTrace:
        started_at = time.time()
        started = time.perf_counter()
        records: list[JudgeCallRecord] = []
        try:
            workflow = await invoker.call(metric.build_workflow, subject, ctx)
            calls = [
                call if isinstance(call, JudgeCall) else JudgeCall.model_validate(call)
                for call in await invoker.call(workflow.judge_calls)
            ]
            for call in calls:
                if call.judge_index >= len(ctx.judge_models):
                    raise WorkflowBuildError(
                        f"metric {ctx.metric_id!r} asks for judge #{call.judge_index} but "
                        f"{len(ctx.judge_models)} judge model(s) are configured "
                        "(EvaluationConfig.judge_models)"
                    )
            records = list(
                await asyncio.gather(
                    *(
                        self._run_call(workflow, call, subject, ctx, judge_refs, policy, invoker)
                        for call in calls
                    )
                )
            )
            failed = [record for record in records if record.error is not None]
            if failed:
                result: Score | ScoreError = ScoreError(
                    metric_id=ctx.metric_id,
                    reason="; ".join(f"{r.call_id}: {r.error}" for r in failed),
                    retryable=False,
                    details={"category": _failure_category(failed)},
                )
            else:
                outcome = await invoker.call(
                    workflow.aggregate,
                    [r.judgment for r in records],
                    [r.score for r in records],
                    ctx,
                )
                result = as_score(outcome, ctx.metric_id, f"aggregate of metric {ctx.metric_id!r}")
        except Exception as exc:
            result = ScoreError(
                metric_id=ctx.metric_id,
                reason=f"{type(exc).__name__}: {exc}",
                details={"category": classify(exc).category.value},
            )
        return WorkflowTrace(
            metric_id=ctx.metric_id,
            calls=records,
            result=result,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            subject_kind=SUBJECT_KINDS.get(str(getattr(metric, "metric_family", "llm"))),
        )

    async def _run_call(
        self,
        workflow: Any,
        call: JudgeCall,
        subject: EvaluationSubject,
        ctx: EvalScoreContext,
        judge_refs: Sequence[ComponentRef],
        policy: Any,
        invoker: Any,
    ) -> JudgeCallRecord:
        judge = ctx.judge_models[call.judge_index]
        judge_id = str(getattr(judge, "component_id", "judge"))
        ref_name = judge_refs[call.judge_index].name if call.judge_index < len(judge_refs) else None
        record: dict[str, Any] = {
            "call_id": call.call_id,
            "judge_index": call.judge_index,
            "judge_model_id": ref_name or judge_id,
        }
        try:
            prompt = await invoker.call(workflow.render_prompt, call, subject, ctx)
        except Exception as exc:
            record.update(prompt=None, error=f"render_prompt failed: {type(exc).__name__}: {exc}")
            return JudgeCallRecord(**record)
        retries = int(ctx.judge_config.get("parse_retries", DEFAULT_PARSE_RETRIES))
        base_seed = ctx.seed if ctx.seed is not None else 0
        record["prompt"] = _json_safe(prompt)
        started = time.perf_counter()
        for attempt in range(retries + 1):
            record["attempts"] = attempt + 1
            seed = base_seed + attempt
            try:
                method = functools.partial(judge.judge, prompt, seed=seed)
                raw = await policy.call(
                    judge_id,
                    lambda method=method: invoker.call(method, blocking=True, timeout_s=None),
                    component=judge,
                    prompt=prompt,
                )
                response = as_judge_response(raw)
            except Exception as exc:
                record["error"] = f"judge call failed: {type(exc).__name__}: {exc}"
                break
            record.update(
                response_text=response.text,
                raw_response=response.raw,
                token_usage=response.token_usage,
            )
            try:
                judgment = await invoker.call(workflow.parse_judgment, call, response, ctx)
            except ComponentTimeoutError as exc:
                record["error"] = f"parse_judgment failed: {type(exc).__name__}: {exc}"
                break
            except Exception as exc:
                record["error"] = f"unparseable judgment: {exc}"
                continue
            record["error"] = None
            record["judgment"] = _json_safe(judgment)
            try:
                score = await invoker.call(workflow.score_judgment, call, judgment, ctx)
            except Exception as exc:
                record["error"] = f"score_judgment failed: {type(exc).__name__}: {exc}"
                break
            record["score"] = _json_safe(score)
            break
        record["latency_ms"] = (time.perf_counter() - started) * 1000
        return JudgeCallRecord(**record)


class PolicedJudge:
    """A judge model whose calls take the run's policy (concurrency limits,
    retries, circuit breaker), as judge calls inside workflows do. What a
    selector that asks a judge (``builtin/best_of_n``) is handed."""

    def __init__(self, judge: Any, policy: Any, invoker: Any) -> None:
        self.wrapped = judge
        self.component_id = str(getattr(judge, "component_id", "judge"))
        self.version = str(getattr(judge, "version", ""))
        self._policy = policy
        self._invoker = invoker

    def fingerprint(self) -> str:
        return str(self.wrapped.fingerprint())

    async def judge(self, prompt: Any, *, seed: int | None = None) -> Any:
        method = functools.partial(self.wrapped.judge, prompt, seed=seed)
        return await self._policy.call(
            # No call timeout here: the policy times each attempt, as for generation.
            self.component_id,
            lambda: self._invoker.call(method, blocking=True, timeout_s=None),
            component=self.wrapped,
            prompt=prompt,
        )


def _failure_category(failed: list[JudgeCallRecord]) -> str:
    if any(ComponentTimeoutError.__name__ in (r.error or "") for r in failed):
        return ErrorCategory.timeout.value
    if all((r.error or "").startswith("unparseable") for r in failed):
        return ErrorCategory.parse_error.value
    return ErrorCategory.component_error.value

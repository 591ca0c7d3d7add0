"""Trace metrics: checks on how an agent got to its answer, not just the answer.

Both metrics read the trace (and conversation) of the candidate the reducer
kept, and need no judge model: their workflows make no judge calls and score
in ``aggregate``.
"""

from __future__ import annotations

from typing import Any

from themis.builtins._base import BuiltinComponent
from themis.core.contexts import EvalScoreContext
from themis.core.models import GenerationResult, Score, ScoreError
from themis.core.workflows import EvaluationSubject, JudgeCall, WorkflowBuildError

TOOL_STEP_TYPES = frozenset({"tool", "tool_call", "tool_use"})


def kept_candidate(subject: EvaluationSubject) -> GenerationResult | None:
    """The generated candidate the reducer kept (the first one if unknown)."""
    if subject.reduced is not None:
        for candidate in subject.candidates:
            if candidate.candidate_id == subject.reduced.candidate_id:
                return candidate
    return subject.candidates[0] if subject.candidates else None


def tools_used(candidate: GenerationResult) -> list[str]:
    """Tool names from trace steps of a tool type and from tool messages, in order."""
    names: list[str] = []
    for step in candidate.trace or []:
        if step.step_type in TOOL_STEP_TYPES:
            names.append(str(step.metadata.get("tool_name") or step.step_name))
    for message in candidate.conversation or []:
        if message.role == "tool" and not candidate.trace:
            content = message.content
            name = content.get("name") if isinstance(content, dict) else None
            names.append(str(name or "tool"))
    return names


class _NoJudgeWorkflow:
    """A workflow that scores in ``aggregate`` from the subject alone."""

    def __init__(self, outcome: Score | ScoreError) -> None:
        self.outcome = outcome

    def judge_calls(self) -> list[JudgeCall]:
        return []

    def render_prompt(self, call: JudgeCall, subject: Any, ctx: EvalScoreContext) -> str:
        raise AssertionError("no judge calls")

    def parse_judgment(self, call: JudgeCall, response: Any, ctx: EvalScoreContext) -> Any:
        raise AssertionError("no judge calls")

    def score_judgment(self, call: JudgeCall, judgment: Any, ctx: EvalScoreContext) -> Any:
        raise AssertionError("no judge calls")

    def aggregate(
        self, judgments: list[Any], scores: list[Any], ctx: EvalScoreContext
    ) -> Score | ScoreError:
        return self.outcome


def _candidate_or_error(subject: EvaluationSubject, metric_id: str) -> GenerationResult:
    candidate = kept_candidate(subject)
    if candidate is None:
        raise WorkflowBuildError(f"{metric_id!r}: the case has no generated candidate")
    return candidate


class TraceStepCount(BuiltinComponent):
    """Steps in the kept candidate's trace.

    Without ``max_steps`` the score is the step count (its mean is the
    average trajectory length); with it, 1.0 within budget and 0.0 over.
    """

    component_id = "builtin/trace_step_count"
    version = "1"
    metric_family = "trace"

    def __init__(self, max_steps: int | None = None, step_types: list[str] | None = None) -> None:
        if max_steps is not None and max_steps < 0:
            raise ValueError("max_steps must be non-negative")
        self.max_steps = max_steps
        self.step_types = sorted(step_types) if step_types else None

    def options(self) -> dict[str, Any]:
        return {"max_steps": self.max_steps, "step_types": self.step_types}

    def build_workflow(self, subject: EvaluationSubject, ctx: EvalScoreContext) -> _NoJudgeWorkflow:
        candidate = _candidate_or_error(subject, ctx.metric_id)
        if candidate.trace is None:
            return _NoJudgeWorkflow(
                ScoreError(metric_id=ctx.metric_id, reason="the candidate has no trace")
            )
        steps = [
            s for s in candidate.trace if self.step_types is None or s.step_type in self.step_types
        ]
        details: dict[str, Any] = {"steps": len(steps), "max_steps": self.max_steps}
        if self.max_steps is None:
            return _NoJudgeWorkflow(
                Score(metric_id=ctx.metric_id, value=len(steps), details=details)
            )
        within = len(steps) <= self.max_steps
        return _NoJudgeWorkflow(
            Score(metric_id=ctx.metric_id, value=1.0 if within else 0.0, details=details)
        )


class ToolCallUsage(BuiltinComponent):
    """1.0 when every required tool was called and no forbidden tool was."""

    component_id = "builtin/tool_call_usage"
    version = "1"
    metric_family = "trace"

    def __init__(
        self,
        required_tools: list[str] | None = None,
        forbidden_tools: list[str] | None = None,
        max_calls: int | None = None,
    ) -> None:
        self.required_tools = sorted(required_tools or [])
        self.forbidden_tools = sorted(forbidden_tools or [])
        self.max_calls = max_calls
        if not (self.required_tools or self.forbidden_tools or max_calls is not None):
            raise ValueError("give required_tools, forbidden_tools or max_calls")

    def options(self) -> dict[str, Any]:
        return {
            "required_tools": self.required_tools,
            "forbidden_tools": self.forbidden_tools,
            "max_calls": self.max_calls,
        }

    def build_workflow(self, subject: EvaluationSubject, ctx: EvalScoreContext) -> _NoJudgeWorkflow:
        candidate = _candidate_or_error(subject, ctx.metric_id)
        used = tools_used(candidate)
        missing = [tool for tool in self.required_tools if tool not in used]
        forbidden = sorted({tool for tool in used if tool in self.forbidden_tools})
        over_budget = self.max_calls is not None and len(used) > self.max_calls
        ok = not missing and not forbidden and not over_budget
        return _NoJudgeWorkflow(
            Score(
                metric_id=ctx.metric_id,
                value=1.0 if ok else 0.0,
                details={
                    "tools_used": used,
                    "missing_required": missing,
                    "forbidden_used": forbidden,
                    "calls": len(used),
                },
            )
        )

"""Component contracts (docs/architecture.md, "Component contracts").

Third-party packages are written against these signatures. Every component
has ``component_id``, ``version`` and ``fingerprint()``; the kind's method may
be sync or async, and Themis awaits or offloads accordingly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from themis.core.contexts import (
    EvalScoreContext,
    GenerateContext,
    ParseContext,
    ReduceContext,
    ScoreContext,
    SelectContext,
)
from themis.core.models import (
    Case,
    GenerationResult,
    ParsedOutput,
    ReducedCandidate,
    Score,
    ScoreError,
)

if TYPE_CHECKING:  # both import the models this module does
    from themis.core.observability.progress import ProgressSnapshot
    from themis.core.storage.events import RunEvent


@runtime_checkable
class Component(Protocol):
    component_id: str
    version: str

    def fingerprint(self) -> str: ...


@runtime_checkable
class Generator(Component, Protocol):
    """Protocol for generation components that produce candidate outputs."""

    def generate(
        self, case: Case, ctx: GenerateContext
    ) -> Awaitable[GenerationResult] | GenerationResult: ...


@runtime_checkable
class CandidateSelector(Component, Protocol):
    """Protocol for selectors that choose candidates before reduction."""

    def select(
        self, candidates: list[GenerationResult], ctx: SelectContext
    ) -> Awaitable[list[GenerationResult]] | list[GenerationResult]: ...


@runtime_checkable
class CandidateReducer(Component, Protocol):
    """Protocol for reducers that collapse multiple candidates into one."""

    def reduce(
        self, candidates: list[GenerationResult], ctx: ReduceContext
    ) -> Awaitable[ReducedCandidate] | ReducedCandidate: ...


@runtime_checkable
class Parser(Component, Protocol):
    """Protocol for parsers that normalize reduced candidate outputs."""

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput: ...


@runtime_checkable
class PureMetric(Component, Protocol):
    """Protocol for deterministic metrics that score parsed outputs directly."""

    def score(self, parsed: ParsedOutput, case: Case, ctx: ScoreContext) -> Score | ScoreError: ...


@runtime_checkable
class JudgeResponseLike(Protocol):
    text: str


@runtime_checkable
class JudgeModel(Component, Protocol):
    """Protocol for judge models used inside evaluation workflows."""

    def judge(self, prompt: Any, *, seed: int | None = None) -> Awaitable[Any] | Any: ...


@runtime_checkable
class EvaluationWorkflow(Protocol):
    """Protocol for workflow-backed metrics driven by judge model calls."""

    def judge_calls(self) -> Sequence[Any]: ...

    def render_prompt(self, call: Any, subject: Any, ctx: EvalScoreContext) -> Any: ...

    def parse_judgment(self, call: Any, response: Any, ctx: EvalScoreContext) -> Any: ...

    def score_judgment(self, call: Any, judgment: Any, ctx: EvalScoreContext) -> Any: ...

    def aggregate(
        self, judgments: list[Any], scores: list[Any], ctx: EvalScoreContext
    ) -> Score | ScoreError: ...


@runtime_checkable
class JudgeBackedMetric(Component, Protocol):
    """Protocol for metrics scored by judge models through a workflow.

    ``metric_family`` says what is judged: ``"llm"`` the reduced candidate,
    ``"selection"`` all generated candidates, ``"trace"`` their traces. The
    contract is the same for all three."""

    metric_family: str

    def build_workflow(self, subject: Any, ctx: EvalScoreContext) -> EvaluationWorkflow: ...


LLMMetric = JudgeBackedMetric
"""A judge-backed metric of family ``"llm"`` (the seeds' name)."""
SelectionMetric = JudgeBackedMetric
"""A judge-backed metric of family ``"selection"`` (the seeds' name)."""
TraceMetric = JudgeBackedMetric
"""A judge-backed metric of family ``"trace"`` (the seeds' name)."""


@runtime_checkable
class BeforeGenerate(Protocol):
    """Hook invoked before a generator runs."""

    def before_generate(self, case: Case, ctx: GenerateContext) -> None: ...


@runtime_checkable
class AfterGenerate(Protocol):
    """Hook invoked after a generator returns a candidate."""

    def after_generate(
        self, case: Case, result: GenerationResult, ctx: GenerateContext
    ) -> None: ...


@runtime_checkable
class BeforeReduce(Protocol):
    """Hook invoked before reduction starts."""

    def before_reduce(self, candidates: list[GenerationResult], ctx: ReduceContext) -> None: ...


@runtime_checkable
class AfterReduce(Protocol):
    """Hook invoked after reduction produces a final candidate."""

    def after_reduce(self, reduced: ReducedCandidate, ctx: ReduceContext) -> None: ...


@runtime_checkable
class BeforeParse(Protocol):
    """Hook invoked before parsing a reduced candidate."""

    def before_parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> None: ...


@runtime_checkable
class AfterParse(Protocol):
    """Hook invoked after parsing completes."""

    def after_parse(self, parsed: ParsedOutput, ctx: ParseContext) -> None: ...


@runtime_checkable
class BeforeScore(Protocol):
    """Hook invoked before a pure metric runs."""

    def before_score(self, metric_id: str, parsed: ParsedOutput, ctx: ScoreContext) -> None: ...


@runtime_checkable
class AfterScore(Protocol):
    """Hook invoked after a pure metric emits a score or error."""

    def after_score(self, result: Score | ScoreError, ctx: ScoreContext) -> None: ...


@runtime_checkable
class BeforeJudge(Protocol):
    """Hook invoked before a workflow-backed metric begins judging."""

    def before_judge(self, metric_id: str, ctx: EvalScoreContext) -> None: ...


@runtime_checkable
class AfterJudge(Protocol):
    """Hook invoked after a workflow-backed metric finishes."""

    def after_judge(self, result: Score | ScoreError, ctx: EvalScoreContext) -> None: ...


@runtime_checkable
class OnEvent(Protocol):
    """Hook invoked after an execution event is persisted."""

    def on_event(self, event: RunEvent) -> None: ...


@runtime_checkable
class OnProgress(Protocol):
    """Hook invoked after each case finishes, with the run's progress so far."""

    def on_progress(self, snapshot: ProgressSnapshot) -> None: ...


@runtime_checkable
class LifecycleSubscriber(
    BeforeGenerate,
    AfterGenerate,
    BeforeReduce,
    AfterReduce,
    BeforeParse,
    AfterParse,
    BeforeScore,
    AfterScore,
    BeforeJudge,
    AfterJudge,
    OnEvent,
    Protocol,
):
    """Aggregate lifecycle subscriber protocol.

    A subscriber may implement any subset of these hooks.
    """


def protocol_members(contract: type) -> list[str]:
    """The attributes and methods a protocol asks for, in the order they are
    declared, base protocols first: what a component or subscriber is checked
    against, and what an error message says it lacks."""
    members: list[str] = []
    for cls in reversed(contract.__mro__):
        if not getattr(cls, "_is_protocol", False) or cls.__module__ == "typing":
            continue
        names = list(getattr(cls, "__annotations__", {}))
        names += [n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")]
        members += [name for name in names if name not in members]
    return members


SpanStatus = Literal["ok", "error"]


@runtime_checkable
class TracingProvider(Protocol):
    """Protocol for span-based tracing integrations.

    Span names are the stage names: ``run`` once per run, and ``generate``,
    ``reduce``, ``parse``, ``score``, ``judge`` once per case and stage, with
    attributes such as ``themis.run_id`` and ``themis.case_key``. Parenting is
    the provider's business: a stage span is started while the run span is
    open, in the same (asyncio) context, so OpenTelemetry's current context
    nests it under the run.
    """

    def start_span(self, name: str, attributes: dict[str, Any]) -> Any:
        """Start a span and return it; it is handed back to ``end_span``."""

    def end_span(self, span: Any, status: SpanStatus) -> None:
        """End ``span``; ``status`` is ``"ok"`` or ``"error"``."""

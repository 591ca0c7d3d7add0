"""The stage skeleton: what every stage of every case goes through.

:meth:`Stage.run` reuses a stored result, refuses to recompute what a replay
says must be stored, then calls the stage's own :meth:`Stage.produce` (its
context, before-hook, the component call under the run's policy, coercion of
what came back, after-hook) and records the outcome as an event: a failure
(an exception, or a ScoreError a metric returned) as the stage's failed
event, else its completed event. The stages themselves are in ``stages``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from themis.core.authoring.prompts import PromptSpec
from themis.core.engine.lifecycle import ResolvedComponents
from themis.core.engine.plan import CasePlan
from themis.core.engine.policy import CallPolicy, Invoker
from themis.core.engine.recording import EventRecorder, ScoreErrorRaised
from themis.core.engine.reuse import StoredResults
from themis.core.models import RunSnapshot, ScoreError
from themis.core.observability.hooks import LifecycleHooks
from themis.core.storage.events import CaseRunEvent, RunEvent
from themis.core.workflows import DefaultWorkflowRunner, PolicedJudge

W = TypeVar("W")
Out = TypeVar("Out")


@dataclass
class StageEnv:
    """What the stages of one run share."""

    snapshot: RunSnapshot
    components: ResolvedComponents
    hooks: LifecycleHooks
    invoker: Invoker
    policy: CallPolicy
    recorder: EventRecorder
    results: StoredResults
    workflows: DefaultWorkflowRunner = field(default_factory=DefaultWorkflowRunner)
    policed_judges: tuple[PolicedJudge, ...] | None = None

    def __post_init__(self) -> None:
        self.run_id = self.snapshot.run_id
        spec = self.snapshot.identity.prompt_spec
        self.prompt_spec = None if spec is None else PromptSpec.model_validate(spec)
        # The seed of the case-level stages (select to judge): the experiment's
        # first; each candidate's own seed is on its GenerateContext.
        seeds = self.snapshot.identity.seeds
        self.case_seed: int | None = seeds[0] if seeds else None

    def case_fields(self, plan: CasePlan) -> dict[str, Any]:
        """What every case-level stage context says about its case."""
        return {
            "run_id": self.run_id,
            "case": plan.case,
            "case_key": plan.case_key,
            "dataset_id": plan.dataset_id,
            "case_id": plan.case.case_id,
            "seed": self.case_seed,
            "metadata": plan.case.metadata,
        }

    def selection_judges(self) -> tuple[PolicedJudge, ...]:
        """The experiment's judge models for a selector, their calls under the run's policy."""
        if self.policed_judges is None:
            self.policed_judges = tuple(
                PolicedJudge(model, self.policy, self.invoker)
                for _, model in self.components.judge_models
            )
        return self.policed_judges


class Attempt:
    """One attempt at a stage: which component is being called (a reducer's
    selector first, then the reducer; each parser in turn), and the fields
    its completed and failed events both carry."""

    __slots__ = ("component_id", "fields")

    def __init__(self, component_id: str | None, **fields: Any) -> None:
        self.component_id = component_id
        self.fields = fields


class Produced(Generic[Out]):
    """What ``produce`` made: the stage's output and its event's payload, or
    the ScoreError a metric returned (recorded as the stage's failure)."""

    __slots__ = ("failure_payload", "output", "payload", "score_error")

    def __init__(
        self,
        output: Out | None,
        payload: dict[str, Any],
        score_error: ScoreError | None = None,
        failure_payload: dict[str, Any] | None = None,
    ) -> None:
        self.output = output
        self.payload = payload
        self.score_error = score_error
        self.failure_payload = failure_payload or {}


class Stage(ABC, Generic[W, Out]):
    """One stage of the pipeline; ``run`` is the skeleton every stage shares."""

    name: ClassVar[str]
    completed: ClassVar[type[CaseRunEvent]]
    failed: ClassVar[type[CaseRunEvent]]
    reusable: ClassVar[tuple[type[CaseRunEvent], ...]]
    """Stored events taken instead of computing (metrics store failures as results)."""
    guards_upstream: ClassVar[bool] = True
    """Whether a replay from a later stage refuses to compute this one."""

    def __init__(self, env: StageEnv) -> None:
        self.env = env

    async def run(
        self,
        plan: CasePlan,
        key: str,
        work: W,
        stored: dict[str, RunEvent],
        latest: dict[str, RunEvent],
    ) -> Out | None:
        """The stage's output for ``work``, or None when it failed (its
        failure recorded); ``latest`` gets the event that records it."""
        env = self.env
        reused = env.results.reuse(stored, key)
        if isinstance(reused, self.reusable):
            latest[key] = reused
            return self.output_of(reused)
        attempt = self.attempt(plan, work)
        try:
            if self.guards_upstream:
                env.results.guard_upstream(self.name)
            produced = await self.produce(plan, work, attempt)
        except Exception as exc:
            latest[key] = env.recorder.failed(
                self.failed, plan, key, exc, attempt.component_id, **attempt.fields
            )
            return None
        if produced.score_error is not None:
            latest[key] = env.recorder.failed(
                self.failed,
                plan,
                key,
                ScoreErrorRaised(produced.score_error),
                attempt.component_id,
                score_error=produced.score_error,
                **attempt.fields,
                **produced.failure_payload,
            )
            return None
        latest[key] = env.recorder.completed(
            self.completed, plan, key, **attempt.fields, **produced.payload
        )
        return produced.output

    @abstractmethod
    def attempt(self, plan: CasePlan, work: W) -> Attempt: ...

    @abstractmethod
    def output_of(self, event: CaseRunEvent) -> Out | None:
        """The output a stored event of this stage holds."""

    @abstractmethod
    async def produce(self, plan: CasePlan, work: W, attempt: Attempt) -> Produced[Out]: ...

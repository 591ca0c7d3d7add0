"""The component SDK: base classes to write a generator, selector, reducer,
parser, metric, judge-backed metric or judge model against.

A component is identified by ``component_id`` and ``version``, and its
``fingerprint()`` goes into every work key its results are stored under. Hand
written fingerprints drift from the configuration they are meant to describe
(a literal ``"v0.3"`` survives a change of threshold), so the bases derive
the fingerprint from the id, the version and the component's own
configuration, ``options()``. A dataclass component gets ``options()`` from
its fields (``field(metadata={"identity": False})`` leaves one out); any
other overrides it. A complete metric::

    @dataclass
    class Contains(Metric):
        component_id = "acme/contains"
        version = "1"
        needle: str = "yes"

        def score(self, parsed, case, ctx):
            return float(self.needle in str(parsed.value))

Each kind's method may be sync or async; the engine awaits or offloads it.
The bases are a convenience, not a requirement: the engine and the registry
check the contracts in :mod:`themis.core.protocols`, so a plain object with
``component_id``, ``version``, ``fingerprint()`` and its kind's method is a
component too.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from themis.core.authoring.identity import content_hash

if TYPE_CHECKING:  # the contexts and models import nothing from here
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
    from themis.core.protocols import EvaluationWorkflow

__all__ = [
    "Component",
    "Generator",
    "JudgeBackedMetric",
    "JudgeModel",
    "Metric",
    "Parser",
    "Reducer",
    "Selector",
]


class Component:
    """What every component shares: an id, a version and a derived fingerprint."""

    component_id: str = ""
    version: str = "1"

    def options(self) -> dict[str, Any]:
        """The configuration that changes this component's results.

        Defaults to a dataclass's fields, but for those marked
        ``metadata={"identity": False}`` (a client, a cache path); a component
        that is not a dataclass overrides it."""
        if dataclasses.is_dataclass(self):
            return {
                field.name: getattr(self, field.name)
                for field in dataclasses.fields(self)
                if field.init and field.metadata.get("identity", True)
            }
        return {}

    def fingerprint(self) -> str:
        """A hash of ``component_id``, ``version`` and ``options()``."""
        return content_hash(
            {"id": self.component_id, "version": self.version, "options": self.options()}
        )


class Generator(Component, ABC):
    """Produces one candidate answer for a case."""

    @abstractmethod
    def generate(
        self, case: Case, ctx: GenerateContext
    ) -> Awaitable[GenerationResult] | GenerationResult: ...


class Selector(Component, ABC):
    """Chooses which of a case's candidates go on to the reducer."""

    @abstractmethod
    def select(
        self, candidates: list[GenerationResult], ctx: SelectContext
    ) -> Awaitable[list[GenerationResult]] | list[GenerationResult]: ...


class Reducer(Component, ABC):
    """Collapses a case's candidates into the one that is parsed and scored."""

    @abstractmethod
    def reduce(
        self, candidates: list[GenerationResult], ctx: ReduceContext
    ) -> Awaitable[ReducedCandidate] | ReducedCandidate: ...


class Parser(Component, ABC):
    """Turns the reduced candidate's output into the value metrics score."""

    @abstractmethod
    def parse(
        self, candidate: ReducedCandidate, ctx: ParseContext
    ) -> Awaitable[ParsedOutput] | ParsedOutput: ...


class Metric(Component, ABC):
    """A pure metric: scores a parsed output without calling a model.

    ``score`` may return a ``Score``, a ``ScoreError`` or a bare number."""

    metric_family: str = "pure"

    @abstractmethod
    def score(
        self, parsed: ParsedOutput, case: Case, ctx: ScoreContext
    ) -> Awaitable[Score | ScoreError | float] | Score | ScoreError | float: ...


class JudgeBackedMetric(Component, ABC):
    """A metric that asks judge models, through the workflow it builds per case.

    ``metric_family`` says what it judges: ``"llm"`` the reduced candidate,
    ``"selection"`` all generated candidates, ``"trace"`` their traces."""

    metric_family: str = "llm"

    @abstractmethod
    def build_workflow(self, subject: Any, ctx: EvalScoreContext) -> EvaluationWorkflow: ...


class JudgeModel(Component, ABC):
    """Answers a judge prompt; the workflow parses and scores the answer."""

    @abstractmethod
    def judge(self, prompt: Any, *, seed: int | None = None) -> Awaitable[Any] | Any: ...

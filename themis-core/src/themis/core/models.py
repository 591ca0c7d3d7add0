"""Data shapes that flow through a Themis run.

Every model is a frozen pydantic v2 model that round-trips through JSON, so
what a component returns is exactly what the store keeps and what a bundle
carries. User-facing input models forbid unknown fields so that a typo is an
error with its path rather than a silently ignored key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from enum import StrEnum
from typing import Any, TypeAlias, overload

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    TypeAdapter,
    model_validator,
)
from pydantic_core import core_schema

JSONValue: TypeAlias = Any
"""Any value that survives ``json.dumps``/``json.loads`` unchanged."""


class FrozenModel(BaseModel):
    """Base Pydantic model used by the immutable core."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class HashableModel(FrozenModel):
    """A frozen model whose canonical JSON gives it a stable fingerprint."""

    def fingerprint(self) -> str:
        payload = json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(payload.encode()).hexdigest()


class RunStatus(StrEnum):
    """User-facing run status values."""

    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    partial_failure = "partial_failure"


STAGES: tuple[str, ...] = ("generate", "reduce", "parse", "score", "judge")
"""Pipeline stages in execution order."""


CASE_KEY_SEPARATOR = "::"


def case_key_for(dataset_id: str, case_id: str) -> str:
    """Identify a case within a run: two datasets may reuse a case id.

    The key is ``dataset_id::case_id``, as users type it. It must be
    injective (two cases never share a key, or the store merges them), so
    the dataset id's own ``%`` and ``:`` are percent-encoded (``%25``,
    ``%3A``): the key's first ``::`` then always ends the dataset id, and a
    case id may contain anything. Ordinary ids (no ``:`` or ``%`` in the
    dataset id) keep the plain form.
    """
    if "%" in dataset_id or ":" in dataset_id:
        dataset_id = dataset_id.replace("%", "%25").replace(":", "%3A")
    return f"{dataset_id}{CASE_KEY_SEPARATOR}{case_id}"


def split_case_key(case_key: str) -> tuple[str, str]:
    """``(dataset_id, case_id)`` of a key made by :func:`case_key_for`."""
    encoded, separator, case_id = case_key.partition(CASE_KEY_SEPARATOR)
    if not separator:
        raise ValueError(
            f"case key {case_key!r} has no {CASE_KEY_SEPARATOR!r}: a case key is "
            "'dataset_id::case_id'"
        )
    return encoded.replace("%3A", ":").replace("%25", "%"), case_id


class Case(FrozenModel):
    """One evaluation input with its optional reference answer.

    ``input``, ``expected_output`` and ``metadata`` must be JSON values
    (null, booleans, numbers, strings, lists and string-keyed mappings): they
    are stored, hashed into the run id and sent to models as JSON, so a
    value JSON cannot hold (a datetime, bytes, a set) is refused here rather
    than failing, or silently changing, once the run has started.
    """

    case_id: str = Field(min_length=1)
    input: JSONValue
    expected_output: JSONValue = None
    metadata: dict[str, JSONValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _json_values(self) -> Case:
        for field in ("input", "expected_output", "metadata"):
            problem = non_json_value(getattr(self, field), field)
            if problem is not None:
                raise ValueError(
                    f"case {self.case_id!r}: {problem}; JSON cannot hold it, so convert it "
                    "first (a datetime to an ISO string, bytes to text, a set to a list)"
                )
        # A run may hold a million cases: they share one set of their set
        # fields (a set per case is a fifth of a small case's memory). The
        # model is frozen, so the set is never changed; a copy copies it.
        fields_set = self.__pydantic_fields_set__
        shared = _CASE_FIELDS_SETS.setdefault(frozenset(fields_set), fields_set)
        object.__setattr__(self, "__pydantic_fields_set__", shared)
        return self


_CASE_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def non_json_value(value: Any, where: str) -> str | None:
    """Where ``value`` holds something that is not a JSON value, or None."""
    if value is None or isinstance(value, str | bool | int | float):
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = non_json_value(item, f"{where}[{index}]")
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has the key {key!r} ({type(key).__name__}); keys must be text"
            problem = non_json_value(item, f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    return f"{where} is a {type(value).__name__} ({value!r:.60})"


class Dataset(FrozenModel):
    """A named collection of cases; ``revision`` pins an upstream version."""

    dataset_id: str = Field(min_length=1)
    cases: list[Case]
    revision: str | None = None
    metadata: dict[str, JSONValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _case_ids_unique(self) -> Dataset:
        seen: set[str] = set()
        for index, case in enumerate(self.cases):
            if case.case_id in seen:
                raise ValueError(
                    f"duplicate case_id {case.case_id!r} at cases[{index}] of dataset "
                    f"{self.dataset_id!r}; case ids must be unique within a dataset"
                )
            seen.add(case.case_id)
        return self


class DatasetRef(FrozenModel):
    """How a snapshot names a dataset: its id, revision and content hash."""

    dataset_id: str
    revision: str | None = None
    content_hash: str
    case_count: int


class Message(FrozenModel):
    """One message of a conversation."""

    role: str
    content: JSONValue


class TraceStep(FrozenModel):
    """One step of a generation's trace (a node, tool call or model call)."""

    step_name: str
    step_type: str
    input: JSONValue = None
    output: JSONValue = None
    metadata: dict[str, JSONValue] = Field(default_factory=dict)
    timestamp: float | None = None


class ConversationTrace(FrozenModel):
    """A generation's conversation together with its trace steps."""

    messages: list[Message] = Field(default_factory=list)
    steps: list[TraceStep] = Field(default_factory=list)


class GenerationResult(FrozenModel):
    """One candidate produced by a generator.

    ``artifacts`` hold what the provider returned beside the output (its raw
    response, request id, rate limits); ``metadata`` what the generator says
    about how it made the candidate (the LangGraph adapter's
    ``final_state_source``), like ``ReducedCandidate.metadata``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    candidate_id: str
    final_output: JSONValue
    trace: list[TraceStep] | None = None
    conversation: list[Message] | None = None
    artifacts: dict[str, JSONValue] | None = None
    token_usage: dict[str, int] | None = None
    latency_ms: float | None = None
    metadata: dict[str, JSONValue] = Field(default_factory=dict)


class ReducedCandidate(FrozenModel):
    """The single candidate a reducer keeps for a case."""

    candidate_id: str
    source_candidate_ids: list[str]
    final_output: JSONValue
    metadata: dict[str, JSONValue] = Field(default_factory=dict)


class ParsedOutput(FrozenModel):
    """A parser's normalised view of a reduced candidate."""

    value: JSONValue
    format: str = "json"
    metadata: dict[str, JSONValue] = Field(default_factory=dict)


class Score(FrozenModel):
    """A metric's verdict for one case."""

    metric_id: str
    value: float
    details: dict[str, JSONValue] = Field(default_factory=dict)


class ScoreError(FrozenModel):
    """A metric that could not score a case, and whether trying again may help."""

    metric_id: str
    reason: str
    retryable: bool = False
    details: dict[str, JSONValue] = Field(default_factory=dict)


class StageError(FrozenModel):
    """Why a work item failed: the error's type and message, and where."""

    stage: str
    component_id: str | None = None
    error_type: str
    message: str
    category: str = "component_error"
    retryable: bool = False
    work_key: str | None = None
    attempts: int = 1
    """Calls made before giving up (more than one when the error was retried)."""
    earlier_errors: list[str] = Field(default_factory=list)
    """``Type: message`` of each failed attempt before the last, oldest first."""


class CaseResult(FrozenModel):
    """Everything a run stored for one case."""

    case_key: str
    dataset_id: str
    case_id: str
    status: RunStatus
    generated_candidates: list[GenerationResult] = Field(default_factory=list)
    reduced_candidate: ReducedCandidate | None = None
    parsed_outputs: list[ParsedOutput] = Field(default_factory=list)
    scores: list[Score] = Field(default_factory=list)
    score_errors: list[ScoreError] = Field(default_factory=list)
    errors: list[StageError] = Field(default_factory=list)
    completed_through_stage: str | None = None
    cached_stages: list[str] = Field(default_factory=list)

    @property
    def parsed_output(self) -> ParsedOutput | None:
        """The output metrics scored: the last of the parser chain."""
        return self.parsed_outputs[-1] if self.parsed_outputs else None


class StageCounts(FrozenModel):
    """How many work items of one stage are in each state."""

    pending: int = 0
    done: int = 0
    failed: int = 0
    cached: int = 0


class MetricCounts(FrozenModel):
    """How many cases stand behind a metric's mean (see ``themis.core.analysis.outcomes``).

    ``n`` cases are in the mean; ``parse_failures`` of them gave no parseable
    answer and count 0. ``errors`` are cases left out: never answered (their
    generation failed) or not scorable by the metric.
    """

    n: int = 0
    parse_failures: int = 0
    errors: int = 0


class CaseResults(Sequence[CaseResult]):
    """A run's case results in case order: a read-only, list-like sequence.

    ``RunResult.cases`` is one of these. Given a list, it holds the list; a
    run's result holds a view over the store instead
    (:class:`themis.core.engine.case_view.StoredCaseResults`), which reads the
    cases back a page at a time as they are indexed or iterated, so a run of a
    million cases never holds them all. ``len``, indexing, slicing (a slice is
    a ``list``), iteration, ``in`` and ``==`` (with any sequence of case
    results, a ``list`` included) behave as on a list.
    """

    def __init__(self, cases: Sequence[CaseResult] = ()) -> None:
        self._cases = list(cases)

    def __len__(self) -> int:
        return len(self._cases)

    @overload
    def __getitem__(self, index: int) -> CaseResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[CaseResult]: ...

    def __getitem__(self, index: int | slice) -> CaseResult | list[CaseResult]:
        return self._cases[index]

    def __iter__(self) -> Iterator[CaseResult]:
        return iter(self._cases)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        if len(self) != len(other):
            return False
        return all(mine == theirs for mine, theirs in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._cases)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # A CaseResults (a store view included) is taken as it is, never
        # iterated; a list is validated as a list of CaseResult. Dumping
        # reads every case (see RunResult).
        as_list = handler.generate_schema(list[CaseResult])
        from_list = core_schema.no_info_after_validator_function(CaseResults, as_list)
        return core_schema.json_or_python_schema(
            json_schema=from_list,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(CaseResults), from_list]
            ),
            serialization=core_schema.wrap_serializer_function_ser_schema(
                lambda value, serialize: serialize(list(value)), schema=as_list
            ),
        )


class RunResult(FrozenModel):
    """The top-level result of a run, read back from the store.

    ``metric_means`` counts a case whose answer did not parse as 0;
    ``metric_counts`` says, per metric, how many cases are behind each mean.

    ``cases`` is a :class:`CaseResults`: the result a run returns reads its
    cases back from the run's store as they are iterated (the store must
    stay readable while they are used; the aggregates here never need it).
    ``model_dump()`` and ``model_dump_json()`` read and hold every case, as
    a list, so for a run of millions of cases iterate ``cases`` instead, or
    dump with ``exclude={"cases"}``.
    """

    run_id: str
    status: RunStatus
    cases: CaseResults = Field(default_factory=CaseResults)
    metric_means: dict[str, float] = Field(default_factory=dict)
    metric_counts: dict[str, MetricCounts] = Field(default_factory=dict)
    completed_through_stage: str | None = None
    stage_counts: dict[str, StageCounts] = Field(default_factory=dict)

    @property
    def failed_cases(self) -> list[CaseResult]:
        """The failed cases, in case order (read through ``cases``, only these kept)."""
        return [case for case in self.cases if case.status is RunStatus.failed]

    @property
    def failed_count(self) -> int:
        """How many cases failed. Only a partly failed run reads its cases back
        (through the store, for a run's result): the status already says none
        or all, so a completed run of a million cases is counted at once."""
        if self.status is RunStatus.completed:
            return 0
        if self.status is RunStatus.failed:
            return len(self.cases)
        return len(self.failed_cases)


class ComponentRef(FrozenModel):
    """Where a component came from and what it is, as recorded in a snapshot.

    ``kind``, ``component_id``, ``name``, ``version``, ``fingerprint`` and
    ``options`` are identity-bearing; the distribution and entry point are
    provenance: they say where the code was found, not what it does.
    ``options`` leaves out those the component names in its
    ``operational_options`` (where and how it is reached, such as a URL).
    """

    kind: str
    component_id: str
    name: str
    version: str
    fingerprint: str
    options: dict[str, JSONValue] = Field(default_factory=dict)
    family: str | None = None
    distribution: str | None = None
    distribution_version: str | None = None
    entry_point: str | None = None

    def identity(self) -> dict[str, JSONValue]:
        return {
            "kind": self.kind,
            "component_id": self.component_id,
            "name": self.name,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "options": self.options,
        }


class ComponentRefs(FrozenModel):
    """Every component of a run, resolved."""

    generator: ComponentRef
    reducer: ComponentRef
    selector: ComponentRef | None = None
    parsers: list[ComponentRef] = Field(default_factory=list)
    metrics: list[ComponentRef] = Field(default_factory=list)
    judge_models: list[ComponentRef] = Field(default_factory=list)

    def all(self) -> list[ComponentRef]:
        refs = [self.generator, self.reducer]
        if self.selector is not None:
            refs.append(self.selector)
        return [*refs, *self.parsers, *self.metrics, *self.judge_models]


class RunIdentity(FrozenModel):
    """Everything that decides a run id, and nothing else."""

    datasets: list[DatasetRef]
    components: ComponentRefs
    prompt_spec: dict[str, JSONValue] | None = None
    candidate_policy: dict[str, JSONValue]
    judge_config: dict[str, JSONValue] = Field(default_factory=dict)
    workflow_overrides: dict[str, JSONValue] = Field(default_factory=dict)
    seeds: list[int]


class RunProvenance(FrozenModel):
    """Where and with what a run was compiled; never part of the run id.

    ``servers`` holds what each server-backed component read from its server
    when the run started, such as the served model's ``/v1/models`` entry.
    Server-side settings (a chat template, a quantisation, the weights behind
    a model name) can change without the run id changing: this is the record
    of what answered.
    """

    themis_version: str
    python_version: str
    platform: str
    environment_metadata: dict[str, str] = Field(default_factory=dict)
    servers: list[dict[str, JSONValue]] = Field(default_factory=list)


class RunSnapshot(FrozenModel):
    """The compiled, immutable description of a run, produced by ``compile()``."""

    run_id: str
    identity: RunIdentity
    provenance: RunProvenance
    datasets: list[Dataset]
    component_refs: ComponentRefs


_CASES_JSON: TypeAdapter[list[Case]] = TypeAdapter(list[Case])
_CASES_PER_PIECE = 1000


def snapshot_json_pieces(snapshot: RunSnapshot) -> Iterator[bytes]:
    """``snapshot`` as JSON, in pieces of at most a thousand cases each.

    Joined, the pieces are a JSON document that ``RunSnapshot.model_validate_json``
    reads back as ``snapshot`` (its keys in another order than
    ``model_dump_json`` gives them); no piece holds more than a thousand cases.
    """
    rest = snapshot.model_dump_json(exclude={"datasets"}).encode()
    yield b'{"datasets":['
    for number, dataset in enumerate(snapshot.datasets):
        fields = dataset.model_dump_json(exclude={"cases"}).encode()
        yield (b"," if number else b"") + b'{"cases":['
        cases = dataset.cases
        for start in range(0, len(cases), _CASES_PER_PIECE):
            piece = _CASES_JSON.dump_json(cases[start : start + _CASES_PER_PIECE])[1:-1]
            yield (b"," if start else b"") + piece
        yield b"]" + (b"," + fields[1:] if fields != b"{}" else b"}")
    yield b"]" + (b"," + rest[1:] if rest != b"{}" else b"}")

"""Stage bundles: a run's stored results of one stage, as a portable JSON document.

A bundle carries the run's :class:`RunSnapshot` and the records of its stage:
each work item's latest stored outcome (completed or failed), plus its latest
success when a later attempt failed. It is
versioned (``format`` + ``schema_version``) and sealed by a SHA-256
``checksum`` over its content, so a newer, tampered or truncated bundle is
refused before anything is written.

Importing validates the whole bundle against its schema, its own snapshot and
the target store's copy of the run, then turns the records back into ordinary
events with their original event ids and appends them in one call. Resume,
replay, reports, comparisons and cache reuse therefore see imported results
exactly like results computed locally, and importing the same bundle twice
changes nothing. The JSON format is documented in ``docs/analysis.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self, TypeVar

from pydantic import Field, ValidationError

from themis.core.analysis.inspection import get_run_snapshot
from themis.core.authoring.identity import canonical_json, compute_run_id
from themis.core.engine.plan import CasePlan, plan_cases
from themis.core.errors import BundleError as BundleError
from themis.core.models import (
    FrozenModel,
    GenerationResult,
    JSONValue,
    ParsedOutput,
    ReducedCandidate,
    RunSnapshot,
    Score,
    ScoreError,
    StageError,
    case_key_for,
)
from themis.core.observability.redaction import redact_secrets, secret_paths
from themis.core.storage.events import COMPLETED_EVENT_TYPES, STAGE_EVENTS, CaseRunEvent, RunEvent
from themis.core.storage.stores.base import RunStore

BUNDLE_FORMAT: Final = "themis-bundle"
"""The ``format`` field of every bundle: what the document is."""

BUNDLE_SCHEMA_VERSION = 1
"""The newest bundle schema this Themis writes and reads."""

BundleKind = Literal["generation", "reduction", "parse", "score", "evaluation"]


# -- records --------------------------------------------------------------


class BundleRecord(FrozenModel):
    """One stored outcome of a work item: the fields of its event, minus the run id.

    ``error`` is set for a failed attempt and absent for a completed one.
    """

    event_id: str
    case_key: str
    dataset_id: str
    case_id: str
    work_key: str
    created_at: float
    cached_from: str | None = None
    error: StageError | None = None

    completed_event: ClassVar[type[CaseRunEvent]]
    failed_event: ClassVar[type[CaseRunEvent]]

    _EVENT_ONLY: ClassVar[frozenset[str]] = frozenset(
        {"schema_version", "run_id", "event_type", "stage"}
    )

    @classmethod
    def from_event(cls, event: CaseRunEvent) -> Self:
        data = event.model_dump(mode="json", exclude=set(cls._EVENT_ONLY))
        return cls.model_validate(data)

    def to_event(self, run_id: str) -> CaseRunEvent:
        """The event this record stands for, in run ``run_id``."""
        event_cls = self.failed_event if self.error is not None else self.completed_event
        data = {
            name: getattr(self, name)
            for name in event_cls.model_fields
            if name not in self._EVENT_ONLY and name in type(self).model_fields
        }
        return event_cls(run_id=run_id, **data)


class GenerationBundleRecord(BundleRecord):
    """One generated candidate (or generation failure) for one case, seed and sample."""

    completed_event = STAGE_EVENTS["generate"].completed
    failed_event = STAGE_EVENTS["generate"].failed

    seed: int
    sample_index: int
    candidate: GenerationResult | None = None


class ReductionBundleRecord(BundleRecord):
    """The candidate a case was reduced to (or why reduction failed)."""

    completed_event = STAGE_EVENTS["reduce"].completed
    failed_event = STAGE_EVENTS["reduce"].failed

    reduced: ReducedCandidate | None = None
    selected_candidate_ids: list[str] = Field(default_factory=list)


class ParseBundleRecord(BundleRecord):
    """A case's parser-chain outputs (or why parsing failed)."""

    completed_event = STAGE_EVENTS["parse"].completed
    failed_event = STAGE_EVENTS["parse"].failed

    parsed_outputs: list[ParsedOutput] | None = None


class ScoreBundleRecord(BundleRecord):
    """One pure metric's score (or score error) for one case."""

    completed_event = STAGE_EVENTS["score"].completed
    failed_event = STAGE_EVENTS["score"].failed

    metric_id: str
    score: Score | None = None
    score_error: ScoreError | None = None


class EvaluationBundleRecord(BundleRecord):
    """One judge-backed metric's result for one case, with its workflow trace."""

    completed_event = STAGE_EVENTS["judge"].completed
    failed_event = STAGE_EVENTS["judge"].failed

    metric_id: str
    score: Score | None = None
    score_error: ScoreError | None = None
    execution: dict[str, JSONValue] = Field(default_factory=dict)


# -- bundles --------------------------------------------------------------

BundleT = TypeVar("BundleT", bound="StageBundle")


class StageBundle(FrozenModel):
    """Fields every bundle has; see the per-stage subclasses."""

    format: Literal["themis-bundle"] = BUNDLE_FORMAT
    schema_version: int = BUNDLE_SCHEMA_VERSION
    kind: BundleKind
    run_id: str
    created_at: float = Field(default_factory=time.time)
    themis_version: str
    snapshot: RunSnapshot
    records: Sequence[BundleRecord]
    checksum: str = ""

    event_stage: ClassVar[str]
    record_type: ClassVar[type[BundleRecord]]

    def content_checksum(self) -> str:
        """SHA-256 over the canonical JSON of everything but the checksum itself."""
        content = self.model_dump(mode="json", exclude={"checksum"})
        return "sha256:" + hashlib.sha256(canonical_json(content).encode()).hexdigest()

    def sealed(self) -> Self:
        """This bundle with its checksum filled in."""
        return self.model_copy(update={"checksum": self.content_checksum()})

    def to_json(self, *, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the bundle as JSON; the file appears complete or not at all."""
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(self.to_json(), encoding="utf-8")
            partial.replace(target)
        except OSError as exc:
            raise BundleError(f"cannot write bundle {target}: {exc.strerror or exc}") from exc
        return target

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "bundle") -> Self:
        """Parse and fully check a bundle document (schema, kind, checksum)."""
        return cls.from_dict(_parse_json(text, source), source=source)

    @classmethod
    def from_dict(cls, payload: Any, *, source: str = "bundle") -> Self:
        _check_header(payload, source, expected=cls)
        try:
            bundle = cls.model_validate(payload)
        except ValidationError as exc:
            raise BundleError(f"{source}: invalid {cls.__name__}: {_errors(exc)}") from None
        bundle.verify(source=source)
        return bundle

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Self:
        """Read a bundle file written by :meth:`write` (or by ``themis`` on any machine)."""
        return cls.from_json(_read_bytes(Path(path)), source=str(path))

    def verify(self, *, source: str = "bundle") -> None:
        """Check the schema version, the checksum and the snapshot's run id."""
        if self.schema_version > BUNDLE_SCHEMA_VERSION or self.schema_version < 1:
            raise _newer_schema(source, self.schema_version)
        if not self.checksum:
            raise BundleError(f"{source}: the bundle has no checksum; export it with Themis")
        if self.checksum != self.content_checksum():
            raise BundleError(
                f"{source}: checksum mismatch: the bundle was modified or damaged after export "
                f"(recorded {self.checksum[:19]}…, content hashes to "
                f"{self.content_checksum()[:19]}…)"
            )
        if self.snapshot.run_id != self.run_id:
            raise BundleError(
                f"{source}: the bundle is for run {self.run_id!r} but carries the snapshot "
                f"of run {self.snapshot.run_id!r}"
            )
        if compute_run_id(self.snapshot.identity) != self.run_id:
            raise BundleError(
                f"{source}: the snapshot's identity does not hash to run {self.run_id!r}; "
                "the snapshot was altered"
            )
        _refuse_secrets(self.snapshot, source)


class GenerationBundle(StageBundle):
    """Generated candidates of a run: enough to replay everything downstream."""

    kind: Literal["generation"] = "generation"
    records: list[GenerationBundleRecord]
    event_stage = "generate"
    record_type = GenerationBundleRecord


class ReductionBundle(StageBundle):
    """Reduced candidates of a run."""

    kind: Literal["reduction"] = "reduction"
    records: list[ReductionBundleRecord]
    event_stage = "reduce"
    record_type = ReductionBundleRecord


class ParseBundle(StageBundle):
    """Parsed outputs of a run."""

    kind: Literal["parse"] = "parse"
    records: list[ParseBundleRecord]
    event_stage = "parse"
    record_type = ParseBundleRecord


class ScoreBundle(StageBundle):
    """Pure-metric scores of a run."""

    kind: Literal["score"] = "score"
    records: list[ScoreBundleRecord]
    event_stage = "score"
    record_type = ScoreBundleRecord


class EvaluationBundle(StageBundle):
    """Judge-backed metric results of a run, with every judge call's trace."""

    kind: Literal["evaluation"] = "evaluation"
    records: list[EvaluationBundleRecord]
    event_stage = "judge"
    record_type = EvaluationBundleRecord


BUNDLE_TYPES: dict[str, type[StageBundle]] = {
    "generation": GenerationBundle,
    "reduction": ReductionBundle,
    "parse": ParseBundle,
    "score": ScoreBundle,
    "evaluation": EvaluationBundle,
}


def read_bundle(path: str | os.PathLike[str]) -> StageBundle:
    """Read a bundle file of any kind (the ``kind`` field says which)."""
    source = str(path)
    payload = _parse_json(_read_bytes(Path(path)), source)
    _check_header(payload, source, expected=None)
    return BUNDLE_TYPES[payload["kind"]].from_dict(payload, source=source)


# -- export ---------------------------------------------------------------


def _export(store: RunStore, run_id: str, bundle_type: type[BundleT]) -> BundleT:
    from themis.core.experiment import themis_version

    snapshot = get_run_snapshot(store, run_id)
    _refuse_secrets(snapshot, f"run {run_id!r}")
    provenance = snapshot.provenance.model_copy(
        update={"environment_metadata": redact_secrets(snapshot.provenance.environment_metadata)}
    )
    snapshot = snapshot.model_copy(update={"provenance": provenance})
    record_type = bundle_type.record_type
    records = [
        record_type.model_validate(_redacted_record(record_type.from_event(event)))
        for event in _latest_stage_events(store.iter_events(run_id), bundle_type.event_stage)
    ]
    bundle = bundle_type(
        kind=bundle_type.model_fields["kind"].default,
        run_id=run_id,
        themis_version=themis_version(),
        snapshot=snapshot,
        records=records,
    )
    return bundle.sealed()


def _latest_stage_events(events: Iterable[RunEvent], stage: str) -> list[CaseRunEvent]:
    """Each work key's latest event of ``stage``, and its latest success if a later
    attempt failed, in the order they were stored.

    Those two are what the store's projections keep (the current outcome, and
    the result that resume and caching reuse), so a store that imports them
    answers both questions exactly like the source.
    """
    latest: dict[str, tuple[int, CaseRunEvent]] = {}
    succeeded: dict[str, tuple[int, CaseRunEvent]] = {}
    for position, event in enumerate(events):
        if isinstance(event, CaseRunEvent) and event.stage == stage:
            latest[event.work_key] = (position, event)
            if event.event_type in COMPLETED_EVENT_TYPES:  # type: ignore[attr-defined]
                succeeded[event.work_key] = (position, event)
    kept = {position: event for position, event in [*latest.values(), *succeeded.values()]}
    return [kept[position] for position in sorted(kept)]


def _refuse_secrets(snapshot: RunSnapshot, where: str) -> None:
    """Identity cannot be redacted without changing the run id: refuse instead."""
    leaks = secret_paths(
        {
            "components": [ref.identity() for ref in snapshot.identity.components.all()],
            "judge_config": snapshot.identity.judge_config,
            "workflow_overrides": snapshot.identity.workflow_overrides,
        }
    )
    if leaks:
        raise BundleError(
            f"{where}: the snapshot holds secret-looking values at {leaks}; a bundle never "
            "carries secrets: pass credentials through the environment, not options"
        )


# The answer a stage produced is data, not configuration: it is never redacted,
# even when a model happens to answer with a key named "password".
_ANSWER_FIELDS = {"candidate": "final_output", "reduced": "final_output"}


def _redacted_record(record: BundleRecord) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    kept: dict[str, Any] = {}
    for field, answer in _ANSWER_FIELDS.items():
        if isinstance(data.get(field), dict):
            kept[field] = data[field].pop(answer, None)
    parsed = data.get("parsed_outputs")
    values = [item.pop("value", None) for item in parsed] if isinstance(parsed, list) else None
    data = redact_secrets(data)
    for field, value in kept.items():
        data[field][_ANSWER_FIELDS[field]] = value
    if values is not None:
        for item, value in zip(data["parsed_outputs"], values, strict=True):
            item["value"] = value
    return dict(data)


BUNDLE_KINDS: dict[str, BundleKind] = {
    "generate": "generation",
    "reduce": "reduction",
    "parse": "parse",
    "score": "score",
    "judge": "evaluation",
}
"""Run stage -> the kind of bundle that carries its results."""


def bundle_class(stage: str) -> type[StageBundle]:
    """The bundle class of a stage, named as the run names it (``generate`` ... ``judge``)
    or as the bundle's ``kind`` (``generation`` ... ``evaluation``)."""
    kind = BUNDLE_KINDS.get(stage, stage)
    if kind not in BUNDLE_TYPES:
        raise BundleError(
            f"no bundle for stage {stage!r}; stages: {', '.join(BUNDLE_KINDS)} "
            f"(or the bundle kinds {', '.join(BUNDLE_TYPES)})"
        )
    return BUNDLE_TYPES[kind]


def export_bundle(store: RunStore, run_id: str, stage: str) -> StageBundle:
    """Export one stage's stored results of run ``run_id`` as a sealed bundle.

    ``stage`` is ``generate``, ``reduce``, ``parse``, ``score`` or ``judge``
    (the bundle kinds ``generation`` ... ``evaluation`` are accepted too). The
    snapshot is checked for secrets and every record redacted on the way out.
    """
    return _export(store, run_id, bundle_class(stage))


def export_generation_bundle(store: RunStore, run_id: str) -> GenerationBundle:
    """Export stored generation artifacts into a portable bundle."""
    return _export(store, run_id, GenerationBundle)


def export_reduction_bundle(store: RunStore, run_id: str) -> ReductionBundle:
    """Export stored reduction artifacts into a portable bundle."""
    return _export(store, run_id, ReductionBundle)


def export_parse_bundle(store: RunStore, run_id: str) -> ParseBundle:
    """Export stored parse artifacts into a portable bundle."""
    return _export(store, run_id, ParseBundle)


def export_score_bundle(store: RunStore, run_id: str) -> ScoreBundle:
    """Export stored score artifacts into a portable bundle."""
    return _export(store, run_id, ScoreBundle)


def export_evaluation_bundle(store: RunStore, run_id: str) -> EvaluationBundle:
    """Export stored evaluation artifacts into a portable bundle."""
    return _export(store, run_id, EvaluationBundle)


# -- import ---------------------------------------------------------------


def import_bundle(
    store: RunStore,
    bundle: StageBundle | str | os.PathLike[str],
    *,
    run_id: str | None = None,
    stage: str | None = None,
) -> StageBundle:
    """Import a bundle of any stage (or a bundle file) into a store; returns the bundle.

    The run is created in the store if it lacks it; ``run_id``, when given, is
    the run the bundle must belong to, and ``stage`` the stage it must carry.
    Everything is checked before the store changes; importing twice changes
    nothing. Later replays reuse the imported results without recomputing them.
    """
    expected = bundle_class(stage) if stage is not None else StageBundle
    if isinstance(bundle, str | os.PathLike):
        bundle = read_bundle(bundle) if expected is StageBundle else expected.read(bundle)
    if not isinstance(bundle, expected):
        raise BundleError(
            f"expected a {expected.__name__}, got {type(bundle).__name__}; use the import "
            "function of that bundle's kind, or import_bundle"
        )
    source = f"{bundle.kind} bundle of run {bundle.run_id!r}"
    bundle.verify(source=source)
    if run_id is not None and bundle.run_id != run_id:
        raise BundleError(f"{source}: the bundle is from another run, not {run_id!r}")
    events = _events_of(bundle, source)
    store.initialize()
    existing = store.get_snapshot(bundle.run_id)
    if existing is not None and compute_run_id(existing.identity) != bundle.run_id:
        raise BundleError(
            f"{source}: the target store holds run {bundle.run_id!r} with a different "
            "identity; the bundle does not belong to that run"
        )
    # Every check has passed: only now does the store change.
    if existing is None:
        store.save_snapshot(bundle.snapshot)
    store.append_events(events)
    return bundle


def _events_of(bundle: StageBundle, source: str) -> list[RunEvent]:
    """The bundle's records as events, each checked against the run's plan."""
    plans = {plan.case_key: plan for plan in plan_cases(bundle.snapshot)}
    stage = bundle.event_stage
    seen: set[str] = set()
    events: list[RunEvent] = []
    for index, record in enumerate(bundle.records):
        where = f"{source}: records[{index}]"
        if record.event_id in seen:
            raise BundleError(f"{where}: duplicate event_id {record.event_id!r}")
        seen.add(record.event_id)
        plan = plans.get(record.case_key)
        if plan is None or record.case_key != case_key_for(record.dataset_id, record.case_id):
            raise BundleError(
                f"{where}: case {record.case_key!r} is not a case of run {bundle.run_id!r}"
            )
        _check_work_item(record, plan, stage, where)
        clean = type(record).model_validate(_redacted_record(record))
        try:
            events.append(clean.to_event(bundle.run_id))
        except ValidationError as exc:
            raise BundleError(f"{where} (case {record.case_key!r}): {_errors(exc)}") from None
    return events


def _check_work_item(record: BundleRecord, plan: CasePlan, stage: str, where: str) -> None:
    if record.work_key not in plan.keys_for(stage):
        raise BundleError(
            f"{where}: work key {record.work_key!r} is not a {stage} work item of case "
            f"{record.case_key!r}; the record belongs to another run or stage"
        )
    if isinstance(record, GenerationBundleRecord):
        item = next(g for g in plan.generations if g.work_key == record.work_key)
        if (item.seed, item.sample_index) != (record.seed, record.sample_index):
            raise BundleError(
                f"{where}: seed {record.seed} / sample {record.sample_index} does not match "
                f"the planned seed {item.seed} / sample {item.sample_index}"
            )
    if isinstance(record, ScoreBundleRecord | EvaluationBundleRecord):
        metric = next(m for m in plan.metrics if m.work_key == record.work_key)
        if metric.metric_id != record.metric_id:
            raise BundleError(
                f"{where}: metric {record.metric_id!r} does not match the planned metric "
                f"{metric.metric_id!r} of this work item"
            )


def import_generation_bundle(
    store: RunStore, bundle: GenerationBundle | str | os.PathLike[str], *, run_id: str | None = None
) -> None:
    """Import generation artifacts from a bundle (or a bundle file) into a store.

    The run is created in the store if it lacks it; ``run_id``, when given, is
    the run the bundle must belong to. Later replays reuse the candidates
    without calling the generator.
    """
    import_bundle(store, bundle, run_id=run_id, stage="generate")


def import_reduction_bundle(
    store: RunStore, bundle: ReductionBundle | str | os.PathLike[str], *, run_id: str | None = None
) -> None:
    """Import reduction artifacts from a bundle into a store."""
    import_bundle(store, bundle, run_id=run_id, stage="reduce")


def import_parse_bundle(
    store: RunStore, bundle: ParseBundle | str | os.PathLike[str], *, run_id: str | None = None
) -> None:
    """Import parse artifacts from a bundle into a store."""
    import_bundle(store, bundle, run_id=run_id, stage="parse")


def import_score_bundle(
    store: RunStore, bundle: ScoreBundle | str | os.PathLike[str], *, run_id: str | None = None
) -> None:
    """Import score artifacts from a bundle into a store."""
    import_bundle(store, bundle, run_id=run_id, stage="score")


def import_evaluation_bundle(
    store: RunStore,
    bundle: EvaluationBundle | str | os.PathLike[str],
    *,
    run_id: str | None = None,
) -> None:
    """Import evaluation artifacts from a bundle into a store."""
    import_bundle(store, bundle, run_id=run_id, stage="judge")


# -- helpers --------------------------------------------------------------


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read bundle {path}: {exc.strerror or exc}") from None


def _parse_json(text: str | bytes, source: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (
            f" ({exc.msg} at line {exc.lineno} column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        raise BundleError(
            f"{source}: not valid JSON{where}; the file is truncated or corrupted: export it again"
        ) from None


def _newer_schema(source: str, version: object) -> BundleError:
    return BundleError(
        f"{source}: bundle schema_version {version!r} is not supported; this Themis reads "
        f"bundle schema 1 to {BUNDLE_SCHEMA_VERSION}: upgrade themis-eval-core to import it"
    )


def _check_header(payload: Any, source: str, *, expected: type[StageBundle] | None) -> None:
    """Check what a document is before validating its body, for a precise error."""
    if not isinstance(payload, dict) or payload.get("format") != BUNDLE_FORMAT:
        raise BundleError(f'{source}: not a Themis bundle (no "format": "{BUNDLE_FORMAT}")')
    version = payload.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleError(f"{source}: schema_version must be an integer, got {version!r}")
    if version > BUNDLE_SCHEMA_VERSION or version < 1:
        raise _newer_schema(source, version)
    kind = payload.get("kind")
    if kind not in BUNDLE_TYPES:
        raise BundleError(f"{source}: unknown bundle kind {kind!r}; known: {list(BUNDLE_TYPES)}")
    if expected is not None and BUNDLE_TYPES[kind] is not expected:
        raise BundleError(
            f"{source}: this is a {kind} bundle, not a {expected.__name__}; use "
            f"import_{kind}_bundle (or read_bundle) for it"
        )


def _errors(exc: ValidationError, limit: int = 3) -> str:
    parts = [
        f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
        for error in exc.errors()[:limit]
    ]
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SCHEMA_VERSION",
    "BundleError",
    "BundleRecord",
    "EvaluationBundle",
    "EvaluationBundleRecord",
    "GenerationBundle",
    "GenerationBundleRecord",
    "ParseBundle",
    "ParseBundleRecord",
    "ReductionBundle",
    "ReductionBundleRecord",
    "ScoreBundle",
    "ScoreBundleRecord",
    "StageBundle",
    "export_evaluation_bundle",
    "export_generation_bundle",
    "export_parse_bundle",
    "export_reduction_bundle",
    "export_score_bundle",
    "import_evaluation_bundle",
    "import_generation_bundle",
    "import_parse_bundle",
    "import_reduction_bundle",
    "import_score_bundle",
    "read_bundle",
]

"""Stage bundles: export, file round trip, import as ordinary events, and every refusal."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from tests.analysis.helpers import (
    ReplayableGenerator,
    demo_experiment,
    judged_experiment,
    replayable_experiment,
)
from themis import (
    InMemoryRunStore,
    SqliteRunStore,
    export_evaluation_bundle,
    export_generation_bundle,
    export_parse_bundle,
    export_reduction_bundle,
    export_score_bundle,
    import_evaluation_bundle,
    import_generation_bundle,
    import_parse_bundle,
    import_reduction_bundle,
    import_score_bundle,
)
from themis.core import EvaluationConfig, GenerationBundle, ScoreBundle
from themis.core.analysis.bundles import (
    BUNDLE_SCHEMA_VERSION,
    BundleError,
    read_bundle,
)
from themis.core.analysis.inspection import load_run_result
from themis.core.observability.redaction import REDACTED
from themis.core.storage.events import CaseRunEvent
from themis.core.storage.stores.base import UnknownRunError

KINDS: dict[str, tuple[Any, Any, str]] = {
    "generation": (export_generation_bundle, import_generation_bundle, "generate"),
    "reduction": (export_reduction_bundle, import_reduction_bundle, "reduce"),
    "parse": (export_parse_bundle, import_parse_bundle, "parse"),
    "score": (export_score_bundle, import_score_bundle, "score"),
    "evaluation": (export_evaluation_bundle, import_evaluation_bundle, "judge"),
}


@pytest.fixture(scope="module")
def judged_source() -> tuple[InMemoryRunStore, str]:
    """A finished run with every stage, judge included, in a memory store."""
    store = InMemoryRunStore()
    result = judged_experiment().run(store=store)
    assert result.status.value == "completed"
    return store, result.run_id


def _stage_events(store: Any, run_id: str, stage: str) -> list[CaseRunEvent]:
    return [
        e for e in store.iter_events(run_id) if isinstance(e, CaseRunEvent) and e.stage == stage
    ]


def _state(store: Any) -> tuple[Any, ...]:
    """Everything a store holds, for 'nothing changed' checks."""
    runs = [(run.run_id, run.status, run.completed_through_stage) for run in store.list_runs()]
    events = [
        (e.event_id, e.model_dump_json()) for run_id, *_ in runs for e in store.iter_events(run_id)
    ]
    rows = [sorted(map(repr, store.score_rows(run_id))) for run_id, *_ in runs]
    items = [sorted(map(repr, store.work_items(run_id))) for run_id, *_ in runs]
    return runs, events, rows, items


@pytest.mark.parametrize("kind", list(KINDS))
def test_import_reproduces_the_stage_events_and_is_idempotent(
    kind: str, judged_source: tuple[InMemoryRunStore, str], store: Any
) -> None:
    source, run_id = judged_source
    export, import_, stage = KINDS[kind]
    bundle = export(source, run_id)
    assert bundle.kind == kind and bundle.run_id == run_id and bundle.records
    assert bundle.checksum.startswith("sha256:")

    import_(store, bundle)

    assert store.resume(run_id) is not None  # the run now exists in the target
    assert store.get_snapshot(run_id).identity == source.get_snapshot(run_id).identity
    imported = _stage_events(store, run_id, stage)
    original = _stage_events(source, run_id, stage)
    assert [e.model_dump(exclude={"schema_version"}) for e in imported] == [
        e.model_dump(exclude={"schema_version"}) for e in original
    ]
    before = _state(store)
    import_(store, bundle)  # a second import changes nothing
    assert _state(store) == before


def test_bundle_file_round_trip(
    judged_source: tuple[InMemoryRunStore, str], tmp_path: Path
) -> None:
    source, run_id = judged_source
    bundle = export_evaluation_bundle(source, run_id)
    path = bundle.write(tmp_path / "bundles" / "evaluation.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["format"] == "themis-bundle"
    assert document["schema_version"] == BUNDLE_SCHEMA_VERSION
    assert document["kind"] == "evaluation"
    assert document["records"][0]["execution"]["calls"], "judge traces travel with the bundle"
    assert type(bundle).read(path) == bundle
    assert read_bundle(path) == bundle
    target = SqliteRunStore(tmp_path / "target.sqlite")
    import_evaluation_bundle(target, path, run_id=run_id)  # a path is accepted too
    assert len(target.score_rows(run_id)) == 3  # llm_rubric for 3 cases
    target.close()


def test_imported_data_is_reported_and_replayed_like_local_data(tmp_path: Path) -> None:
    """Resume, cache reuse and reports see an imported run exactly like the original."""
    source = InMemoryRunStore()
    original = replayable_experiment(ReplayableGenerator()).run(store=source)
    target = SqliteRunStore(tmp_path / "target.sqlite")
    for export, import_, _ in KINDS.values():
        import_(target, export(source, original.run_id))

    loaded = load_run_result(target, original.run_id)
    assert loaded.status == original.status
    assert loaded.metric_means == original.metric_means
    # Running the same experiment with a generator that must not be called finds everything.
    refusing = ReplayableGenerator(explode=True)
    resumed = replayable_experiment(refusing).run(store=target)
    assert resumed.run_id == original.run_id
    assert resumed.metric_means == original.metric_means
    assert refusing.calls == 0
    target.close()


def test_generation_bundle_feeds_another_run_through_the_cache() -> None:
    """A run that differs only downstream reuses imported candidates."""
    source = InMemoryRunStore()
    first = replayable_experiment(ReplayableGenerator()).run(store=source)
    target = InMemoryRunStore()
    import_generation_bundle(target, export_generation_bundle(source, first.run_id))
    rescored = replayable_experiment(
        ReplayableGenerator(explode=True),
        evaluation=EvaluationConfig(
            metrics=["builtin/contains"], parsers=["builtin/json_identity"]
        ),
    ).run(store=target)
    assert rescored.run_id != first.run_id
    assert rescored.status.value == "completed"
    assert all("generate" in case.cached_stages for case in rescored.cases)


# -- refusals: each leaves the target store exactly as it was --------------


@pytest.fixture
def generation_file(tmp_path: Path) -> tuple[Path, str]:
    store = InMemoryRunStore()
    result = replayable_experiment(ReplayableGenerator()).run(store=store)
    return export_generation_bundle(store, result.run_id).write(
        tmp_path / "gen.json"
    ), result.run_id


@pytest.fixture
def target(tmp_path: Path) -> Any:
    """A SQLite target that already holds another run, so 'untouched' means something."""
    store = SqliteRunStore(tmp_path / "target.sqlite")
    demo_experiment(0.0, cases=3).run(store=store)
    yield store
    store.close()


def _rewrite(path: Path, change: Any) -> Path:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _reseal(path: Path) -> Path:
    """Recompute the checksum, as a forger would: the deeper checks must still refuse."""
    bundle = GenerationBundle.model_validate_json(path.read_text(encoding="utf-8"))
    return bundle.sealed().write(path)


def _refused(target: Any, path: Path, *match: str, **kwargs: Any) -> None:
    before = _state(target)
    with pytest.raises(BundleError) as caught:
        import_generation_bundle(target, path, **kwargs)
    for fragment in match:
        assert fragment in str(caught.value)
    assert _state(target) == before


def test_truncated_file_is_refused(generation_file: tuple[Path, str], target: Any) -> None:
    path, _ = generation_file
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")
    _refused(target, path, "not valid JSON", "truncated")


def test_tampered_record_is_refused(generation_file: tuple[Path, str], target: Any) -> None:
    path, _ = generation_file

    def change(document: dict[str, Any]) -> None:
        document["records"][0]["candidate"]["final_output"] = {"answer": "forged"}

    _refused(target, _rewrite(path, change), "checksum mismatch")


def test_newer_schema_is_refused(generation_file: tuple[Path, str], target: Any) -> None:
    path, _ = generation_file

    def change(document: dict[str, Any]) -> None:
        document["schema_version"] = BUNDLE_SCHEMA_VERSION + 1

    _refused(target, _rewrite(path, change), "schema_version 2", "upgrade themis-eval-core")


def test_not_a_bundle_and_wrong_kind_are_refused(
    generation_file: tuple[Path, str], target: Any, tmp_path: Path
) -> None:
    path, _ = generation_file
    other = tmp_path / "other.json"
    other.write_text('{"hello": "world"}', encoding="utf-8")
    _refused(target, other, "not a Themis bundle")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    _refused(target, binary, "not valid JSON")
    with pytest.raises(BundleError, match="cannot read bundle"):
        read_bundle(tmp_path / "missing.json")
    with pytest.raises(BundleError, match="this is a generation bundle, not a ScoreBundle"):
        ScoreBundle.read(path)
    bundle = GenerationBundle.read(path)
    before = _state(target)
    with pytest.raises(BundleError, match="expected a ScoreBundle, got GenerationBundle"):
        import_score_bundle(target, bundle)  # type: ignore[arg-type]
    assert _state(target) == before


def test_bundle_of_another_run_is_refused(generation_file: tuple[Path, str], target: Any) -> None:
    path, _ = generation_file
    other_run = target.list_runs()[0].run_id
    _refused(target, path, "from another run", run_id=other_run)


def test_target_holding_a_different_run_under_the_same_id_is_refused(
    generation_file: tuple[Path, str], target: Any
) -> None:
    path, run_id = generation_file
    impostor = target.list_runs()[0].snapshot.model_copy(update={"run_id": run_id})
    target.save_snapshot(impostor)
    _refused(target, path, "different identity")


def test_records_of_another_run_or_stage_are_refused(
    generation_file: tuple[Path, str], target: Any
) -> None:
    path, _ = generation_file
    other = InMemoryRunStore()
    other_run = demo_experiment(0.0, cases=5).run(store=other)
    foreign = export_generation_bundle(other, other_run.run_id).model_dump(mode="json")["records"]

    def swap(document: dict[str, Any]) -> None:
        document["records"] = foreign

    _refused(target, _reseal(_rewrite(path, swap)), "records[0]", "not a generate work item")

    # A record whose key belongs to another stage of the same run.
    source = InMemoryRunStore()
    run = replayable_experiment(ReplayableGenerator()).run(store=source)
    reduce_key = _stage_events(source, run.run_id, "reduce")[0].work_key

    def wrong_stage(document: dict[str, Any]) -> None:
        document["records"][0]["work_key"] = reduce_key

    _refused(target, _reseal(_rewrite(path, wrong_stage)), "not a generate work item")


def test_altered_snapshot_is_refused(generation_file: tuple[Path, str], target: Any) -> None:
    path, _ = generation_file

    def change(document: dict[str, Any]) -> None:
        document["snapshot"]["identity"]["seeds"] = [8]

    _refused(target, _reseal(_rewrite(path, change)), "does not hash to run")


def test_unknown_run_cannot_be_exported() -> None:
    with pytest.raises(UnknownRunError, match="run-missing"):
        export_generation_bundle(InMemoryRunStore(), "run-missing")


# -- secrets ---------------------------------------------------------------


def test_bundles_never_carry_secrets(tmp_path: Path) -> None:
    leaky = ReplayableGenerator(
        artifacts={
            "request": {
                "headers": {"Authorization": "Bearer sk-live-123", "Accept": "json"},
                "api_key": "sk-live-456",
            },
            "usage": {"input_tokens": 3},
        }
    )
    store = InMemoryRunStore()
    result = replayable_experiment(leaky).run(store=store)
    bundle = export_generation_bundle(store, result.run_id)
    text = bundle.to_json()
    assert "sk-live" not in text
    artifacts = bundle.records[0].candidate.artifacts  # type: ignore[union-attr]
    assert artifacts["request"]["headers"] == {"Authorization": REDACTED, "Accept": "json"}
    assert artifacts["usage"] == {"input_tokens": 3}
    # The answer itself is data and is never redacted.
    assert {r.candidate.final_output["answer"] for r in bundle.records} == {
        "0",
        "wrong",
        "4",
        "6",
        "8",
    }  # type: ignore[union-attr]

    # A hand-made bundle that smuggles a secret in gets it scrubbed on import.
    record = bundle.records[0]
    assert record.candidate is not None
    smuggled = record.model_copy(
        update={
            "candidate": record.candidate.model_copy(update={"artifacts": {"password": "hunter2"}})
        }
    )
    forged = bundle.model_copy(update={"records": [smuggled]}).sealed()
    target = InMemoryRunStore()
    import_generation_bundle(target, forged)
    (event,) = _stage_events(target, result.run_id, "generate")
    assert event.candidate.artifacts == {"password": REDACTED}  # type: ignore[attr-defined]


def test_a_snapshot_holding_a_secret_is_not_exported() -> None:
    store = InMemoryRunStore()
    experiment = replayable_experiment(
        ReplayableGenerator(),
        evaluation=EvaluationConfig(
            metrics=["builtin/exact_match"],
            parsers=["builtin/json_identity"],
            judge_config={"builtin/exact_match": {"api_key": "sk-live-789"}},
        ),
    )
    result = experiment.run(store=store)
    with pytest.raises(
        BundleError,
        match=r"secret-looking values at \['judge_config.builtin/exact_match.api_key'\]",
    ):
        export_score_bundle(store, result.run_id)


def test_seed_003_runs_unchanged() -> None:
    """tests/seed_examples/003: generation and evaluation bundles into an empty store."""
    path = Path(__file__).resolve().parents[1] / "seed_examples" / "003_rejudge_bundle.py"
    result = runpy.run_path(str(path), run_name="seed_example")["run_example"]()
    assert result["imported"] is True
    assert result["run_id"] == result["replayed_run_id"]


class SwitchableMetric:
    """Scores 1.0, or fails when ``broken``; its identity ignores the switch."""

    component_id = "test/switchable"
    version = "1"

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken

    def fingerprint(self) -> str:
        return "switchable-v1"

    def score(self, parsed: Any, case: Any, ctx: Any) -> Any:
        if self.broken:
            raise RuntimeError("metric broke on replay")
        from themis.core.models import Score

        return Score(metric_id="test/switchable", value=1.0)


def test_a_failed_replay_travels_with_the_success_it_followed(store: Any) -> None:
    """The target then answers 'current outcome' and 'reusable result' like the source."""

    def experiment(broken: bool) -> Any:
        return replayable_experiment(
            ReplayableGenerator(),
            evaluation=EvaluationConfig(
                metrics=[SwitchableMetric(broken)], parsers=["builtin/json_identity"]
            ),
        )

    source = InMemoryRunStore()
    run = experiment(False).run(store=source)
    experiment(True).replay(stage="score", store=source)
    bundle = export_score_bundle(source, run.run_id)
    assert len(bundle.records) == 10  # 5 successes, then 5 failures of the replay
    import_score_bundle(store, bundle)
    keys = [row.work_key for row in source.work_items(run.run_id) if row.stage == "score"]

    def scoring(target: Any) -> list[str]:
        return sorted(repr(row) for row in target.work_items(run.run_id) if row.stage == "score")

    assert scoring(store) == scoring(source)
    assert {row.outcome for row in store.score_rows(run.run_id)} == {"error"}
    reusable = store.find_completed(keys)
    assert len(reusable) == 5
    assert reusable == source.find_completed(keys)


@pytest.mark.parametrize("kind", list(KINDS))
def test_export_bundle_by_stage_is_the_per_stage_export(
    kind: str, judged_source: tuple[InMemoryRunStore, str], tmp_path: Path
) -> None:
    """One export_bundle/import_bundle pair; the seeds' per-stage functions are the same call."""
    from themis.core import export_bundle, import_bundle

    source, run_id = judged_source
    export_stage, _, stage = KINDS[kind]
    by_stage = export_bundle(source, run_id, stage)
    by_kind = export_bundle(source, run_id, kind)
    per_stage = export_stage(source, run_id)
    strip = {"created_at", "checksum"}
    assert type(by_stage) is type(per_stage) is type(by_kind)
    assert by_stage.model_dump(exclude=strip) == per_stage.model_dump(exclude=strip)
    assert by_kind.model_dump(exclude=strip) == per_stage.model_dump(exclude=strip)

    target = SqliteRunStore(tmp_path / "target.sqlite")
    path = by_stage.write(tmp_path / f"{kind}.json")
    imported = import_bundle(target, path, run_id=run_id)  # any kind, from a file
    assert imported.kind == kind
    assert len(_stage_events(target, run_id, stage)) == len(_stage_events(source, run_id, stage))
    before = _state(target)
    import_bundle(target, by_stage, stage=stage)  # twice changes nothing
    assert _state(target) == before


def test_import_bundle_refuses_a_bundle_of_another_stage_or_an_unknown_stage(
    judged_source: tuple[InMemoryRunStore, str],
) -> None:
    from themis.core import export_bundle, import_bundle

    source, run_id = judged_source
    target = InMemoryRunStore()
    with pytest.raises(BundleError, match="expected a ScoreBundle, got ParseBundle"):
        import_bundle(target, export_bundle(source, run_id, "parse"), stage="score")
    with pytest.raises(BundleError, match="no bundle for stage 'scoring'; stages: generate"):
        export_bundle(source, run_id, "scoring")
    assert target.list_runs() == []

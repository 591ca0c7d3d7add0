"""Large payloads live in a content-addressed blob store, read back transparently.

Parametrized over every store that persists (SQLite, PostgreSQL with blobs in
the database, PostgreSQL with a blob directory); the memory store keeps
objects and is covered by the round-trip contract in test_stores.py.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import fresh_postgres_schema, make_experiment
from themis import (
    InMemoryRunStore,
    PostgresRunStore,
    Reporter,
    SqliteRunStore,
    export_generation_bundle,
    import_generation_bundle,
    postgres_store,
)
from themis.core.analysis.bundles import read_bundle
from themis.core.analysis.inspection import load_run_result
from themis.core.config import GenerationConfig
from themis.core.models import Case, GenerationResult, TraceStep
from themis.core.storage.events import GenerationCompletedEvent
from themis.core.storage.stores.blobs import (
    BLOB_THRESHOLD,
    BlobError,
    DirectoryBlobStore,
    externalize,
    internalize,
)

TEN_MB = 10 * 1024 * 1024
LARGE = 512 * 1024
"""Most tests use a response of this size: over the threshold, cheap to move around."""


def big_text(size: int = TEN_MB, seed: str = "response") -> str:
    """Text that does not compress to nothing and differs per seed."""
    block = hashlib.sha256(seed.encode()).hexdigest()
    return (block * (size // len(block) + 1))[:size]


class HugeResponseGenerator:
    """A model whose raw response is 10 MB and whose agent trace has 2,000 short steps."""

    component_id = "test/huge_response"
    version = "1"
    calls = 0

    def __init__(self, size: int) -> None:
        self.size = size

    def fingerprint(self) -> str:
        return f"huge-response-{self.size}"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        HugeResponseGenerator.calls += 1
        question = str(case.input["question"])  # type: ignore[index]
        left, right = question.split("+")
        trace = [
            TraceStep(step_name=f"step{i}", step_type="tool", input={"i": i}, output={"ok": True})
            for i in range(2000)
        ]
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#0",
            final_output={"answer": str(int(left) + int(right))},
            artifacts={"raw_response": big_text(self.size, seed=case.case_id)},
            trace=trace,
        )


def huge_experiment(cases: int = 2, size: int = LARGE) -> Any:
    from tests.conftest import arithmetic_dataset

    return make_experiment(
        generation=GenerationConfig(
            generator=HugeResponseGenerator(size),
            candidate_policy={"num_samples": 1},  # type: ignore[arg-type]
            reducer="builtin/majority_vote",
        ),
        datasets=[arithmetic_dataset(count=cases)],
    )


@pytest.fixture(params=["sqlite", "postgres-in-database", "postgres-directory"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A persisting store of each kind, with its blobs where that kind keeps them."""
    store: Any
    if request.param == "sqlite":
        store = SqliteRunStore(tmp_path / "runs.sqlite")
    else:
        url = request.getfixturevalue("postgres_url")
        placement: dict[str, Any] = (
            {"blob_root": tmp_path / "blobs"}
            if request.param == "postgres-directory"
            else {"blobs_in_database": True}
        )
        store = PostgresRunStore(url, schema=fresh_postgres_schema(), **placement)
    store.initialize()
    yield store
    store.close()


def event_rows(store: Any) -> list[tuple[str, int, str | None]]:
    """(event type, payload length, blob positions) of every stored event row."""
    query = "SELECT event_type, length(payload), blobs FROM events ORDER BY seq"
    if isinstance(store, SqliteRunStore):
        with sqlite3.connect(store.path) as conn:
            return list(conn.execute(query))
    with store._connection() as conn:
        return list(conn.execute(query).fetchall())


def corrupt(store: Any, ref: str) -> None:
    """Overwrite the stored bytes of ``ref`` behind the store's back."""
    if isinstance(store, SqliteRunStore) or store.blob_root is not None:
        files = store.blobs if isinstance(store, SqliteRunStore) else store._files
        path = files.path_for(ref)
        path.write_bytes(path.read_bytes()[:-10] + b"tampered!!")
        return
    with store._connection() as conn:
        conn.execute("UPDATE blobs SET data = %s WHERE ref = %s", (b'"tampered"', ref))


def test_a_10_mb_response_leaves_the_event_table_and_reads_back(blob_store: Any) -> None:
    result = huge_experiment(size=TEN_MB).run(store=blob_store)
    assert result.status.value == "completed"
    rows = event_rows(blob_store)
    assert max(length for _, length, _ in rows) < BLOB_THRESHOLD
    generation_rows = [row for row in rows if row[0] == "generation_completed"]
    assert len(generation_rows) == 2 and all(row[2] for row in generation_rows)
    small = [row for row in rows if row[0] in {"score_completed", "run_started"}]
    assert small and all(row[2] is None for row in small)  # small events pay nothing

    rebuilt = load_run_result(blob_store, result.run_id)
    for case in rebuilt.cases:
        (candidate,) = case.generated_candidates
        assert candidate.artifacts == {"raw_response": big_text(TEN_MB, seed=case.case_id)}
        assert candidate.trace is not None and len(candidate.trace) == 2000
    assert rebuilt.model_dump() == result.model_dump()
    assert rebuilt.metric_means == {"builtin/exact_match": 1.0}


def test_reports_and_replays_read_blobs_back(blob_store: Any) -> None:
    experiment = huge_experiment()
    result = experiment.run(store=blob_store)
    report = Reporter(blob_store).export_json(result.run_id)
    assert "builtin/exact_match" in report
    replayed = experiment.replay(stage="reduce", store=blob_store)
    assert replayed.metric_means == {"builtin/exact_match": 1.0}
    (case, *_) = load_run_result(blob_store, result.run_id).cases
    assert case.generated_candidates[0].artifacts == {
        "raw_response": big_text(LARGE, seed=case.case_id)
    }


def test_cached_generations_come_back_with_their_blobs(blob_store: Any) -> None:
    huge_experiment().run(store=blob_store)
    found = blob_store.find_completed(
        [
            row.work_key
            for row in blob_store.work_items(huge_experiment().compile().run_id)
            if row.stage == "generate"
        ]
    )
    assert len(found) == 2
    for event in found.values():
        assert isinstance(event, GenerationCompletedEvent)
        assert event.candidate.artifacts is not None
        assert len(str(event.candidate.artifacts["raw_response"])) == LARGE


def test_a_corrupted_blob_is_an_error_naming_its_ref(blob_store: Any) -> None:
    result = huge_experiment(cases=1).run(store=blob_store)
    (_, _, pointers) = next(row for row in event_rows(blob_store) if row[2])
    refs = [ref for _, ref in json.loads(pointers)]
    corrupt(blob_store, refs[0])
    with pytest.raises(BlobError, match=f"blob {refs[0]} .*corrupted"):
        list(blob_store.iter_events(result.run_id))


def test_identical_payloads_are_stored_once(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite", blob_root=tmp_path / "shared-blobs")
    events = [
        GenerationCompletedEvent(
            event_id=f"e{i}",
            run_id="run-x",
            case_key=f"d::c{i}",
            dataset_id="d",
            case_id=f"c{i}",
            work_key=f"k{i}",
            candidate=GenerationResult(candidate_id=f"c{i}", final_output=big_text(200_000)),
            seed=0,
            sample_index=0,
        )
        for i in range(3)
    ]
    store.append_events(events)
    files = [p for p in (tmp_path / "shared-blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].stat().st_size > 200_000
    assert [e.candidate.final_output for e in store.iter_events("run-x")] == [big_text(200_000)] * 3
    assert not (tmp_path / "runs.sqlite.blobs").exists()  # blob_root replaced the default


def test_a_missing_blob_names_the_ref_and_the_directory(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite")
    result = huge_experiment(cases=1).run(store=store)
    for path in (tmp_path / "runs.sqlite.blobs").rglob("*"):
        if path.is_file():
            path.unlink()
    with pytest.raises(
        BlobError, match=r"blob sha256:[0-9a-f]{64} is missing from .*runs\.sqlite\.blobs"
    ):
        load_run_result(store, result.run_id)


def test_bundles_carry_blobs_between_stores(blob_store: Any, tmp_path: Path) -> None:
    """A bundle holds the payloads themselves; the target store moves them to its own blobs."""
    source = SqliteRunStore(tmp_path / "source.sqlite")
    result = huge_experiment().run(store=source)
    path = export_generation_bundle(source, result.run_id).write(tmp_path / "gen.bundle.json")
    source.close()
    for blob in (tmp_path / "source.sqlite.blobs").rglob("*"):
        if blob.is_file():
            blob.unlink()  # the bundle must not need the source's blobs

    import_generation_bundle(blob_store, read_bundle(path))
    generated = [e for e in blob_store.iter_events(result.run_id) if e.stage == "generate"]
    assert len(generated) == 2
    assert all(isinstance(e, GenerationCompletedEvent) for e in generated)
    assert {len(str(e.candidate.artifacts["raw_response"])) for e in generated} == {LARGE}
    assert max(length for _, length, _ in event_rows(blob_store)) < BLOB_THRESHOLD
    HugeResponseGenerator.calls = 0
    resumed = huge_experiment().run(store=blob_store)  # goes on from the imported generations
    assert resumed.metric_means == {"builtin/exact_match": 1.0}
    assert HugeResponseGenerator.calls == 0


def test_memory_store_keeps_large_payloads_as_they_are() -> None:
    store = InMemoryRunStore()
    result = huge_experiment(cases=1).run(store=store)
    (case,) = load_run_result(store, result.run_id).cases
    assert case.generated_candidates[0].artifacts == {"raw_response": big_text(LARGE, seed="c0")}


# -- the splitting itself -----------------------------------------------------


def test_small_payloads_are_left_untouched() -> None:
    payload = json.dumps({"event_id": "e", "candidate": {"final_output": "x" * 100}})
    assert externalize(payload, 1000) == (payload, None, {})


def test_large_values_move_out_and_come_back(tmp_path: Path) -> None:
    blobs = DirectoryBlobStore(tmp_path)
    document = {
        "event_id": "e1",
        "candidate": {
            "final_output": "y" * 5000,
            "trace": [{"step": i, "note": "z" * 20} for i in range(400)],
            "token_usage": {"input_tokens": 3},
        },
    }
    payload, pointers, stored = externalize(json.dumps(document), 1000)
    assert pointers is not None and len(payload) < 1000
    assert [path for path, _ in pointers] == [
        ["candidate", "final_output"],
        ["candidate", "trace"],  # many short steps move out as one blob
    ]
    for ref, data in stored.items():
        blobs.put(ref, data)
    row = json.loads(payload)
    assert row["event_id"] == "e1" and row["candidate"]["token_usage"] == {"input_tokens": 3}
    internalize(row, pointers, blobs.get)
    assert row == document


def test_a_blob_ref_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BlobError, match="is not a blob ref"):
        DirectoryBlobStore(tmp_path).get("sha256:../../etc/passwd")


def test_the_cli_reports_a_corrupted_blob_in_one_line(tmp_path: Path) -> None:
    from tests.cli.helpers import themis, user_error

    store = SqliteRunStore(tmp_path / "runs.sqlite")
    result = huge_experiment(cases=1).run(store=store)
    store.close()
    (blob, *_) = sorted(p for p in (tmp_path / "runs.sqlite.blobs").rglob("*") if p.is_file())
    blob.write_bytes(b'"not what was stored"')
    line = user_error(
        themis("export", "generation", "--path", "runs.sqlite", "-o", "g.json", cwd=tmp_path)
    )
    assert f"blob sha256:{blob.name}" in line and "corrupted" in line
    assert result.run_id  # the run itself completed before the blob was damaged


def test_a_tiny_threshold_still_keeps_the_event_fields_in_the_row(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "runs.sqlite", blob_threshold=8)
    result = make_experiment().run(store=store)
    rebuilt = load_run_result(store, result.run_id)
    assert rebuilt.model_dump() == result.model_dump()
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT event_id, payload FROM events").fetchall()
    assert all(json.loads(payload)["event_id"] == event_id for event_id, payload in rows)


def test_a_threshold_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="blob_threshold must be a positive"):
        SqliteRunStore(tmp_path / "runs.sqlite", blob_threshold=0)
    with pytest.raises(ValueError, match="blob_threshold must be a positive"):
        PostgresRunStore("", blob_threshold=-1)


def test_a_config_files_blob_root_is_relative_to_it(tmp_path: Path) -> None:
    from themis import Experiment

    project = tmp_path / "project"
    project.mkdir()
    (project / "experiment.yaml").write_text(
        """
seeds: [7]
generation: {generator: builtin/demo_generator}
evaluation: {metrics: [builtin/exact_match], parsers: [builtin/json_identity]}
storage: {store: sqlite, path: runs.sqlite, parameters: {blob_root: blobs}}
datasets:
  - {dataset_id: d, cases: [{case_id: a, input: {question: "1+1"}, expected_output: {answer: "2"}}]}
"""
    )
    experiment = Experiment.from_config(project / "experiment.yaml")
    store = experiment.resolve_store()
    assert isinstance(store, SqliteRunStore)
    assert store.blobs.root == project / "blobs" and store.path == project / "runs.sqlite"


def test_storing_a_payload_again_repairs_its_damaged_blob(tmp_path: Path) -> None:
    blobs = DirectoryBlobStore(tmp_path)
    data = b'"' + big_text(100_000).encode() + b'"'
    ref = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs.put(ref, data)
    path = blobs.path_for(ref)
    path.write_bytes(data[:-10] + b'tampered!"')  # same size, different content
    with pytest.raises(BlobError, match="corrupted"):
        blobs.get(ref)
    blobs.put(ref, data)
    assert blobs.get(ref) == data


def test_postgres_keeps_blobs_in_a_local_directory_by_default(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18 / seed 004: a content-addressed blob store, "a local directory,
    blob_root, by default" - for PostgreSQL too; the database's table is opt-in."""
    monkeypatch.setenv("THEMIS_BLOB_ROOT", str(tmp_path / "default-blobs"))
    schema = fresh_postgres_schema()
    store = postgres_store(postgres_url, schema=schema)
    assert store.blob_root == tmp_path / "default-blobs"
    result = huge_experiment(size=200_000, cases=1).run(store=store)
    files = [p for p in (tmp_path / "default-blobs").rglob("*") if p.is_file()]
    assert files and all(p.parent.parent.name == "sha256" for p in files)
    with store._connection() as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (0,)
    assert load_run_result(store, result.run_id).model_dump() == result.model_dump()
    store.close()

    shared = postgres_store(postgres_url, schema=schema, blobs_in_database=True)
    assert shared.blob_root is None
    again = huge_experiment(size=300_000, cases=1).run(store=shared)
    with shared._connection() as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone()[0] > 0
    assert load_run_result(shared, again.run_id).model_dump() == again.model_dump()
    shared.close()
    # A store with a blob directory still reads what went to the table.
    local = postgres_store(postgres_url, schema=schema)
    assert load_run_result(local, again.run_id).model_dump() == again.model_dump()
    local.close()
    with pytest.raises(ValueError, match="not both"):
        PostgresRunStore(postgres_url, blob_root=tmp_path, blobs_in_database=True)

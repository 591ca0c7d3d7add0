"""``themis export`` and ``themis import`` for every stage."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.helpers import ok, ok_json, themis, user_error, write_config
from themis import SqliteRunStore

STAGES = ("generation", "reduction", "parse", "score", "evaluation")


def test_every_stage_round_trips_into_a_new_store(tmp_path: Path) -> None:
    config = write_config(tmp_path, judged=True, samples=2)
    source = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    run_id = source["run_id"]

    for stage in STAGES:
        done = ok(themis("export", stage, "-c", config, "-o", f"{stage}.json", cwd=tmp_path))
        assert done.stdout == ""
        assert f"exported {stage} bundle of run {run_id}" in done.stderr
        bundle = json.loads((tmp_path / f"{stage}.json").read_text())
        assert bundle["kind"] == stage and bundle["run_id"] == run_id
        assert bundle["records"], stage

    files = [f"{stage}.json" for stage in STAGES]
    done = ok(themis("import", *files, "--path", "copy.sqlite", cwd=tmp_path))
    for stage in STAGES:
        assert f"imported {stage} bundle of run {run_id}" in done.stdout
    again = ok(themis("import", "generation.json", "--path", "copy.sqlite", cwd=tmp_path))
    assert "imported generation bundle" in again.stdout

    copy = SqliteRunStore(tmp_path / "copy.sqlite")
    original = SqliteRunStore(tmp_path / "runs.sqlite")
    try:
        imported_ids = {event.event_id for event in copy.iter_events(run_id)}
        original_ids = {
            event.event_id
            for event in original.iter_events(run_id)
            if not event.event_type.startswith("run_")
        }
        assert imported_ids == original_ids  # every stage result, once, with its own id
    finally:
        copy.close()
        original.close()

    copied = ok_json(
        themis("quickcheck", "--path", "copy.sqlite", "--run-id", run_id, "--json", cwd=tmp_path)
    )
    assert copied["metric_means"] == source["metric_means"]


def test_export_to_stdout_and_import_into_a_config_store(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ok(themis("run", "-c", config, cwd=tmp_path))
    done = ok(themis("export", "score", "--path", "runs.sqlite", "-o", "-", cwd=tmp_path))
    bundle = json.loads(done.stdout)
    assert bundle["kind"] == "score" and len(bundle["records"]) == 4
    (tmp_path / "score.json").write_text(done.stdout)

    other = write_config(tmp_path, "other.yaml", store="other.sqlite")
    done = ok(themis("import", "score.json", "-c", other, cwd=tmp_path))
    assert "into the sqlite store" in done.stdout and "other.sqlite" in done.stdout

    different = write_config(tmp_path, "different.yaml", samples=3, store="third.sqlite")
    line = user_error(themis("import", "score.json", "-c", different, cwd=tmp_path))
    assert "from another run" in line


def test_a_tampered_bundle_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    ok(themis("run", "-c", config, cwd=tmp_path))
    ok(themis("export", "generation", "-c", config, "-o", "gen.json", cwd=tmp_path))
    bundle = json.loads((tmp_path / "gen.json").read_text())
    bundle["records"][0]["candidate"]["final_output"] = {"answer": "5"}
    (tmp_path / "gen.json").write_text(json.dumps(bundle))
    line = user_error(themis("import", "gen.json", "--path", "copy.sqlite", cwd=tmp_path))
    assert "checksum mismatch" in line
    assert not (tmp_path / "copy.sqlite").exists()

    (tmp_path / "cut.json").write_text((tmp_path / "gen.json").read_text()[:200])
    line = user_error(themis("import", "cut.json", "--path", "copy.sqlite", cwd=tmp_path))
    assert "truncated" in line

"""``inspect``, ``quickcheck``, ``report``, ``compare`` and ``estimate`` over stored runs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli.helpers import ok, ok_json, themis, user_error, write_config
from themis import Reporter, SqliteRunStore, quickcheck


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A stored run with a pure and a judge-backed metric: (directory, config, run id)."""
    directory = tmp_path_factory.mktemp("judged")
    config = write_config(directory, judged=True)
    run_id = ok_json(themis("run", "-c", config, "--json", cwd=directory))["run_id"]
    return directory, config, run_id


def test_inspect_runs_lists_the_store(judged: tuple[Path, Path, str]) -> None:
    directory, _, run_id = judged
    rows = ok_json(themis("inspect", "runs", "--path", "runs.sqlite", "--json", cwd=directory))
    assert len(rows) == 1
    row = rows[0]
    started = row.pop("started_at")
    assert row == {
        "run_id": run_id,
        "status": "completed",
        "completed_through_stage": "judge",
        "submitted": False,
        "generator": "builtin/demo_generator",
        "model": None,
        "datasets": ["arith"],
        "dataset_cases": {"arith": 4},
        "cases": 4,
        "failed_cases": 0,
        "work_items": 20,
        "reused": 0,
        "metric_means": {"builtin/exact_match": 1.0, "builtin/llm_rubric": 1.0},
        "metric_counts": {
            "builtin/exact_match": {"n": 4, "parse_failures": 0, "errors": 0},
            "builtin/llm_rubric": {"n": 4, "parse_failures": 0, "errors": 0},
        },
    }
    assert isinstance(started, float) and started > 1.7e9


def test_inspect_runs_tells_runs_apart_and_counts_reuse(tmp_path: Path) -> None:
    """Two runs differing in one metric: the second reuses every generation."""
    config = write_config(tmp_path, judged=True)
    first = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    second = ok_json(
        themis("run", "-c", config, "--set", 'evaluation.metrics=["builtin/exact_match"]',
               "--json", cwd=tmp_path)
    )  # fmt: skip
    assert second["reused_work_items"] == second["work_items"] == 16
    rows = {
        row["run_id"]: row
        for row in ok_json(themis("inspect", "runs", "--path", "runs.sqlite", "--json",
                                  cwd=tmp_path))
    }  # fmt: skip
    assert rows[first["run_id"]]["reused"] == 0
    assert rows[second["run_id"]]["reused"] == 16
    assert set(rows[second["run_id"]]["metric_means"]) == {"builtin/exact_match"}
    table = ok(themis("inspect", "runs", "--path", "runs.sqlite", cwd=tmp_path)).stdout
    assert "all 16 reused" in table and "builtin/demo_generator" in table
    assert "builtin/llm_rubric 1.000" in table
    assert "arith (4)" in table


def test_inspect_snapshot_summary_and_full(judged: tuple[Path, Path, str]) -> None:
    directory, config, run_id = judged
    summary = ok_json(themis("inspect", "snapshot", "-c", config, cwd=directory))
    assert summary["run_id"] == run_id
    assert {c["id"] for c in summary["components"]} >= {"builtin/llm_rubric", "builtin/demo_judge"}
    full = ok_json(
        themis("inspect", "snapshot", "--path", "runs.sqlite", "--run-id", run_id, "--full",
               cwd=directory)
    )  # fmt: skip
    assert full["run_id"] == run_id
    assert [c["case_id"] for c in full["datasets"][0]["cases"]] == ["add", "mul", "sub", "div"]


def test_inspect_state_counts_every_stage(judged: tuple[Path, Path, str]) -> None:
    directory, config, run_id = judged
    state = ok_json(themis("inspect", "state", "-c", config, "--json", cwd=directory))
    assert state["run_id"] == run_id and state["status"] == "completed"
    assert state["stages"]["generate"]["done"] == 4
    assert state["stages"]["judge"]["done"] == 4
    assert state["failures"] == []
    table = ok(themis("inspect", "state", "--path", "runs.sqlite", cwd=directory)).stdout
    assert "judge" in table and f"run_id: {run_id}" in table


def test_inspect_evaluation_shows_the_judge_trace(judged: tuple[Path, Path, str]) -> None:
    directory, config, run_id = judged
    execution = ok_json(
        themis(
            "inspect", "evaluation", "-c", config,
            "--case-id", "mul", "--metric-id", "builtin/llm_rubric",
            cwd=directory,
        )
    )  # fmt: skip
    assert execution["run_id"] == run_id
    assert execution["case_key"] == "arith::mul"
    assert execution["score"]["value"] == 1.0
    assert execution["trace"]  # the judge calls, prompts and verdicts
    line = user_error(
        themis(
            "inspect", "evaluation", "-c", config,
            "--case-id", "nope", "--metric-id", "builtin/llm_rubric",
            cwd=directory,
        )
    )  # fmt: skip
    assert "no stored evaluation of metric 'builtin/llm_rubric' for case 'nope'" in line


def test_quickcheck_matches_python(judged: tuple[Path, Path, str]) -> None:
    directory, config, run_id = judged
    summary = ok_json(themis("quickcheck", "-c", config, "--json", cwd=directory))
    store = SqliteRunStore(directory / "runs.sqlite")
    try:
        assert summary == json.loads(json.dumps(quickcheck(store, run_id)))
    finally:
        store.close()


def test_report_in_every_format_matches_reporter(judged: tuple[Path, Path, str]) -> None:
    directory, config, run_id = judged
    store = SqliteRunStore(directory / "runs.sqlite")
    reporter = Reporter(store)
    try:
        markdown = ok(themis("report", "-c", config, cwd=directory)).stdout
        assert markdown.rstrip("\n") == reporter.export_markdown(run_id).rstrip("\n")
        document = ok_json(themis("report", "-c", config, "--format", "json", cwd=directory))
        assert document == json.loads(reporter.export_json(run_id))
        latex = ok(themis("report", "-c", config, "--format", "latex", cwd=directory)).stdout
        assert "\\begin{tabular}" in latex and "builtin/exact\\_match" in latex
        done = ok(
            themis("report", "-c", config, "--format", "csv", "-o", "out/scores.csv",
                   cwd=directory)
        )  # fmt: skip
        assert done.stdout == "" and "scores.csv" in done.stderr
        rows = list(csv.DictReader(io.StringIO((directory / "out/scores.csv").read_text())))
        assert len(rows) == 8  # 4 cases x 2 metrics
        assert {row["metric_id"] for row in rows} == {"builtin/exact_match", "builtin/llm_rubric"}
    finally:
        store.close()


def test_compare_two_runs_names_the_better_one(tmp_path: Path) -> None:
    # 40 cases, so that a perfect and a mostly wrong generator differ significantly.
    cases = [
        {"case_id": f"c{i}", "input": {"question": f"{i}+{i}"}, "expected_output": str(2 * i)}
        for i in range(40)
    ]
    good = write_config(tmp_path, "good.yaml", cases=cases)
    bad = write_config(tmp_path, "bad.yaml", error_rate=0.9, cases=cases)
    baseline = ok_json(themis("run", "-c", bad, "--json", cwd=tmp_path))["run_id"]
    candidate = ok_json(themis("run", "-c", good, "--json", cwd=tmp_path))["run_id"]

    comparison = ok_json(
        themis("compare", "--baseline-config", bad, "--candidate-config", good,
               "--format", "json", cwd=tmp_path)
    )  # fmt: skip
    metric = comparison["metrics"][0]
    assert metric["metric_id"] == "builtin/exact_match"
    assert metric["better"] == "candidate" and metric["better_run_id"] == candidate
    assert metric["p_value"] < 0.01

    table = ok(themis("compare", baseline, candidate, "--path", "runs.sqlite", cwd=tmp_path)).stdout
    assert f"candidate {candidate} is better" in table
    assert "mcnemar" in table
    line = user_error(themis("report", "--path", "runs.sqlite", cwd=tmp_path))
    assert "holds 2 runs" in line and "--run-id" in line


def test_estimate_counts_planned_and_cached_work(tmp_path: Path) -> None:
    config = write_config(tmp_path, judged=True, samples=3)
    before = ok_json(themis("estimate", "-c", config, "--json", cwd=tmp_path))
    assert not (tmp_path / "runs.sqlite").exists()  # estimating writes nothing
    assert before["stages"]["generate"] == {"planned": 12, "cached": 0, "to_run": 12}
    assert before["generator_calls"] == 12 and before["judge_calls"] == 4
    ok(themis("run", "-c", config, cwd=tmp_path))
    after = ok(themis("estimate", "-c", config, cwd=tmp_path)).stdout
    assert "generator calls: 0" in after and "judge calls: 0" in after


def test_read_commands_need_an_existing_run(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(themis("report", "-c", config, cwd=tmp_path))
    assert "no store at" in line and "runs.sqlite" in line
    line = user_error(themis("quickcheck", "--path", "missing.sqlite", cwd=tmp_path))
    assert "missing.sqlite" in line
    line = user_error(themis("inspect", "state", cwd=tmp_path))
    assert "--config FILE, or --path" in line

"""``themis run``, ``resume``, ``replay`` and ``rejudge`` through the real console script."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.helpers import ok, ok_json, themis, user_error, write_config
from tests.conftest import REPO_ROOT, arithmetic_dataset, make_experiment
from themis import RuntimeConfig
from themis.cli.output import exit_for, print_result
from themis.core.config import StorageConfig
from themis.core.engine.case_view import StoredCaseResults
from themis.core.errors import StoreError
from themis.core.models import RunStatus


def test_readme_demo_runs_end_to_end_on_sqlite(tmp_path: Path) -> None:
    example = tmp_path / "arithmetic"
    shutil.copytree(REPO_ROOT / "examples" / "arithmetic", example)
    payload = ok_json(themis("run", "--config", "experiment.toml", "--json", cwd=example))
    assert set(payload) == {
        "run_id",
        "status",
        "completed_through_stage",
        "metric_means",
        "metric_counts",
        "reused_work_items",
        "work_items",
    }
    assert payload["status"] == "completed"
    assert payload["reused_work_items"] == 0 and payload["work_items"] > 0
    assert set(payload["metric_means"]) == {"builtin/exact_match", "builtin/numeric_tolerance"}
    assert set(payload["metric_counts"]) == set(payload["metric_means"])
    assert (example / ".themis" / "arithmetic.sqlite").is_file()
    # Again, as a table: the same run, every result reused from the store.
    table = ok(themis("run", "--config", "experiment.toml", cwd=example)).stdout
    assert f"run_id: {payload['run_id']}" in table
    assert "status: completed" in table
    assert "builtin/exact_match" in table and "metric means" in table
    assert (
        f"reused: all {payload['work_items']} work items reused from the store; nothing recomputed"
        in table
    )


def test_progress_goes_to_stderr_and_results_to_stdout(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = ok(themis("run", "-c", config, "--progress", "on", "--json", cwd=tmp_path))
    assert json.loads(done.stdout)["status"] == "completed"  # nothing else on stdout
    assert "themis" in done.stderr and "4/4" in done.stderr


def test_set_overrides_change_the_run_like_from_config(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    base = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    changed = ok_json(
        themis(
            "run", "-c", config, "--json",
            "--set", "generation.candidate_policy.num_samples=3",
            "--set", "runtime.max_concurrent_tasks=2",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert changed["run_id"] != base["run_id"]  # samples are identity, concurrency is not
    from themis import Experiment

    expected = Experiment.from_config(
        config,
        overrides=["generation.candidate_policy.num_samples=3", "runtime.max_concurrent_tasks=2"],
    )
    assert changed["run_id"] == expected.compile().run_id


def test_until_stage_then_resume_finishes_the_same_run(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    partial = ok_json(themis("run", "-c", config, "--until-stage", "parse", "--json", cwd=tmp_path))
    assert partial["completed_through_stage"] == "parse"
    assert partial["metric_means"] == {}
    finished = ok_json(themis("resume", "-c", config, "--json", cwd=tmp_path))
    assert finished["run_id"] == partial["run_id"]
    assert finished["completed_through_stage"] == "judge"
    assert finished["metric_means"] == {"builtin/exact_match": 1.0}


def test_resume_and_replay_need_a_stored_run(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(themis("resume", "-c", config, cwd=tmp_path))
    assert "no store at" in line and "runs.sqlite" in line
    ok(themis("run", "-c", config, cwd=tmp_path))
    other = ("--set", "seeds=[1]")  # another run, same store
    line = user_error(themis("replay", "-c", config, *other, "--stage", "score", cwd=tmp_path))
    assert "is not in the sqlite store" in line and "run it first: themis run --config" in line


def test_replay_and_rejudge_recompute_downstream_stages(tmp_path: Path) -> None:
    config = write_config(tmp_path, judged=True)
    first = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    assert set(first["metric_means"]) == {"builtin/exact_match", "builtin/llm_rubric"}
    replayed = ok_json(
        themis(
            "replay", "-c", config, "--stage", "score", "--metric", "builtin/exact_match",
            "--json", cwd=tmp_path,
        )
    )  # fmt: skip
    assert replayed["run_id"] == first["run_id"]
    assert replayed["metric_means"] == first["metric_means"]
    rejudged = ok_json(themis("rejudge", "-c", config, "--json", cwd=tmp_path))
    assert rejudged["metric_means"] == first["metric_means"]
    line = user_error(
        themis("rejudge", "-c", config, "--metric", "builtin/exact_match", cwd=tmp_path)
    )
    assert "not workflow-backed" in line

    from themis import SqliteRunStore

    store = SqliteRunStore(tmp_path / "runs.sqlite")
    events = [event.event_type for event in store.iter_events(first["run_id"])]
    store.close()
    assert events.count("run_started") == 3  # run, replay, rejudge
    assert events.count("generation_completed") == 4  # replay never regenerates


def test_rejudge_without_judge_metrics_says_so(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(themis("rejudge", "-c", config, cwd=tmp_path))
    assert "no judge-backed metric" in line


def test_bad_config_exits_two_with_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "generation: {generator: builtin/demo_generatr}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: '1+1'}]}]\n"
    )
    line = user_error(themis("run", "--config", "bad.yaml", cwd=tmp_path))
    assert "unknown generator 'builtin/demo_generatr'" in line
    assert "did you mean 'builtin/demo_generator'" in line


def test_failed_cases_exit_three(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "generation: {generator: builtin/demo_generator}\n"
        "evaluation: {parsers: [builtin/number], metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: 'no numbers here'}]}]\n"
    )
    done = themis("run", "--config", "e.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "failed"
    assert "failed d::a at parse" in done.stderr


def test_run_says_what_it_reused_and_a_rerun_reuses_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    first = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    assert first["reused_work_items"] == 0 and first["work_items"] == 16
    again = ok_json(themis("run", "-c", config, "--json", cwd=tmp_path))
    assert again["reused_work_items"] == again["work_items"] == 16
    rerun = ok(themis("run", "-c", config, "--existing-run-policy", "rerun", cwd=tmp_path)).stdout
    assert "reused: computed all 16 work items" in rerun


def test_the_run_summary_of_a_completed_run_reads_no_case_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``themis run`` ends with a summary; for a run that completed, it comes
    from the run's tallies. Reading every case back from the store to count
    the failed ones would take minutes after a run of a million cases."""
    store = tmp_path / "summary.sqlite"
    result = make_experiment(
        storage=StorageConfig(store="sqlite", path=str(store)),
        datasets=[arithmetic_dataset(count=6)],
    ).run(runtime=RuntimeConfig(progress="off"))
    assert result.status is RunStatus.completed
    assert isinstance(result.cases, StoredCaseResults)
    result.cases.store.close()
    for path in tmp_path.glob("summary.sqlite*"):
        path.unlink()  # any case read back now fails
    with pytest.raises(StoreError):
        result.cases[0]
    print_result(result, as_json=False)
    exit_for(result)
    assert "cases: 6 (0 failed)" in capsys.readouterr().out

"""The same experiment gives the same run id and the same results from the CLI and from Python."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ok_json, themis, write_config
from themis import Experiment, InMemoryRunStore, SqliteRunStore, evaluate
from themis.core.analysis.inspection import load_run_result


def _scores(result: object) -> dict[tuple[str, str], float]:
    return {
        (case.case_key, score.metric_id): score.value
        for case in result.cases  # type: ignore[attr-defined]
        for score in case.scores
    }


def test_cli_run_matches_experiment_from_config_run(tmp_path: Path) -> None:
    config = write_config(tmp_path, error_rate=0.5, samples=3, judged=True)
    cli = ok_json(themis("run", "--config", config, "--json", cwd=tmp_path))

    python = Experiment.from_config(config).run(store=InMemoryRunStore())
    assert cli["run_id"] == python.run_id
    assert cli["status"] == python.status.value
    assert cli["completed_through_stage"] == python.completed_through_stage
    assert cli["metric_means"] == python.metric_means

    store = SqliteRunStore(tmp_path / "runs.sqlite")
    stored = load_run_result(store, cli["run_id"])
    store.close()
    assert _scores(stored) == _scores(python)
    assert [c.reduced_candidate for c in stored.cases] == [
        c.reduced_candidate for c in python.cases
    ]


def test_quick_eval_inline_matches_evaluate(tmp_path: Path) -> None:
    cli = ok_json(
        themis(
            "quick-eval", "inline", "--model", "builtin/demo_generator",
            "--model-option", "error_rate=0.5", "--samples", "3",
            "--reducer", "builtin/majority_vote", "--parser", "builtin/number",
            "--seed", "1", "--seed", "2", "--seed", "3",
            "--input", "2+2", "--expected", "4", "--input", "6*7", "--expected", "42",
            "--input", "9-3", "--expected", "6", "--json",
            cwd=tmp_path,
        )
    )  # fmt: skip
    python = evaluate(
        model={"id": "builtin/demo_generator", "options": {"error_rate": 0.5}},
        data=[
            {"input": "2+2", "expected_output": "4"},
            {"input": "6*7", "expected_output": "42"},
            {"input": "9-3", "expected_output": "6"},
        ],
        metric="builtin/exact_match",
        parser="builtin/number",
        samples=3,
        reducer="builtin/majority_vote",
        seeds=[1, 2, 3],
    )
    assert cli["run_id"] == python.run_id
    assert cli["metric_means"] == python.metric_means

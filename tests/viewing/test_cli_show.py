"""``themis show`` and ``themis inspect runs`` through the real console script."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ok, ok_json, themis, user_error
from themis.core.analysis.run_overview import model_of
from themis.core.models import ComponentRef


def test_show_prints_the_case_the_model_answered_and_the_judge_verdict(
    talkative_store: tuple[Path, str],
) -> None:
    path, _ = talkative_store
    text = ok(themis("show", "--path", path, "--case", "c1", cwd=path.parent)).stdout
    for expected in (
        "case arith::c1",
        "1+1",  # input and rendered prompt
        "The answer is 21, said talker.",  # candidate and reduced candidate
        "parsed value",
        "builtin/exact_match",
        "judges of builtin/llm_rubric",
        "VERDICT: FAIL",
        "think",  # trace steps
        "tokens input_tokens 11",
    ):
        assert expected in text, expected


def test_show_json_is_the_whole_case_detail(talkative_store: tuple[Path, str]) -> None:
    path, run_id = talkative_store
    detail = ok_json(
        themis("show", "--path", path, "--run-id", run_id, "--case", "arith::c3", "--json",
               cwd=path.parent)
    )  # fmt: skip
    assert detail["case_key"] == "arith::c3" and detail["status"] == "failed"
    (error,) = detail["errors"]
    assert error["error"]["attempts"] == 3 and len(error["error"]["earlier_errors"]) == 2


def test_show_failed_lists_failing_cases_with_their_errors(
    talkative_store: tuple[Path, str],
) -> None:
    path, _ = talkative_store
    table = ok(themis("show", "--path", path, "--failed", cwd=path.parent)).stdout
    assert "arith::c3" in table and "ConnectionError" in table and "arith::c1" not in table
    rows = ok_json(themis("show", "--path", path, "--failed", "--json", cwd=path.parent))
    assert [row["case_key"] for row in rows] == ["arith::c3"]
    assert rows[0]["errors"][0]["error"]["category"] == "connection"


def test_show_names_an_unknown_case_and_a_missing_choice(
    talkative_store: tuple[Path, str],
) -> None:
    path, run_id = talkative_store
    line = user_error(themis("show", "--path", path, "--case", "nope", cwd=path.parent))
    assert f"run {run_id} has no case 'nope'" in line
    done = themis("show", "--path", path, cwd=path.parent)
    assert done.returncode == 2 and "give --case KEY" in done.stderr


def test_inspect_runs_shows_generator_failures_and_means(
    talkative_store: tuple[Path, str],
) -> None:
    path, _ = talkative_store
    (row,) = ok_json(themis("inspect", "runs", "--path", path, "--json", cwd=path.parent))
    assert row["generator"] == "test/talkative"
    assert row["model"] == "talker"  # from the candidates' artifacts, as adapters record it
    assert row["failed_cases"] == 1 and row["metric_means"]["builtin/exact_match"] == 0.75
    table = ok(themis("inspect", "runs", "--path", path, cwd=path.parent)).stdout
    assert "test/talkative · talker" in table and "5 (1 failed)" in table


def test_the_model_comes_from_the_generator_options() -> None:
    ref = ComponentRef(
        kind="generator",
        component_id="openai/chat",
        name="openai/chat",
        version="1",
        fingerprint="f",
        options={"model": "gpt-4o-mini", "temperature": 0},
    )
    assert model_of(ref) == "gpt-4o-mini"
    assert model_of(ref.model_copy(update={"options": {}})) is None

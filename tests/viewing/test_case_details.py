"""CaseDetail: everything stored about a case, read back from a store."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.viewing.helpers import BROKEN_CASE, TalkativeGenerator, talkative_experiment
from themis import InMemoryRunStore, SqliteRunStore
from themis.core.analysis.case_details import UnknownCaseError, load_case_details, resolve_case_key
from themis.core.analysis.inspection import get_run_snapshot
from themis.core.models import RunStatus


def test_a_judged_case_holds_output_scores_and_judge_verdicts(
    talkative_store: tuple[Path, str],
) -> None:
    path, run_id = talkative_store
    store = SqliteRunStore(path)
    (detail,) = load_case_details(store, run_id, ["arith::c1"])
    store.close()
    assert detail.status is RunStatus.completed
    assert detail.input == {"question": "1+1"} and detail.expected_output == "2"
    assert [m.content for m in detail.prompt] == ["1+1"]
    (candidate,) = detail.candidates
    assert candidate.candidate.final_output == "The answer is 21, said talker."
    assert [step.step_name for step in candidate.candidate.trace or []] == ["think", "answer"]
    assert detail.output == "The answer is 21, said talker."
    assert detail.parsed[0].value == 21
    assert {s.metric_id: s.value for s in detail.scores} == {
        "builtin/exact_match": 0.0,
        "builtin/llm_rubric": 0.0,
    }
    (evaluation,) = detail.evaluations
    (call,) = evaluation.calls
    assert call.judge_model_id == "builtin/demo_judge"
    assert call.response_text is not None and call.response_text.startswith("VERDICT: FAIL")
    assert isinstance(call.prompt, list)
    assert "Candidate answer:\n21\n" in call.prompt[-1]["content"]  # type: ignore[index,call-overload]
    assert detail.errors == []


def test_a_failed_case_keeps_its_error_and_every_retried_attempt(
    talkative_store: tuple[Path, str],
) -> None:
    path, run_id = talkative_store
    store = SqliteRunStore(path)
    details = {d.case_id: d for d in load_case_details(store, run_id)}
    store.close()
    assert list(details) == ["c0", "c1", "c2", "c3", "c4"]
    broken = details[BROKEN_CASE]
    assert broken.status is RunStatus.failed and broken.output is None
    (error,) = broken.errors
    assert error.stage == "generate" and error.error.category == "connection"
    assert error.error.attempts == 3  # max_retries=2
    assert error.error.earlier_errors == [
        "ConnectionError: model server hung up on arith::c3",
        "ConnectionError: model server hung up on arith::c3",
    ]
    # c2 failed once in the call and then worked: no stored error at all.
    assert details["c2"].errors == [] and details["c2"].status is RunStatus.completed


def test_failures_stored_by_earlier_attempts_are_listed_and_recoveries_counted() -> None:
    store = InMemoryRunStore()
    generator = TalkativeGenerator()
    experiment = talkative_experiment(generator)
    first = experiment.run(store=store)
    second = experiment.resume(store=store)  # c3 fails again: two stored failures
    assert second.run_id == first.run_id
    (detail,) = load_case_details(store, first.run_id, [f"arith::{BROKEN_CASE}"])
    (error,) = detail.errors
    assert len(error.earlier_failures) == 1
    assert error.earlier_failures[0].error.message == error.error.message
    assert error.earlier_failures[0].at <= error.at


def test_case_keys_resolve_from_unique_case_ids_and_say_what_is_wrong(
    talkative_store: tuple[Path, str],
) -> None:
    path, run_id = talkative_store
    store = SqliteRunStore(path)
    snapshot = get_run_snapshot(store, run_id)
    store.close()
    assert resolve_case_key(snapshot, "c4") == "arith::c4"
    assert resolve_case_key(snapshot, "arith::c4") == "arith::c4"
    with pytest.raises(UnknownCaseError, match=r"no case 'c9'.*arith::c0"):
        resolve_case_key(snapshot, "c9")

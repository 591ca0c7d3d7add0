"""The seeds' adapter examples run unchanged, their fake clients injected as they are."""

from __future__ import annotations

import runpy
from pathlib import Path

SEEDS = Path(__file__).resolve().parent.parent / "seed_examples"


def _run(name: str) -> dict[str, object]:
    namespace = runpy.run_path(str(SEEDS / name), run_name="seed_example")
    result = namespace["run_example"]()
    assert isinstance(result, dict)
    return result


def test_openai_seed() -> None:
    result = _run("001_openai.py")
    assert result["status"] == "completed"
    assert result["artifact_keys"] == [
        "rate_limits",
        "raw_response",
        "request",
        "response_id",
        "usage",
    ]


def test_vllm_seed() -> None:
    result = _run("001_vllm.py")
    assert result == {
        "run_id": result["run_id"],
        "status": "completed",
        "api_mode": "chat_completions",
    }


def test_langgraph_seed() -> None:
    result = _run("001_langgraph.py")
    assert result["status"] == "completed"
    # The trace is captured by default: the fake graph's one streamed step. Its
    # stream has no root end event, so the final state came from ainvoke.
    assert result["trace_steps"] == 1

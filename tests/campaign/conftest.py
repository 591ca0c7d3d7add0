"""A campaign's models answer from the local OpenAI-compatible server; its data is small."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.adapters.fake_openai_server import FakeOpenAIServer, running_server

CHAT = "/v1/chat/completions"


def arithmetic_answer(path: str, body: Any) -> str:
    """``good`` always solves ``a+b``; ``shaky`` only at temperature 0."""
    text = json.dumps(body.get("messages") or body.get("prompt") or body.get("input"))
    match = re.search(r"(\d+)\+(\d+)", text)
    if match is None:
        return "no idea"
    answer = int(match.group(1)) + int(match.group(2))
    if body.get("model") == "shaky" and (body.get("temperature") or 0) > 0:
        answer += 1
    return str(answer)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAIServer]:
    with running_server(models=("good", "shaky")) as instance:
        instance.answer = arithmetic_answer
        monkeypatch.setenv("OPENAI_API_KEY", "sk-campaign-test-0000")
        yield instance


def write_arithmetic(path: Path, count: int = 8) -> Path:
    rows = [
        {
            "case_id": f"c{i}",
            "input": {"question": f"{i}+{i + 1}"},
            "expected_output": str(2 * i + 1),
        }
        for i in range(count)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def campaign_data(server: FakeOpenAIServer, root: Path, **changes: Any) -> dict[str, Any]:
    """Two models (one with a temperature grid) on a custom benchmark."""
    write_arithmetic(root / "arith.jsonl")
    connection = {"base_url": server.base_url, "api_mode": "chat_completions"}
    data: dict[str, Any] = {
        "project": {
            "project_name": "sweep",
            "researcher_id": "alice",
            "global_seed": 3,
            "storage": {"backend": "sqlite_blob", "root_dir": "store"},
            "execution_policy": {"max_retries": 1, "retry_backoff_factor": 0.001},
        },
        "models": [
            {
                "name": "good",
                "model_id": "good",
                "provider": "openai",
                "extras": connection,
                "params": {"max_tokens": 16},
            },
            {
                "name": "shaky",
                "model_id": "shaky",
                "provider": "openai",
                "extras": connection,
                "grid": {"params": [{"max_tokens": 16}], "overrides": {"temperature": [0.0, 0.8]}},
            },
        ],
        "benchmarks": [
            {
                "name": "arith",
                "dataset": {"source": "local", "dataset_id": "arith.jsonl"},
                "generation": {"messages": [{"role": "system", "content": "Reply with a number."}]},
                "scoring": {"parsers": ["builtin/number"], "metrics": ["builtin/exact_match"]},
            }
        ],
    }
    data.update(changes)
    return data


def write_campaign(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Specs built in Python resolve relative paths against the working directory."""
    monkeypatch.chdir(tmp_path)

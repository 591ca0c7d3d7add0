"""Run the installed ``themis`` console script, and write small experiment configs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

THEMIS = str(Path(sys.executable).parent / "themis")


def themis(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """One real ``themis`` process; stdout and stderr kept apart."""
    inherited = {k: v for k, v in os.environ.items() if k != "THEMIS_DEBUG"}
    environment = {**inherited, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run(
        [THEMIS, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(done).stdout)


def user_error(done: subprocess.CompletedProcess[str]) -> str:
    """Assert exit code 2 with one line and no traceback; return that line."""
    assert done.returncode == 2, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    return lines[0]


ARITHMETIC_CASES = [
    {"case_id": "add", "input": {"question": "2+2"}, "expected_output": "4"},
    {"case_id": "mul", "input": {"question": "6*7"}, "expected_output": "42"},
    {"case_id": "sub", "input": {"question": "100-58"}, "expected_output": "42"},
    {"case_id": "div", "input": {"question": "7/2"}, "expected_output": "3.5"},
]


def write_config(
    directory: Path,
    name: str = "experiment.yaml",
    *,
    judged: bool = False,
    error_rate: float = 0.0,
    samples: int = 1,
    store: str = "runs.sqlite",
    cases: list[dict[str, Any]] | None = None,
) -> Path:
    """A small demo-generator experiment stored in SQLite beside the config.

    ``judged`` adds the judge-backed ``builtin/llm_rubric`` metric with the
    demo judge, so replay, rejudge and evaluation inspection have work to do.
    """
    evaluation: dict[str, Any] = {
        "parsers": ["builtin/number"],
        "metrics": ["builtin/exact_match"],
    }
    if judged:
        evaluation["metrics"].append("builtin/llm_rubric")
        evaluation["judge_models"] = ["builtin/demo_judge"]
        evaluation["workflow_overrides"] = {"rubric": "pass if the answer equals the reference"}
    config = {
        "generation": {
            "generator": {"id": "builtin/demo_generator", "options": {"error_rate": error_rate}},
            "candidate_policy": {"num_samples": samples},
            "reducer": "builtin/majority_vote",
        },
        "evaluation": evaluation,
        "datasets": [{"dataset_id": "arith", "cases": cases or ARITHMETIC_CASES}],
        "seeds": [7],
        "storage": {"store": "sqlite", "path": store},
    }
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path

"""``themis run`` through the real console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

THEMIS = str(Path(sys.executable).parent / "themis")


def _themis(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([THEMIS, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_readme_demo_runs_end_to_end_on_sqlite(tmp_path: Path) -> None:
    example = tmp_path / "arithmetic"
    shutil.copytree(REPO_ROOT / "examples" / "arithmetic", example)
    done = _themis("run", "--config", "experiment.toml", "--json", cwd=example)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["status"] == "completed"
    assert set(payload["metric_means"]) == {"builtin/exact_match", "builtin/numeric_tolerance"}
    assert (example / ".themis" / "arithmetic.sqlite").is_file()
    again = _themis("run", "--config", "experiment.toml", "--json", cwd=example)
    assert json.loads(again.stdout)["run_id"] == payload["run_id"]


def test_table_output_names_run_and_status(tmp_path: Path) -> None:
    example = tmp_path / "arithmetic"
    shutil.copytree(REPO_ROOT / "examples" / "arithmetic", example)
    done = _themis("run", "--config", "experiment.toml", cwd=example)
    assert done.returncode == 0, done.stderr
    assert "status: completed" in done.stdout
    assert "builtin/exact_match" in done.stdout


def test_bad_config_exits_two_with_one_line_reason(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "generation: {generator: builtin/demo_generatr}\ndatasets: [{dataset_id: d, cases: []}]\n"
    )
    done = _themis("run", "--config", "bad.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "unknown generator 'builtin/demo_generatr'" in done.stderr
    assert "did you mean 'builtin/demo_generator'" in done.stderr


def test_failed_cases_exit_three(tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "generation: {generator: builtin/demo_generator}\n"
        "evaluation: {parsers: [builtin/number], metrics: [builtin/exact_match]}\n"
        "datasets: [{dataset_id: d, cases: [{case_id: a, input: 'no numbers here'}]}]\n"
    )
    done = _themis("run", "--config", "e.yaml", cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "failed d::a at parse" in done.stderr

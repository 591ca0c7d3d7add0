"""``themis init`` scaffolds a project that ``themis run`` runs as is."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ok, ok_json, themis, user_error
from themis import Experiment


def test_starter_project_runs_as_is_from_anywhere(tmp_path: Path) -> None:
    done = ok(themis("init", "my-eval", cwd=tmp_path))
    project = tmp_path / "my-eval"
    assert sorted(p.name for p in project.iterdir()) == [
        "data.jsonl",
        "experiment.yaml",
        "metrics.py",
    ]
    assert "themis run --config" in done.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = ok_json(
        themis("run", "--config", project / "experiment.yaml", "--json", cwd=elsewhere)
    )
    assert result["status"] == "completed"
    # The project's own metric, loaded from metrics.py through python:metrics:CloseEnough.
    assert set(result["metric_means"]) == {"builtin/exact_match", "starter/close_enough"}
    assert (project / ".themis" / "runs.sqlite").is_file()

    python = Experiment.from_config(project / "experiment.yaml")
    assert python.compile().run_id == result["run_id"]
    refs = {ref.component_id: ref for ref in python.compile().component_refs.metrics}
    assert refs["starter/close_enough"].version == "1"


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    ok(themis("init", cwd=tmp_path))
    (tmp_path / "metrics.py").write_text("# my work\n")
    line = user_error(themis("init", cwd=tmp_path))
    assert "experiment.yaml, data.jsonl, metrics.py already exist" in line
    assert (tmp_path / "metrics.py").read_text() == "# my work\n"
    ok(themis("init", "--force", cwd=tmp_path))
    assert "class CloseEnough" in (tmp_path / "metrics.py").read_text()

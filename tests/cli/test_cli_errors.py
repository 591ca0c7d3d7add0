"""User errors: exit code 2, one line on stderr, a traceback only with --debug."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ok, themis, user_error, write_config


def test_help_lists_every_command(tmp_path: Path) -> None:
    done = ok(themis("--help", cwd=tmp_path))
    for command in (
        "run", "resume", "replay", "rejudge", "estimate", "report", "quickcheck", "inspect",
        "compare", "export", "import", "init", "quick-eval", "components", "submit", "worker",
    ):  # fmt: skip
        assert f"\n  {command} " in done.stdout, command
    assert "Exit codes" in done.stdout


def test_invalid_field_names_its_path(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(
        themis("run", "-c", config, "--set", "generation.candidate_policy.num_samples=0",
               cwd=tmp_path)
    )  # fmt: skip
    assert "generation.candidate_policy.num_samples" in line


def test_unknown_local_component_module(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    line = user_error(
        themis("run", "-c", config, "--set", "evaluation.metrics=[python:nowhere:Metric]",
               cwd=tmp_path)
    )  # fmt: skip
    assert "evaluation.metrics[0]" in line and "cannot find module 'nowhere'" in line


def test_one_line_by_default_and_the_traceback_with_debug(tmp_path: Path) -> None:
    line = user_error(themis("run", "-c", "nope.yaml", cwd=tmp_path))
    assert "nope.yaml: config file not found" in line
    done = themis("--debug", "run", "-c", "nope.yaml", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" in done.stderr and "ConfigError" in done.stderr
    env_debug = themis("run", "-c", "nope.yaml", cwd=tmp_path, env={"THEMIS_DEBUG": "1"})
    assert "Traceback" in env_debug.stderr


def test_usage_errors_exit_two(tmp_path: Path) -> None:
    done = themis("replay", "-c", "x.yaml", "--stage", "generate", cwd=tmp_path)
    assert done.returncode == 2 and "Invalid value for '--stage'" in done.stderr
    done = themis("compare", "only-one-run", "--path", "x.sqlite", cwd=tmp_path)
    assert done.returncode == 2 and "two run ids" in done.stderr

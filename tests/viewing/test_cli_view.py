"""``themis view`` as a user starts it: a real process serving a real store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from tests.cli.helpers import THEMIS, themis, user_error


def start_viewer(*args: str, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """A ``themis view`` process and the URL it printed."""
    process = subprocess.Popen(
        [THEMIS, "view", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "Themis viewer of the sqlite store" not in line:
        process.terminate()
        raise AssertionError(f"{line}{process.communicate(timeout=10)[1]}")
    return process, line.strip().rsplit(" ", 1)[-1]


def test_view_serves_the_store_on_a_free_local_port(talkative_store: tuple[Path, str]) -> None:
    path, run_id = talkative_store
    process, url = start_viewer("--store", str(path), cwd=path.parent)
    try:
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert run_id in response.read().decode()
        with urllib.request.urlopen(f"{url}api/runs", timeout=10) as response:
            (run,) = json.load(response)
        assert run["run_id"] == run_id and run["failed_cases"] == 1
        with urllib.request.urlopen(f"{url}runs/{run_id}", timeout=10) as response:
            assert "The answer is 21, said talker." in response.read().decode()
        try:
            urllib.request.urlopen(f"{url}runs/run-unknown", timeout=10)
        except urllib.error.HTTPError as error:
            assert error.code == 404 and "run-unknown" in error.read().decode()
        else:
            raise AssertionError("an unknown run was served")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_view_finds_the_one_store_in_dot_themis(
    talkative_store: tuple[Path, str], tmp_path: Path
) -> None:
    path, run_id = talkative_store
    (tmp_path / ".themis").mkdir()
    shutil.copyfile(path, tmp_path / ".themis" / "runs.sqlite")
    process, url = start_viewer(cwd=tmp_path)
    try:
        with urllib.request.urlopen(f"{url}api/runs", timeout=10) as response:
            assert [run["run_id"] for run in json.load(response)] == [run_id]
    finally:
        process.terminate()
        process.wait(timeout=10)
    shutil.copyfile(path, tmp_path / ".themis" / "other.sqlite")
    line = user_error(themis("view", cwd=tmp_path))
    assert "several stores in ./.themis" in line and "--store PATH" in line


def test_view_without_a_store_says_which_to_name(tmp_path: Path) -> None:
    line = user_error(themis("view", cwd=tmp_path))
    assert "themis view --store" in line
    line = user_error(themis("view", "--store", "missing.sqlite", cwd=tmp_path))
    assert "no store at missing.sqlite" in line

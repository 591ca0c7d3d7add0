"""``themis campaign run|status|report`` in real processes, against the local server."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.adapters.fake_openai_server import FakeOpenAIServer, running_server
from tests.campaign.conftest import CHAT, arithmetic_answer, campaign_data, write_campaign
from tests.cli.helpers import THEMIS, ok, ok_json, themis

KEY = {"OPENAI_API_KEY": "sk-cli-campaign-0000"}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with running_server(models=("good", "shaky")) as instance:
        instance.answer = arithmetic_answer
        yield instance


@pytest.fixture
def project(server: FakeOpenAIServer, tmp_path: Path) -> Path:
    return write_campaign(tmp_path / "project.yaml", campaign_data(server, tmp_path))


def test_read_commands_never_create_the_store(project: Path, tmp_path: Path) -> None:
    status = ok_json(themis("campaign", "status", project, "--json", cwd=tmp_path))
    assert {s["status"] for s in status} == {"not run"} and len(status) == 3
    refused = themis("campaign", "report", project, cwd=tmp_path)
    assert refused.returncode == 2 and "run `themis campaign run" in refused.stderr
    assert not (tmp_path / "store").exists()


def test_run_then_rerun_skips_then_report_in_every_format(
    server: FakeOpenAIServer, project: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    first = ok(themis("campaign", "run", project, "--progress", "off", cwd=elsewhere, env=KEY))
    assert "ran: 3, skipped: 0" in first.stdout
    assert "shaky[temperature=0.8] on arith: completed" in first.stderr
    assert (tmp_path / "store" / "themis.sqlite").is_file()  # beside the file, not the cwd
    calls = len(server.received(CHAT))

    again = ok_json(themis("campaign", "run", project, "--json", cwd=elsewhere, env=KEY))
    assert [p["skipped"] for p in again["points"]] == [True, True, True]
    assert len(server.received(CHAT)) == calls

    status = ok_json(themis("campaign", "status", project, "--json", cwd=elsewhere))
    assert [(s["model"], s["status"]) for s in status] == [
        ("good", "completed"),
        ("shaky[temperature=0.0]", "completed"),
        ("shaky[temperature=0.8]", "completed"),
    ]

    markdown = ok(themis("campaign", "report", project, cwd=elsewhere)).stdout
    assert "## Paired comparisons against good" in markdown
    assert "| shaky[temperature=0.8] | 0.000 [0.000, 0.000] (n=8) |" in markdown
    table = ok(themis("campaign", "report", project, "--format", "csv", cwd=elsewhere)).stdout
    rows = list(csv.DictReader(io.StringIO(table)))
    assert {r["run_id"] for r in rows if r["section"] == "leaderboard"} == {
        s["run_id"] for s in status
    }
    ok(
        themis(
            "campaign", "report", project, "--format", "latex", "--baseline", "shaky",
            "--correction", "bh", "-o", tmp_path / "board.tex", cwd=elsewhere,
        )
    )  # fmt: skip
    latex = (tmp_path / "board.tex").read_text()
    assert "against shaky[temperature=0.0] (Benjamini-Hochberg" in latex
    report = json.loads(
        ok(themis("campaign", "report", project, "--format", "json", cwd=elsewhere)).stdout
    )
    assert report["baseline"] == "good" and len(report["comparisons"]) == 2


def test_run_can_take_part_of_the_grid_and_overrides(
    server: FakeOpenAIServer, project: Path, tmp_path: Path
) -> None:
    done = ok_json(
        themis(
            "campaign", "run", project, "--model", "shaky[temperature=0.8]",
            "--set", "project.global_seed=9", "--json", cwd=tmp_path, env=KEY,
        )
    )  # fmt: skip
    assert [p["point_id"] for p in done["points"]] == ["shaky[temperature=0.8]"]
    assert {r.body["seed"] for r in server.received(CHAT)} == {9}


def test_failed_points_exit_3_and_bad_files_exit_2(
    server: FakeOpenAIServer, project: Path, tmp_path: Path
) -> None:
    failed = themis("campaign", "run", project, cwd=tmp_path, env={"OPENAI_API_KEY": ""})
    assert failed.returncode == 3
    assert "3 point(s) did not complete" in failed.stderr
    assert "OPENAI_API_KEY" in failed.stderr

    bad = write_campaign(tmp_path / "bad.yaml", campaign_data(server, tmp_path, baseline=[1]))
    refused = themis("campaign", "run", bad, cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and "baseline" in refused.stderr
    assert "Traceback" not in refused.stderr
    missing = themis("campaign", "report", tmp_path / "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    unknown = themis("campaign", "run", project, "--model", "nobody", cwd=tmp_path, env=KEY)
    assert unknown.returncode == 2 and "unknown model(s) ['nobody']" in unknown.stderr
    assert server.received(CHAT) == []


def test_a_killed_campaign_continues_where_it_stopped(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    data = campaign_data(server, tmp_path)
    data["project"]["execution_policy"]["max_in_flight_work_items"] = 1
    project = write_campaign(tmp_path / "project.yaml", data)
    slow = server.answer
    server.answer = lambda path, body: (time.sleep(0.15), slow(path, body))[1]
    environment = {**os.environ, **KEY, "THEMIS_DEBUG": ""}
    process = subprocess.Popen(
        [THEMIS, "campaign", "run", str(project), "--progress", "off"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(server.received(CHAT)) < 11 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    first_calls = len(server.received(CHAT))
    assert 11 <= first_calls < 24  # killed inside the second point

    started = time.monotonic()
    done = ok(themis("campaign", "run", project, "--json", cwd=tmp_path, env=KEY))
    took = time.monotonic() - started
    rerun = json.loads(done.stdout)
    # The killed process's chunk is released at once (it ran here and its pid
    # is gone), not after its lease (60 s by default) expires.
    assert "taking over the unfinished work of process" in done.stderr
    assert took < 45, took
    assert [p["skipped"] for p in rerun["points"]] == [True, False, False]
    assert [p["status"] for p in rerun["points"]] == ["completed"] * 3
    # Only the work that was not stored ran again (at most the one call in flight).
    assert len(server.received(CHAT)) <= 24 + 1

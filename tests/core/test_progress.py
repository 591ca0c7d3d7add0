"""Progress: ProgressSnapshot for code, a rich display on stderr when asked."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.conftest import REPO_ROOT, make_experiment
from themis.core.observability.progress import ProgressSnapshot


def test_subscribers_get_a_progress_snapshot_after_each_case() -> None:
    snapshots: list[ProgressSnapshot] = []

    class Watcher:
        def on_progress(self, snapshot: Any) -> None:
            snapshots.append(snapshot)

    make_experiment().run(subscribers=[Watcher()])
    assert [s.completed_cases for s in snapshots] == [1, 2, 3, 4]
    last = snapshots[-1]
    assert last.total_cases == 4 and last.failed_cases == 0 and last.eta_s == 0
    assert last.cases_per_second > 0


def test_progress_display_only_when_asked_and_only_on_stderr() -> None:
    code = (
        "from tests.conftest import make_experiment\n"
        "from themis import RuntimeConfig\n"
        "import sys\n"
        "mode = sys.argv[1]\n"
        "r = make_experiment().run(runtime=RuntimeConfig(progress=mode))\n"
        "print(r.status.value)\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code, "on"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert shown.stdout.strip() == "completed"
    assert "themis" in shown.stderr and "4/4" in shown.stderr
    hidden = subprocess.run(
        [sys.executable, "-c", code, "auto"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    assert hidden.stderr == "" and hidden.stdout.strip() == "completed"

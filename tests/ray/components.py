"""Components the Ray tests ship to actors (importable there: the session's
Ray puts the repository on the workers' PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import ray

from themis.core.models import Case, GenerationResult


class DyingGenerator:
    """Answers like builtin/demo_generator (the doubled number), but the actor
    process that makes its ``die_after``-th call exits on the spot, as a
    machine lost mid-run would: once in the whole run when ``marker`` is
    given (the marker file records it), on every such call otherwise."""

    component_id = "test/dying"
    version = "1"

    def __init__(self, calls_dir: str, *, die_after: int, marker: str | None, delay_s: float):
        self.calls_dir = calls_dir
        self.die_after = die_after
        self.marker = marker
        self.delay_s = delay_s
        self._calls = 0

    def fingerprint(self) -> str:
        return "dying-generator"

    def generate(self, case: Case, ctx: Any) -> GenerationResult:
        self._calls += 1
        if self._calls >= self.die_after and self._may_die():
            os._exit(1)
        time.sleep(self.delay_s)
        # One file per call: the test counts the calls each case received.
        calls = Path(self.calls_dir) / case.case_id
        with calls.open("a") as log:
            log.write(f"{os.getpid()}@{ray.util.get_node_ip_address()}\n")
        question = str(case.input["question"])
        left, _, right = question.partition("+")
        return GenerationResult(
            candidate_id=f"{case.case_id}-0",
            final_output={"answer": str(int(left) + int(right))},
        )

    def _may_die(self) -> bool:
        if self.marker is None:
            return True
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

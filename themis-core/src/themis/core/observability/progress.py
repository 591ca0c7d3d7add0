"""Progress: a live rich display on a terminal, and ProgressSnapshot for code.

Nothing is drawn on a non-terminal unless asked (``RuntimeConfig.progress``
``"on"``); the display goes to stderr so stdout stays for results.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from themis.core.models import CaseResult, FrozenModel


class ProgressSnapshot(FrozenModel):
    """Where a run stands: cases done, failed, served from cache, and pace."""

    total_cases: int
    completed_cases: int
    failed_cases: int
    cached_cases: int
    elapsed_s: float
    cases_per_second: float
    eta_s: float | None


def snapshot_of(counter: Any) -> ProgressSnapshot:
    finished = counter.done + counter.failed
    elapsed = max(time.monotonic() - counter.started_at, 1e-9)
    rate = finished / elapsed
    remaining = counter.total_cases - finished
    return ProgressSnapshot(
        total_cases=counter.total_cases,
        completed_cases=counter.done,
        failed_cases=counter.failed,
        cached_cases=counter.cached,
        elapsed_s=elapsed,
        cases_per_second=rate,
        eta_s=remaining / rate if rate > 0 else None,
    )


ProgressCallback = Callable[[CaseResult, Any], None]


@contextmanager
def progress_reporter(mode: str, *, total: int) -> Iterator[ProgressCallback | None]:
    """Yield a per-case callback that drives a live display, or None for no display."""
    show = mode == "on" or (mode == "auto" and sys.stderr.isatty())
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]themis[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        refresh_per_second=4,
    )
    task = progress.add_task("run", total=total, detail="")
    last = [0.0]

    def on_case_done(_case: CaseResult, counter: Any) -> None:
        now = time.monotonic()
        finished = counter.done + counter.failed
        if now - last[0] < 0.1 and finished < counter.total_cases:
            return
        last[0] = now
        snap = snapshot_of(counter)
        progress.update(
            task,
            completed=finished,
            detail=(
                f"failed {snap.failed_cases} · cached {snap.cached_cases} · "
                f"{snap.cases_per_second:.1f} cases/s"
            ),
        )

    with progress:
        yield on_case_done

"""Shared helpers for the benchmarks: datasets, an instant generator, machine facts."""

from __future__ import annotations

import os
import platform
import resource
from typing import Any

from themis.core.models import Case, Dataset, GenerationResult


class InstantGenerator:
    """Answers immediately: measures the framework, not a model."""

    component_id = "bench/instant"
    version = "1"

    def fingerprint(self) -> str:
        return "bench-instant"

    async def generate(self, case: Case, ctx: Any) -> GenerationResult:
        return GenerationResult(candidate_id=case.case_id, final_output={"answer": "4"})


def dataset(count: int, dataset_id: str = "bench") -> Dataset:
    return Dataset(
        dataset_id=dataset_id,
        cases=[
            Case(case_id=f"c{i}", input={"question": "2+2"}, expected_output={"answer": "4"})
            for i in range(count)
        ],
    )


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

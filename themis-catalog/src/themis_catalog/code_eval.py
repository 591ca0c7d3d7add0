"""Functional correctness of generated code: run it against the tests.

- ``catalog/all_candidates`` (reducer): keeps every candidate of a case, so
  the metric sees all n samples.
- ``catalog/python_code`` (parser): the program in each answer (the first
  fenced Python block, else the whole answer).
- ``catalog/pass_at_k`` (metric): runs each program with the case's tests in
  the sandbox and reports the unbiased pass@k estimate over the n samples,
  ``1 - C(n-c, k) / C(n, k)`` with c passing (Chen et al., 2021).
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from themis.builtins._base import BuiltinComponent, output_text
from themis.core.contexts import ParseContext, ReduceContext, ScoreContext
from themis.core.models import (
    Case,
    GenerationResult,
    JSONValue,
    ParsedOutput,
    ReducedCandidate,
    Score,
    ScoreError,
)
from themis_catalog.sandbox import SandboxLimits, run_python_bounded

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate of pass@k from n samples of which c pass."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def extract_code(text: str) -> str:
    """The first fenced Python block of ``text`` (any fenced block if none is
    marked Python), else the whole text."""
    blocks = _FENCE.findall(text)
    for language, body in blocks:
        if language.lower() in ("python", "py", "python3"):
            return str(body)
    return str(blocks[0][1]) if blocks else text


class AllCandidates(BuiltinComponent):
    """Keep every candidate: ``final_output`` is the list of their outputs."""

    component_id = "catalog/all_candidates"
    version = "1"

    def reduce(self, candidates: list[GenerationResult], ctx: ReduceContext) -> ReducedCandidate:
        if not candidates:
            raise ValueError(f"{self.component_id}: no candidates for case {ctx.case_key!r}")
        return ReducedCandidate(
            candidate_id=candidates[0].candidate_id,
            source_candidate_ids=[c.candidate_id for c in candidates],
            final_output=[c.final_output for c in candidates],
            metadata={"count": len(candidates)},
        )


class PythonCode(BuiltinComponent):
    """The program in an answer, or in each answer of a list of candidates."""

    component_id = "catalog/python_code"
    version = "1"

    def parse(self, candidate: ReducedCandidate, ctx: ParseContext) -> ParsedOutput:
        value = candidate.final_output
        if isinstance(value, list):
            return ParsedOutput(
                value=[extract_code(output_text(item)) for item in value], format="python"
            )
        return ParsedOutput(value=extract_code(output_text(value)), format="python")


def build_program(code: str, tests: dict[str, Any]) -> str:
    """The program to run: the answer (after the prompt when the answer is a
    bare completion), the tests, and the call of the test entry point."""
    entry_point = str(tests["entry_point"])
    prompt = str(tests.get("prompt") or "")
    defines = re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE)
    body = code if defines else prompt + code
    return f"{body}\n\n{tests['test']}\n\ncheck({entry_point})\n"


class PassAtK(BuiltinComponent):
    """Unbiased pass@k of the case's n sampled programs, run in the sandbox.

    The case's ``expected_output`` holds the tests: ``test`` (code defining
    ``check(candidate)``), ``entry_point`` (the function under test) and
    ``prompt`` (prepended when an answer is a bare completion).
    """

    component_id = "catalog/pass_at_k"
    version = "1"

    def __init__(
        self,
        k: int = 1,
        cpu_seconds: int = 5,
        wall_seconds: float = 10.0,
        memory_mb: int = 512,
        max_processes: int = 16,
    ) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k = k
        self.limits = SandboxLimits(
            cpu_seconds=cpu_seconds,
            wall_seconds=wall_seconds,
            memory_mb=memory_mb,
            max_processes=max_processes,
        )

    def options(self) -> dict[str, Any]:
        return {"k": self.k, **self.limits.model_dump(exclude={"file_size_mb", "output_chars"})}

    async def score(
        self, parsed: ParsedOutput, case: Case, ctx: ScoreContext
    ) -> Score | ScoreError:
        tests = case.expected_output
        if not isinstance(tests, dict) or not {"test", "entry_point"} <= set(tests):
            return ScoreError(
                metric_id=self.component_id,
                reason=f"case {case.case_id!r}: expected_output must hold 'test' and 'entry_point'",
            )
        programs = parsed.value if isinstance(parsed.value, list) else [parsed.value]
        n = len(programs)
        if n < self.k:
            return ScoreError(
                metric_id=self.component_id,
                reason=f"pass@{self.k} needs at least {self.k} samples per case, got {n}; "
                f"raise the number of samples",
            )
        results = await asyncio.gather(
            *(
                asyncio.to_thread(
                    run_python_bounded, build_program(output_text(code), tests), self.limits
                )
                for code in programs
            )
        )
        passed = sum(result.passed for result in results)
        details: dict[str, JSONValue] = {
            "n": n,
            "c": passed,
            "k": self.k,
            "statuses": [result.status for result in results],
            "network_isolation": results[0].network_isolation,
            "process_limit": results[0].process_limit,
        }
        if results[0].unenforced_limits:
            details["unenforced_limits"] = list(results[0].unenforced_limits)
        failure = next((result for result in results if not result.passed), None)
        if failure is not None:
            details["first_failure"] = failure.stderr[-1000:]
        return Score(
            metric_id=self.component_id, value=pass_at_k(n, passed, self.k), details=details
        )

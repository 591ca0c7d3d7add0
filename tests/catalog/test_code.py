"""Code benchmarks: the unbiased pass@k estimator, code extraction, and
HumanEval runs whose hostile completions fail without hanging the run."""

from __future__ import annotations

import itertools
import math

import pytest

from themis import catalog
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult
from themis_catalog.code_eval import build_program, extract_code, pass_at_k


def _brute_force(n: int, c: int, k: int) -> float:
    """pass@k by definition: the share of k-subsets of the n samples with a pass."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_matches_its_definition(n: int) -> None:
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert math.isclose(pass_at_k(n, c, k), _brute_force(n, c, k), abs_tol=1e-12)


def test_pass_at_k_known_values_and_bad_arguments() -> None:
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert math.isclose(pass_at_k(200, 37, 1), 37 / 200)
    assert math.isclose(pass_at_k(4, 2, 2), 1 - 1 / 6)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 4)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)


def test_code_extraction_and_program_assembly() -> None:
    answer = "Here it is:\n```python\ndef f(x):\n    return x + 1\n```\nDone."
    assert extract_code(answer) == "def f(x):\n    return x + 1\n"
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"
    assert extract_code("    return 2\n") == "    return 2\n"
    tests = {
        "prompt": "def f(x):\n",
        "test": "def check(c):\n    assert c(1) == 2\n",
        "entry_point": "f",
    }
    completion = build_program("    return x + 1\n", tests)
    assert completion.startswith("def f(x):\n    return x + 1\n") and completion.endswith(
        "check(f)\n"
    )
    whole = build_program("def f(x):\n    return x + 1\n", tests)
    assert whole.count("def f(x)") == 1


SOLUTIONS = {
    "add_digits": "    return sum(int(d) for d in str(n))\n",
    "running_max": "    out = []\n    for v in values:\n"
    "        out.append(max(out[-1], v) if out else v)\n    return out\n",
    "is_palindrome": "    t = text.replace(' ', '').lower()\n    return t == t[::-1]\n",
}


class Coder:
    """Answers right for the first ``right`` samples of a case, wrong after
    (a stand-in for a sampled hosted model)."""

    component_id = "test/coder"
    version = "1"

    def __init__(self, right: int) -> None:
        self.right = right

    def fingerprint(self) -> str:
        return f"coder-{self.right}"

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        entry = case.metadata["entry_point"]
        body = SOLUTIONS[entry] if ctx.sample_index < self.right else "    return None\n"
        prompt = case.expected_output["prompt"]
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.sample_index}",
            final_output=f"```python\n{prompt}{body}```",
        )


def test_humaneval_scores_unbiased_pass_at_1_over_n_samples() -> None:
    result = catalog.run("humaneval", model=Coder(right=2), samples=4, source="sample")
    assert result.status.value == "completed"
    assert result.metric_means == {"pass@1": 0.5}
    details = result.cases[0].scores[0].details
    assert details["n"] == 4 and details["c"] == 2
    assert details["statuses"] == ["passed", "passed", "failed", "failed"]


HOSTILE = {
    "add_digits": "    while True:\n        pass\n",
    "running_max": "    import os\n    while True:\n        try:\n            os.fork()\n"
    "        except OSError:\n            pass\n",
    "is_palindrome": "    hog = bytearray(4 * 1024**3)\n    return True\n",
}


class Saboteur(Coder):
    component_id = "test/saboteur"

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        prompt = case.expected_output["prompt"]
        body = HOSTILE[case.metadata["entry_point"]]
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.sample_index}",
            final_output=f"```python\n{prompt}{body}```",
        )


def test_hostile_completions_fail_without_hanging_the_run() -> None:
    experiment = catalog.build_experiment("humaneval", model=Saboteur(0), source="sample")
    quick = {"k": 1, "cpu_seconds": 1, "wall_seconds": 3, "memory_mb": 256, "max_processes": 8}
    evaluation = experiment.evaluation.model_copy(
        update={"metrics": [{"id": "catalog/pass_at_k", "name": "pass@1", "options": quick}]}
    )
    result = experiment.model_copy(update={"evaluation": evaluation}).run()
    assert result.status.value == "completed"
    assert result.metric_means == {"pass@1": 0.0}
    statuses = {c.case_id: c.scores[0].details["statuses"][0] for c in result.cases}
    assert statuses["Sample/0"] in ("cpu_limit", "timeout")
    assert statuses["Sample/1"] in ("timeout", "cpu_limit")
    assert statuses["Sample/2"] == "memory_limit"

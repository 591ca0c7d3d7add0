"""A project module of components a worker must import from where it was submitted.

Written into a temporary folder by the tests (never installed), so a worker
process started elsewhere can only find it through the submission's recipe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

COMPONENTS_MODULE = '''
from dataclasses import dataclass, field

from themis.components import Generator, Metric
from themis.core.models import GenerationResult, Score


@dataclass
class Echo(Generator):
    """Answers each case with its question and a fixed suffix."""

    component_id = "acme/echo"
    version = "1"
    suffix: str = "!"

    def generate(self, case, ctx):
        question = case.input["question"] if isinstance(case.input, dict) else case.input
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#{ctx.sample_index}",
            final_output=f"{question}{self.suffix}",
        )


@dataclass
class EndsWith(Metric):
    """1 when the answer ends with ``tail``."""

    component_id = "acme/ends_with"
    version = "1"
    tail: str = "!"

    def score(self, parsed, case, ctx):
        return Score(metric_id="acme/ends_with", value=float(str(parsed.value).endswith(self.tail)))


@dataclass
class WithCallback(Metric):
    """A component holding a function: nothing a worker could rebuild."""

    component_id = "acme/with_callback"
    version = "1"
    check: object = field(default=None)

    def score(self, parsed, case, ctx):
        return 1.0


@dataclass
class Keyed(Generator):
    """A component holding an API key in its fields."""

    component_id = "acme/keyed"
    version = "1"
    api_key: str = ""

    def generate(self, case, ctx):
        return GenerationResult(candidate_id="c", final_output="x")
'''


def write_components(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``acme_components.py`` in ``folder``, importable by this test process only."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acme_components.py").write_text(COMPONENTS_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "acme_components", raising=False)
    return folder

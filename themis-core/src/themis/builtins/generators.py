"""builtin/demo_generator: a deterministic, seed-aware arithmetic solver.

It exists so tutorials, tests and benchmarks have a generator that needs no
model: it answers simple arithmetic such as ``"2+2"`` or ``"What is 6*7?"``.
With ``error_rate`` above zero it answers wrong for some seeds, which makes
sampling, majority voting and statistics observable without a model.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from typing import Any

from themis.builtins._base import BuiltinComponent
from themis.core.authoring.prompts import case_input_text
from themis.core.contexts import GenerateContext
from themis.core.models import Case, GenerationResult

_OPERATORS: dict[type[ast.AST], Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_EXPRESSION = re.compile(r"[-+*/%().\d\s]*\d[-+*/%().\d\s]*")


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        if isinstance(node.op, ast.Pow) and abs(_evaluate(node.right)) > 64:
            raise ValueError("exponent too large")
        return float(_OPERATORS[type(node.op)](_evaluate(node.left), _evaluate(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return float(_OPERATORS[type(node.op)](_evaluate(node.operand)))
    raise ValueError("not arithmetic")


def solve_arithmetic(text: str) -> str | None:
    """The answer to the longest arithmetic expression in ``text``, or None."""
    candidates = sorted(_EXPRESSION.findall(text), key=len, reverse=True)
    for candidate in candidates:
        try:
            value = _evaluate(ast.parse(candidate.strip(), mode="eval"))
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
            continue
        return str(int(value)) if value == int(value) else repr(round(value, 6))
    return None


class DemoGenerator(BuiltinComponent):
    """Deterministic arithmetic answers; ``error_rate`` makes some seeds wrong."""

    component_id = "builtin/demo_generator"
    version = "1"

    def __init__(self, error_rate: float = 0.0) -> None:
        if not 0.0 <= error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {error_rate}")
        self.error_rate = error_rate

    def options(self) -> dict[str, Any]:
        return {"error_rate": self.error_rate}

    def generate(self, case: Case, ctx: GenerateContext) -> GenerationResult:
        answer = solve_arithmetic(case_input_text(case.input)) or "unknown"
        if (
            self.error_rate
            and random.Random(f"{ctx.seed}|{ctx.case_key}").random() < self.error_rate
        ):
            answer = f"{answer}0" if answer != "unknown" else "0"
        return GenerationResult(
            candidate_id=f"{ctx.case_key}#s{ctx.base_seed}.{ctx.sample_index}",
            final_output={"answer": answer},
            token_usage={"input_tokens": 0, "output_tokens": 0},
        )

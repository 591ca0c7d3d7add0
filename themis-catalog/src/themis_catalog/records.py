"""Record transforms: how a benchmark's raw rows become prompt-ready records.

Each transform is named by import path in a benchmark's RecordSpec and called
as ``transform(row, index, **options)``. It returns a new dict with derived
fields; it never drops the row's own fields, and it is deterministic, so the
same rows always give the same cases.
"""

from __future__ import annotations

import ast
import hashlib
import string
from typing import Any

LETTERS = string.ascii_uppercase


def lettered(options: list[Any]) -> str:
    """``A. first\\nB. second ...``: options as a lettered list."""
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options; at most {len(LETTERS)} can be lettered")
    return "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(options))


def gsm8k(row: dict[str, Any], index: int) -> dict[str, Any]:
    """GSM8K: the final answer is the text after the solution's ``####``."""
    solution = str(row["answer"])
    if "####" not in solution:
        raise ValueError(f"GSM8K row {index}: answer has no '#### <final answer>' line")
    final = solution.rsplit("####", 1)[1].strip().replace(",", "")
    return {**row, "final_answer": final}


def multiple_choice(
    row: dict[str, Any], index: int, options_field: str = "options", answer_field: str = "answer"
) -> dict[str, Any]:
    """MMLU-Pro style rows: a list of options and the answer letter."""
    options = list(row[options_field])
    letter = str(row[answer_field]).strip().upper()
    if letter not in LETTERS[: len(options)]:
        raise ValueError(
            f"row {index}: answer {letter!r} is not one of the {len(options)} option letters"
        )
    return {**row, "options_text": lettered(options), "num_options": len(options), "letter": letter}


def gpqa(row: dict[str, Any], index: int, shuffle_seed: int = 0) -> dict[str, Any]:
    """GPQA: four answers, the correct one first in the source, put in a seeded
    per-question order (ranked by a hash of the seed, the record id and the
    answer's position), so the correct letter is spread evenly and stable."""
    answers = [
        row["Correct Answer"],
        row["Incorrect Answer 1"],
        row["Incorrect Answer 2"],
        row["Incorrect Answer 3"],
    ]
    record_id = str(row.get("Record ID") or index)
    order = sorted(
        range(4),
        key=lambda i: hashlib.sha256(f"{shuffle_seed}\x1f{record_id}\x1f{i}".encode()).hexdigest(),
    )
    options = [str(answers[i]).strip() for i in order]
    return {
        **row,
        "question": str(row["Question"]).strip(),
        "options_text": lettered(options),
        "num_options": 4,
        "letter": LETTERS[order.index(0)],
    }


def humaneval(row: dict[str, Any], index: int) -> dict[str, Any]:
    """HumanEval: the tests a completion must pass, as the expected output."""
    return {
        **row,
        "tests": {
            "prompt": row["prompt"],
            "test": row["test"],
            "entry_point": row["entry_point"],
        },
    }


def simpleqa(row: dict[str, Any], index: int) -> dict[str, Any]:
    """SimpleQA: ``metadata`` is a Python-literal dict (topic, answer type, urls)."""
    metadata = row.get("metadata")
    if isinstance(metadata, str):
        try:
            metadata = ast.literal_eval(metadata)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"SimpleQA row {index}: unreadable metadata: {exc}") from exc
    metadata = metadata if isinstance(metadata, dict) else {}
    return {
        **row,
        "topic": str(metadata.get("topic", "")),
        "answer_type": str(metadata.get("answer_type", "")),
    }

"""How ``quick-eval`` maps data columns onto cases (in process: no model runs)."""

from __future__ import annotations

import pytest

from themis.cli.errors import UserError
from themis.cli.quick_eval import rows_to_dataset

ROWS = [
    {"qid": 7, "question": "2+2", "answer": "4", "topic": "add"},
    {"qid": 8, "question": "3*3", "answer": "9", "topic": "mul"},
]


def _dataset(**fields: object):  # type: ignore[no-untyped-def]
    options = {"input_field": None, "expected_field": None, "id_field": None, "limit": None}
    options.update(fields)
    return rows_to_dataset(ROWS, dataset_id="d", source="rows.csv", **options)  # type: ignore[arg-type]


def test_named_columns_become_input_reference_and_id() -> None:
    case = _dataset(input_field="question", expected_field="answer", id_field="qid").cases[0]
    assert (case.case_id, case.input, case.expected_output) == ("7", "2+2", "4")


def test_without_an_input_column_the_other_columns_are_the_input_but_never_the_reference() -> None:
    case = _dataset(expected_field="answer", id_field="qid").cases[1]
    assert case.input == {"question": "3*3", "topic": "mul"}
    assert case.expected_output == "9" and case.case_id == "8"


def test_limit_and_missing_columns() -> None:
    assert len(_dataset(limit=1).cases) == 1
    with pytest.raises(
        UserError, match=r"rows.csv: row 0 has no column 'gold' \(--expected-field\)"
    ):
        _dataset(expected_field="gold")

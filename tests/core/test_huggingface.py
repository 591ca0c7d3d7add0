"""One Hugging Face loader: every reader of hub data goes through it and records the revision."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import themis
from themis.core.authoring.huggingface import load_hub_rows
from themis.core.errors import DatasetUnavailableError, UserError

datasets = pytest.importorskip("datasets")

ROWS = [{"question": "1+1", "answer": "2"}, {"question": "2+3", "answer": "5"}]
ROOTS = [Path(themis.__file__).resolve().parent]


def _repo(tmp_path: Path) -> Path:
    # A local folder is a dataset repository to the builder that reads the hub:
    # the real loading path, with no network.
    repo = tmp_path / "repo"
    repo.mkdir(parents=True)
    datasets.Dataset.from_list(ROWS).to_parquet(str(repo / "test.parquet"))
    return repo


def test_the_loader_returns_the_rows_and_the_revision_it_resolved(tmp_path: Path) -> None:
    loaded = load_hub_rows(str(_repo(tmp_path)), split="test")
    assert loaded.rows == ROWS
    assert isinstance(loaded.revision, str) and loaded.revision
    pinned = load_hub_rows(str(_repo(tmp_path / "again")), split="test", revision="v1.0")
    assert pinned.revision == "v1.0"


def test_a_dataset_that_cannot_be_loaded_is_a_user_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetUnavailableError, match=r"repo\[validation\]") as caught:
        load_hub_rows(str(_repo(tmp_path)), split="validation")
    assert isinstance(caught.value, UserError)


def test_no_other_module_calls_the_datasets_loaders() -> None:
    import themis_catalog

    loaders = {"load_dataset", "load_dataset_builder"}
    roots = [*ROOTS, Path(themis_catalog.__file__).resolve().parent]
    callers = []
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in loaders
                ):
                    callers.append(path.name)
    assert set(callers) == {"huggingface.py"}

"""Every Python example in docs/ runs.

All ```python blocks of one page run in order in one fresh namespace, inside a
temporary working directory, so a page reads like a session. A block whose
first line is ``# docs: skip`` is not run (use it only for code that needs a
network or a real API key, and say so in the text around it).

A page that reads ``THEMIS_POSTGRES_URL`` gets it pointing at a fresh database
on the tests' throwaway PostgreSQL server (the ``postgres_url`` fixture).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import fresh_postgres_database

DOCS = Path(__file__).resolve().parent.parent / "docs"
POSTGRES_URL_VARIABLE = "THEMIS_POSTGRES_URL"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if BLOCK.search(p.read_text(encoding="utf-8")))


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_docs_examples_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    monkeypatch.chdir(tmp_path)
    if POSTGRES_URL_VARIABLE in page.read_text(encoding="utf-8"):
        server = request.getfixturevalue("postgres_url")
        monkeypatch.setenv(POSTGRES_URL_VARIABLE, fresh_postgres_database(server))
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8")), start=1):
        if block.lstrip().startswith("# docs: skip"):
            continue
        code = compile(block, f"{page.name}[block {number}]", "exec", dont_inherit=True)
        exec(code, namespace)
    assert os.getcwd() == str(tmp_path)


def test_readme_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    blocks = BLOCK.findall(readme)
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, "README.md", "exec", dont_inherit=True), namespace)


DISTRIBUTION_FOLDERS = [
    "themis-core",
    "themis-adapters-openai",
    "themis-adapters-vllm",
    "themis-adapters-langgraph",
    "themis-catalog",
]


@pytest.mark.parametrize("folder", DISTRIBUTION_FOLDERS)
def test_distribution_readme_stands_alone_and_its_example_runs(
    folder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each README is the distribution's page on the package index: it says what
    the package is and how to install it, links nowhere inside this repository,
    and its example runs."""
    root = DOCS.parent / folder
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert readme.startswith(f"# {name}\n"), readme[:80]
    assert f"pip install {name}" in readme
    relative = re.findall(r"\]\((?!https?://)([^)]*)\)", readme)
    assert not relative, f"{folder}/README.md links into the repository: {relative}"
    blocks = BLOCK.findall(readme)
    assert blocks, f"{folder}/README.md has no python example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the examples need no key
    namespace: dict[str, object] = {"__name__": f"readme_{folder}"}
    for number, block in enumerate(blocks, start=1):
        exec(
            compile(block, f"{folder}/README.md[block {number}]", "exec", dont_inherit=True),
            namespace,
        )

"""No dangling references: every Markdown file the code or the docs cite is in the repository.

(The design notes the code once cited, DESIGN.md, never were: they now live in
docs/architecture.md.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"\b((?:docs/)?[A-Za-z][\w./-]*\.md)\b")
SOURCES = [
    *ROOT.glob("themis-*/src/**/*.py"),
    *ROOT.glob("themis-*/*.md"),
    *ROOT.glob("docs/*.md"),
    ROOT / "README.md",
]


def test_every_cited_markdown_file_exists() -> None:
    missing = []
    for source in SOURCES:
        for name in set(CITED.findall(source.read_text(encoding="utf-8"))):
            candidates = [ROOT / name, source.parent / name, ROOT / "docs" / name]
            if not any(path.is_file() for path in candidates):
                missing.append(f"{source.relative_to(ROOT)} cites {name}")
    assert not missing, missing


def test_the_architecture_page_is_what_a_newcomer_is_pointed_to_first() -> None:
    assert "docs/architecture.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8").splitlines()
    assert "(architecture.md)" in next(line for line in index if line.startswith("- "))

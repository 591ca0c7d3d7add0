"""Every install hint names a distribution (and extra) this workspace really publishes.

The package index's ``themis-core`` is an unrelated project: a hint that says
``pip install themis-core`` installs it, and ``import themis`` then fails. So
every hint in the code, the READMEs and docs/ is read here and checked
against the names and extras declared in the workspace's pyproject files.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from themis import adapters, catalog
from themis.core import distributions

ROOT = Path(__file__).resolve().parent.parent

# `pip install a 'b[x]' c` (or pip3, `uv pip install`, `uv add`): every requirement after it.
PIP_INSTALL = re.compile(
    r"(?:pip3? install|uv add)"
    r"((?:\s+(?:-U\s+)?['\"`]?[A-Za-z0-9_.\-]+(?:\[[^\]]*\])?['\"`]?)+)"
)
REQUIREMENT = re.compile(r"([A-Za-z0-9_.\-]+)(?:\[([^\]]*)\])?")
# `themis-eval-core[otel]` anywhere, and "install/upgrade themis-..." in prose.
WITH_EXTRA = re.compile(r"(?<![\w./-])(themis-[a-z][a-z0-9-]*+)\[([^\]]*)\]")
VERB = re.compile(r"\b(?:install|upgrade|reinstall)\s+['\"`]?(themis-[a-z][a-z0-9-]*+)(?!/)")
# The old name, anywhere but as the folder (`themis-core/`).
OLD_NAME = re.compile(r"(?<![\w./-])themis-core(?![\w/-])")
# Where the old name is mentioned on purpose: to say it is not ours any more.
MAY_NAME_THE_OLD_NAME = {
    "CHANGELOG.md",
    "dev",
    "themis-core/src/themis/core/distributions.py",
    "docs/getting-started.md",
    "README.md",
    "themis-core/README.md",
}


def _members() -> list[Path]:
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [ROOT / m for m in root["tool"]["uv"]["workspace"]["members"]]


def _published() -> dict[str, set[str]]:
    """Distribution name -> declared extras, for the distributions we publish
    (the test-only plugin under tests/ is not one of them)."""
    found: dict[str, set[str]] = {}
    for member in _members():
        if member.is_relative_to(ROOT / "tests"):
            continue
        project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
        found[project["name"]] = set(project.get("optional-dependencies", {}))
    return found


def _scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "dev", ROOT / ".ci" / "run"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    files += sorted((ROOT / "examples").rglob("*.toml")) + sorted((ROOT / "bench").rglob("*.py"))
    for member in _members():
        if member.is_relative_to(ROOT / "tests"):
            continue
        files.append(member / "README.md")
        files += sorted((member / "src").rglob("*.py"))
    return [f for f in files if f.is_file()]


def _hints(text: str) -> list[tuple[str, str | None]]:
    """(distribution, extras or None) for every themis hint in ``text``."""
    hints: list[tuple[str, str | None]] = []
    for command in PIP_INSTALL.finditer(text):
        for token in command.group(1).split():
            match = REQUIREMENT.fullmatch(token.strip("'\"`"))
            if match and match.group(1).startswith("themis"):
                hints.append((match.group(1), match.group(2)))
    hints += [(m.group(1), m.group(2)) for m in WITH_EXTRA.finditer(text)]
    hints += [(m.group(1), None) for m in VERB.finditer(text)]
    return hints


def _problems(where: str, text: str, published: dict[str, set[str]]) -> list[str]:
    problems: list[str] = []
    for name, extras in _hints(text):
        if name not in published:
            problems.append(f"{where}: {name!r} is not a distribution of this workspace")
            continue
        for extra in filter(None, (e.strip() for e in (extras or "").split(","))):
            if extra not in published[name]:
                problems.append(f"{where}: {name} has no extra {extra!r}")
    if where not in MAY_NAME_THE_OLD_NAME and OLD_NAME.search(text):
        problems.append(f"{where}: names themis-core (the index's is someone else's)")
    return problems


def test_every_install_hint_names_a_real_distribution_and_extra() -> None:
    published = _published()
    problems = [
        problem
        for path in _scanned_files()
        for problem in _problems(path.relative_to(ROOT).as_posix(), path.read_text(), published)
    ]
    assert not problems, "\n".join(problems)


def test_the_scan_finds_hints_and_rejects_wrong_ones() -> None:
    # Guards the scanner itself: a regex that matched nothing would pass above.
    published = _published()
    assert ("themis-catalog", "humaneval") in _hints("pip install 'themis-catalog[humaneval]'")
    bad = {
        "pip install themis-core": "not a distribution",
        "install `themis-eval-core[gpu]`": "no extra 'gpu'",
        "then upgrade themis-evalcore": "not a distribution",
        "pip install -U themis-catalog themis-adapter-vllm": "themis-adapter-vllm",
        "pip3 install themis-eval-core themis-adapter-openai": "themis-adapter-openai",
        "uv add 'themis-eval-core[statistics]'": "no extra 'statistics'",
        "uv pip install --upgrade themis-catalogue": "themis-catalogue",
    }
    for text, expected in bad.items():
        assert any(expected in p for p in _problems("docs/x.md", text, published)), text


def test_the_core_distribution_name_is_the_workspace_one() -> None:
    project = tomllib.loads((ROOT / "themis-core" / "pyproject.toml").read_text())["project"]
    assert distributions.CORE == project["name"] == "themis-eval-core"


@pytest.mark.parametrize(
    "distribution",
    [*adapters._DISTRIBUTIONS.values(), catalog.DISTRIBUTION],
)
def test_facade_hints_name_real_distributions(distribution: str) -> None:
    assert distribution in _published()


def test_hints_built_in_code_name_a_declared_core_extra() -> None:
    # `pip_install(distributions.CORE, "stats")` builds its hint at run time.
    extras = _published()[distributions.CORE]
    calls = re.compile(r"pip_install\(\s*(?:distributions\.)?CORE\s*,\s*\"([^\"]+)\"")
    for path in (ROOT / "themis-core" / "src").rglob("*.py"):
        for extra in calls.findall(path.read_text()):
            assert extra in extras, f"{path}: themis-eval-core has no extra {extra!r}"


def test_each_readme_shows_how_to_install_every_extra_it_declares() -> None:
    # A distribution's README is its page on the index: an extra it does not
    # show (say `text-metrics`, for BLEU and ROUGE) is one users never find.
    for member in _members():
        if member.is_relative_to(ROOT / "tests"):
            continue
        project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
        shown = {
            (name, extra.strip())
            for name, extras in _hints((member / "README.md").read_text())
            for extra in (extras or "").split(",")
        }
        assert (project["name"], "") in shown, f"{member.name}/README.md: no plain install"
        for extra in project.get("optional-dependencies", {}):
            assert (project["name"], extra) in shown, f"{member.name}/README.md: no [{extra}]"

"""Core depends on nothing above it, and its modules import each other without cycles.

Read from the sources (every import, function-level ones included), so a lazy
import that would hide a cycle or a dependency on an upper layer is caught too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import themis

PACKAGE = Path(themis.__file__).resolve().parent
CORE = PACKAGE / "core"
UPPER_LAYERS = (
    "themis.adapters",
    "themis.catalog",
    "themis.campaign",
    "themis.cli",
    "themis.specs",
    "themis_catalog",
    "themis_adapters",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def core_graph() -> dict[str, set[str]]:
    # The package's __init__ only re-exports (lazily), so it is no node of the graph.
    modules = {module_name(path): path for path in CORE.rglob("*.py") if path.name != "__init__.py"}
    return {name: imports_of(path) & set(modules) for name, path in modules.items()}


def test_core_never_imports_a_layer_above_it() -> None:
    for path in CORE.rglob("*.py"):
        upward = sorted(
            name for name in imports_of(path) if name.startswith(UPPER_LAYERS) and name != "themis"
        )
        assert not upward, f"{module_name(path)} imports {upward}"


def test_benchmark_result_comes_from_core_without_loading_the_catalog() -> None:
    code = (
        "import sys, themis.core as core\n"
        "assert core.BenchmarkResult.__name__ == 'BenchmarkRunResult'\n"
        "loaded = [m for m in sys.modules if m.startswith(('themis.catalog', 'themis_catalog'))]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_catalog_facade_resolves_through_its_own_entry_point_group() -> None:
    import themis.catalog
    from themis.catalog.models import BenchmarkRunResult
    from themis.core.catalog_models import BenchmarkRunResult as InCore

    assert BenchmarkRunResult is InCore
    assert [ep.value for ep in entry_points(group="themis.catalogs")] == ["themis_catalog.api"]
    assert "catalog" not in {ep.name for ep in entry_points(group="themis.adapters")}
    assert "gsm8k" in themis.catalog.list_benchmark_ids()


def test_config_files_experiment_and_local_components_form_no_cycle() -> None:
    graph = core_graph()
    assert "themis.core.experiment" not in graph["themis.core.authoring.config_files"]
    assert (
        "themis.core.authoring.config_files" not in graph["themis.core.authoring.local_components"]
    )


def test_core_modules_import_each_other_without_cycles() -> None:
    """No new cycle among core's modules, lazy imports included (there was
    config_files -> experiment -> local_components -> config_files).

    The one known: redaction lazily imports scrubbing, which builds on it, to
    scrub values by content; both are leaves otherwise.
    """
    known = {("themis.core.observability.redaction", "themis.core.observability.scrubbing")}
    graph = core_graph()
    cycles: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph[node]):
            if target in path:
                cycle = path[path.index(target) :]
                start = cycle.index(min(cycle))
                cycles.add(tuple(cycle[start:] + cycle[:start]))
            elif len(path) < 6:
                visit(target, [*path, target])

    for module in sorted(graph):
        visit(module, [module])
    assert cycles <= known, sorted(cycles - known)

"""One error tree: every error Themis raises on purpose is a ThemisError, drawn in one docstring.

Built from the modules themselves (as httpx's exported-members test is), so a
new error class that is not in the tree, or a tree entry with no class, fails.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import themis.core.errors as errors
from themis.cli.errors import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, exit_code_for
from themis.core.errors import (
    ComponentError,
    ConfigError,
    ProviderError,
    StoreError,
    ThemisError,
    UserError,
)

MODULES_WITH_ERRORS = [
    "themis.builtins.parsers",
    "themis.cli.errors",
    "themis.core.analysis.bundles",
    "themis.core.analysis.case_details",
    "themis.core.authoring.config_files",
    "themis.core.engine.plan",
    "themis.core.engine.runner",
    "themis.core.engine.writer",
    "themis.core.storage.events",
    "themis.core.authoring.registry",
    "themis.core.analysis.stats.extra",
    "themis.core.storage.stores.base",
    "themis.core.storage.stores.blobs",
    "themis.core.storage.stores.postgres",
    "themis.core.storage.stores.sqlite",
    "themis.core.engine.policy",
    "themis.core.workflows",
    "themis_catalog.discovery",
    "themis_catalog.loading",
    "themis_catalog.running",
    "themis_adapters_openai.wire",
]

# What each class subclassed before the tree: ``except`` clauses users wrote keep working.
BUILTIN_BASES = {
    "ConfigError": ValueError,
    "CandidateSeedsError": ValueError,
    "UnknownComponentError": LookupError,
    "ComponentLoadError": ImportError,
    "InvalidComponentError": TypeError,
    "BundleError": ValueError,
    "UnknownRunError": LookupError,
    "UnknownCaseError": LookupError,
    "StoreOpenError": ValueError,
    "StoreNotFoundError": ValueError,
    "StoreLockedError": RuntimeError,
    "InvalidComponentOptionError": ValueError,
    "ComponentTimeoutError": TimeoutError,
    "PreflightError": RuntimeError,
    "ExistingRunError": RuntimeError,
    "MissingUpstreamError": LookupError,
    "StatsUnavailableError": ImportError,
    "ParseFailure": ValueError,
    "ComponentOutputError": TypeError,
    "WorkflowBuildError": ValueError,
    "JudgmentParseError": ValueError,
    "StoreWriteError": RuntimeError,
    "PostgresStoreError": RuntimeError,
    "BlobError": RuntimeError,
    "UnsupportedEventSchemaError": ValueError,
    "UnknownVariantError": LookupError,
    "JudgeRequiredError": ValueError,
    "DatasetUnavailableError": RuntimeError,
    "BenchmarkDataError": ValueError,
}


def exception_classes(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if issubclass(value, BaseException) and value.__module__.startswith(("themis", "themis_"))
    ]


def tree_names() -> set[str]:
    doc = errors.__doc__ or ""
    return set(re.findall(r"[├└]── (\w+)", doc)) | {"ThemisError"}


@pytest.mark.parametrize("module_name", MODULES_WITH_ERRORS)
def test_every_error_a_module_defines_or_exports_is_in_the_tree(module_name: str) -> None:
    internal = {"ScoreErrorRaised"}  # carries a returned ScoreError inside the runner only
    for cls in exception_classes(module_name):
        if cls.__name__ in internal or issubclass(cls, Warning):
            continue
        assert issubclass(cls, ThemisError), f"{module_name}.{cls.__name__} is not a ThemisError"


@pytest.mark.parametrize("name", sorted(BUILTIN_BASES))
def test_each_error_keeps_the_builtin_it_subclassed_before(name: str) -> None:
    for module_name in MODULES_WITH_ERRORS:
        cls = getattr(importlib.import_module(module_name), name, None)
        if cls is not None:
            assert issubclass(cls, BUILTIN_BASES[name]) and issubclass(cls, ThemisError)
            return
    pytest.fail(f"{name} is defined nowhere")


def test_the_docstring_draws_exactly_the_classes_of_the_module() -> None:
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, ThemisError)
    }
    assert defined == tree_names()


def test_the_drawing_matches_the_class_hierarchy() -> None:
    """Each class sits under the branch the drawing puts it in."""
    doc = errors.__doc__ or ""
    parents: list[str] = ["ThemisError"]
    for line in doc.splitlines():
        match = re.match(r"\s*((?:│   |    )*)[├└]── (\w+)", line)
        if not match:
            continue
        depth = len(match.group(1)) // 4
        name = match.group(2)
        del parents[depth + 1 :]
        cls = getattr(errors, name)
        parent = getattr(errors, parents[depth])
        assert cls is not parent and issubclass(cls, parent), name
        parents.append(name)


def test_old_import_paths_name_the_same_class() -> None:
    from themis.builtins.parsers import ParseFailure
    from themis.core.analysis.bundles import BundleError
    from themis.core.authoring.config_files import ConfigError as FromConfigFiles
    from themis.core.authoring.registry import UnknownComponentError
    from themis.core.engine.runner import MissingUpstreamError, PreflightError
    from themis.core.storage.stores.base import UnknownRunError

    assert FromConfigFiles is ConfigError
    assert ParseFailure is errors.ParseFailure and BundleError is errors.BundleError
    assert PreflightError is errors.PreflightError
    assert MissingUpstreamError is errors.MissingUpstreamError
    assert UnknownComponentError is errors.UnknownComponentError
    assert UnknownRunError is errors.UnknownRunError


def test_the_cli_maps_the_tree_to_exit_codes() -> None:
    assert exit_code_for(ConfigError("x")) == EXIT_USER_ERROR
    assert exit_code_for(errors.UnknownRunError("x")) == EXIT_USER_ERROR
    assert exit_code_for(errors.BlobError("x")) == EXIT_USER_ERROR
    assert exit_code_for(ProviderError("x", category=errors.ErrorCategory.authentication)) == 2
    # A bug is not the user's input: bare builtins and escaped component errors exit 1.
    assert exit_code_for(ValueError("x")) == EXIT_INTERNAL_ERROR
    assert exit_code_for(OSError("x")) == EXIT_INTERNAL_ERROR
    assert exit_code_for(errors.ComponentOutputError("x")) == EXIT_INTERNAL_ERROR
    assert issubclass(errors.StoreWriteError, StoreError)
    assert issubclass(errors.ParseFailure, ComponentError)
    assert issubclass(errors.StatsUnavailableError, UserError)


def test_the_failure_category_comes_from_the_error_not_its_name() -> None:
    assert errors.classify(errors.ParseFailure("x")).category == "parse_error"
    assert errors.classify(errors.MissingUpstreamError("x")).category == "not_found"
    assert errors.classify(ValueError("x")).category == "component_error"


BROKEN_METRIC = """
class CloseEnough:
    component_id = "local/close"
    version = "1"

    def __init__(self, tolerance=0.0):
        self.tolerance = tolerance

    def fingerprint(self):
        raise ValueError("a bug in this metric's fingerprint")

    def score(self, parsed, case, ctx):
        return 1.0
"""


def test_a_bare_valueerror_is_a_bug_exit_1_with_its_traceback(tmp_path: Path) -> None:
    """Before the tree, any ValueError was printed as a one-line user error, hiding the bug."""
    themis = Path(sys.executable).with_name("themis")
    subprocess.run([str(themis), "init", str(tmp_path)], check=True, capture_output=True)
    (tmp_path / "metrics.py").write_text(BROKEN_METRIC, encoding="utf-8")
    done = subprocess.run(
        [str(themis), "run", "--config", str(tmp_path / "experiment.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == EXIT_INTERNAL_ERROR
    assert "Traceback" in done.stderr and "a bug in this metric's fingerprint" in done.stderr


def test_a_user_error_is_still_one_line_exit_2(tmp_path: Path) -> None:
    themis = Path(sys.executable).with_name("themis")
    subprocess.run([str(themis), "init", str(tmp_path)], check=True, capture_output=True)
    done = subprocess.run(
        [
            str(themis),
            "run",
            "--config",
            str(tmp_path / "experiment.yaml"),
            "--set",
            "seeds=[1, 1]",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == EXIT_USER_ERROR
    assert done.stderr.startswith("error: ") and "duplicate seeds" in done.stderr
    assert "Traceback" not in done.stderr

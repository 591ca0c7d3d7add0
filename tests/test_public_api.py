"""The public API, checked against the modules themselves (after httpx's test_exported_members).

Each package's lazy-export table (``_EXPORTS``) is the one list of its public names;
these tests check that every name there resolves, that ``__all__`` and ``dir()`` agree
with it, that the type-checking re-exports match it, and that the names the seeds'
API reference documents stay exported.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from types import ModuleType

import pytest

LAZY_PACKAGES = ["themis", "themis.core"]
"""Packages whose public names live in one ``_EXPORTS`` table."""

PUBLIC_PACKAGES = [*LAZY_PACKAGES, "themis.catalog", "themis.specs"]

# Names the seeds' API reference (seed 002) and project specs (seed 004) document.
# They are a floor, not the list: the modules' own tables are the list.
SEED_NAMES = {
    "themis": [
        "Experiment",
        "InMemoryRunStore",
        "PostgresRunStore",
        "PromptSpec",
        "Reporter",
        "RunEstimate",
        "RunResult",
        "RunSnapshot",
        "RunStatus",
        "RunStore",
        "RuntimeConfig",
        "SqliteRunStore",
        "StatsEngine",
        "__version__",
        "evaluate",
        "evaluate_async",
        "export_evaluation_bundle",
        "export_generation_bundle",
        "export_parse_bundle",
        "export_reduction_bundle",
        "export_score_bundle",
        "get_evaluation_execution",
        "get_execution_state",
        "get_run_snapshot",
        "import_evaluation_bundle",
        "import_generation_bundle",
        "import_parse_bundle",
        "import_reduction_bundle",
        "import_score_bundle",
        "postgres_store",
        "quickcheck",
        "snapshot_report",
        "sqlite_store",
    ],
    "themis.core": [
        "AfterGenerate",
        "AfterJudge",
        "AfterParse",
        "AfterReduce",
        "AfterScore",
        "BeforeGenerate",
        "BeforeJudge",
        "BeforeParse",
        "BeforeReduce",
        "BeforeScore",
        "BenchmarkResult",
        "BlobError",
        "CandidateReducer",
        "CandidateSelector",
        "Case",
        "CaseResult",
        "ComponentRefs",
        "ConversationTrace",
        "Dataset",
        "DatasetRef",
        "DefaultWorkflowRunner",
        "EvalScoreContext",
        "EvaluationBundle",
        "EvaluationBundleRecord",
        "EvaluationCompletedEvent",
        "EvaluationConfig",
        "EvaluationFailedEvent",
        "EvaluationWorkflow",
        "ExecutionState",
        "Experiment",
        "RunOptions",
        "FrozenModel",
        "GenerateContext",
        "GenerationBundle",
        "GenerationBundleRecord",
        "GenerationCompletedEvent",
        "GenerationConfig",
        "GenerationFailedEvent",
        "GenerationResult",
        "GenerationWorkItem",
        "Generator",
        "HashableModel",
        "InMemoryRunStore",
        "JudgeModel",
        "LLMMetric",
        "LifecycleSubscriber",
        "Message",
        "OnEvent",
        "ParseBundle",
        "ParseBundleRecord",
        "ParseCompletedEvent",
        "ParseContext",
        "ParseFailedEvent",
        "ParsedOutput",
        "Parser",
        "ProgressSnapshot",
        "PromptSpec",
        "PureMetric",
        "ReduceContext",
        "ReducedCandidate",
        "ReductionBundle",
        "ReductionBundleRecord",
        "ReductionCompletedEvent",
        "ReductionFailedEvent",
        "Reporter",
        "RunEstimate",
        "RunEvent",
        "RunFailedEvent",
        "RunIdentity",
        "RunProvenance",
        "RunResult",
        "RunSnapshot",
        "RunStatus",
        "RunStore",
        "RuntimeConfig",
        "Score",
        "ScoreBundle",
        "ScoreBundleRecord",
        "ScoreCompletedEvent",
        "ScoreContext",
        "ScoreError",
        "ScoreFailedEvent",
        "SelectContext",
        "SelectionMetric",
        "PostgresRunStore",
        "PostgresStoreError",
        "SqliteRunStore",
        "StorageConfig",
        "StoredRun",
        "TimelineView",
        "TraceMetric",
        "TraceStep",
        "TraceView",
        "TracingProvider",
        "WorkflowBuildError",
        "WorkflowRunner",
        "WorkflowTrace",
        "event_from_dict",
        "export_bundle",
        "export_evaluation_bundle",
        "export_generation_bundle",
        "export_parse_bundle",
        "export_reduction_bundle",
        "export_score_bundle",
        "get_evaluation_execution",
        "get_execution_state",
        "get_run_snapshot",
        "import_bundle",
        "import_evaluation_bundle",
        "import_generation_bundle",
        "import_parse_bundle",
        "import_reduction_bundle",
        "import_score_bundle",
        "postgres_store",
        "snapshot_report",
    ],
    "themis.catalog": [
        "builtin_component_refs",
        "get_benchmark",
        "list_benchmark_ids",
        "list_benchmarks",
        "list_component_ids",
        "load",
        "run",
        "validate_benchmark",
    ],
    "themis.specs": [
        "DatasetSpec",
        "ExecutionPolicySpec",
        "GenerationSpec",
        "InferenceGridSpec",
        "InferenceParamsSpec",
        "JudgeInferenceSpec",
        "ModelSpec",
        "PostgresBlobStorageSpec",
        "ProjectSpec",
        "PromptMessage",
        "SqliteBlobStorageSpec",
        "StorageConfig",
    ],
}

SEED_IMPORT_PATHS = [
    "themis.core.config",
    "themis.core.models",
    "themis.core.contexts",
    "themis.core.protocols",
    "themis.core.experiment",
    "themis.adapters",
    "themis.benchmark.specs",
    "themis.benchmark.query",
    "themis.specs.experiment",
    "themis.specs.foundational",
]


def _module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _exports(name: str) -> dict[str, tuple[str, str]]:
    table: dict[str, tuple[str, str]] = _module(name)._EXPORTS
    return table


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_names_resolve(package: str) -> None:
    module = _module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", PUBLIC_PACKAGES)
def test_all_names_listed_once(package: str) -> None:
    names = list(_module(package).__all__)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_all_is_the_export_table(package: str) -> None:
    module = _module(package)
    assert set(module.__all__) - set(_exports(package)) <= {"__version__"}
    assert set(_exports(package)) <= set(module.__all__)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_dir_agrees_with_all(package: str) -> None:
    module = _module(package)
    assert dir(module) == sorted(module.__all__)


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_export_table_points_at_the_defining_object(package: str) -> None:
    # Every source module loaded first: a public name that is also a submodule's name
    # (``themis.core.evaluate`` once was) would then be the module, not the export.
    for source, _ in _exports(package).values():
        _module(source)
    for name, (source, attribute) in _exports(package).items():
        assert getattr(_module(package), name) is getattr(_module(source), attribute), name


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_unknown_name_is_an_attribute_error(package: str) -> None:
    with pytest.raises(AttributeError):
        _module(package).no_such_public_name  # noqa: B018


def _type_checking_bindings(package: str) -> dict[str, tuple[str, str]]:
    """What the ``if TYPE_CHECKING:`` block binds: public name -> (module, attribute)."""
    tree = ast.parse(inspect.getsource(_module(package)))
    imported: dict[str, tuple[str, str]] = {}
    bound: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if not (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom):
                assert statement.module is not None
                for alias in statement.names:
                    target = (statement.module, alias.name)
                    if alias.asname == alias.name:
                        bound[alias.name] = target
                    else:
                        imported[alias.asname or alias.name] = target
            elif isinstance(statement, ast.Assign):
                (name,) = statement.targets
                assert isinstance(name, ast.Name) and isinstance(statement.value, ast.Name)
                bound[name.id] = imported[statement.value.id]
    return bound


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_type_checking_reexports_match_the_table(package: str) -> None:
    assert _type_checking_bindings(package) == _exports(package)


@pytest.mark.parametrize("package", sorted(SEED_NAMES))
def test_seed_names_stay_exported(package: str) -> None:
    module = _module(package)
    missing = [name for name in SEED_NAMES[package] if name not in module.__all__]
    assert missing == []
    assert [name for name in SEED_NAMES[package] if not hasattr(module, name)] == []


@pytest.mark.parametrize("path", SEED_IMPORT_PATHS)
def test_seed_import_paths(path: str) -> None:
    importlib.import_module(path)

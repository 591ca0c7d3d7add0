"""Public package surface for Themis.

Exports are imported on first use, so ``import themis`` stays cheap for the
command line and for scripts that need one corner of the API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # mypy cannot see through __getattr__; these give the lazy names their types.
    # Each one re-exports (``X as X``) exactly what _EXPORTS maps; tests/test_public_api.py
    # checks the two agree.
    from themis.core.analysis.bundles import (
        export_evaluation_bundle as export_evaluation_bundle,
    )
    from themis.core.analysis.bundles import (
        export_generation_bundle as export_generation_bundle,
    )
    from themis.core.analysis.bundles import (
        export_parse_bundle as export_parse_bundle,
    )
    from themis.core.analysis.bundles import (
        export_reduction_bundle as export_reduction_bundle,
    )
    from themis.core.analysis.bundles import (
        export_score_bundle as export_score_bundle,
    )
    from themis.core.analysis.bundles import (
        import_evaluation_bundle as import_evaluation_bundle,
    )
    from themis.core.analysis.bundles import (
        import_generation_bundle as import_generation_bundle,
    )
    from themis.core.analysis.bundles import (
        import_parse_bundle as import_parse_bundle,
    )
    from themis.core.analysis.bundles import (
        import_reduction_bundle as import_reduction_bundle,
    )
    from themis.core.analysis.bundles import (
        import_score_bundle as import_score_bundle,
    )
    from themis.core.analysis.estimate import (
        RunEstimate as RunEstimate,
    )
    from themis.core.analysis.inspection import (
        get_evaluation_execution as get_evaluation_execution,
    )
    from themis.core.analysis.inspection import (
        get_execution_state as get_execution_state,
    )
    from themis.core.analysis.inspection import (
        get_run_snapshot as get_run_snapshot,
    )
    from themis.core.analysis.inspection import (
        quickcheck as quickcheck,
    )
    from themis.core.analysis.inspection import (
        snapshot_report as snapshot_report,
    )
    from themis.core.analysis.reporting import (
        Reporter as Reporter,
    )
    from themis.core.analysis.stats import (
        StatsEngine as StatsEngine,
    )
    from themis.core.authoring.evaluate import (
        evaluate as evaluate,
    )
    from themis.core.authoring.evaluate import (
        evaluate_async as evaluate_async,
    )
    from themis.core.authoring.prompts import (
        PromptSpec as PromptSpec,
    )
    from themis.core.config import (
        RuntimeConfig as RuntimeConfig,
    )
    from themis.core.deferred.submit import (
        submit_experiment as submit_experiment,
    )
    from themis.core.deferred.worker import (
        WorkerReport as WorkerReport,
    )
    from themis.core.deferred.worker import (
        run_worker as run_worker,
    )
    from themis.core.experiment import (
        Experiment as Experiment,
    )
    from themis.core.models import (
        RunResult as RunResult,
    )
    from themis.core.models import (
        RunSnapshot as RunSnapshot,
    )
    from themis.core.models import (
        RunStatus as RunStatus,
    )
    from themis.core.storage.stores import (
        InMemoryRunStore as InMemoryRunStore,
    )
    from themis.core.storage.stores import (
        PostgresRunStore as PostgresRunStore,
    )
    from themis.core.storage.stores import (
        RunStore as RunStore,
    )
    from themis.core.storage.stores import (
        SqliteRunStore as SqliteRunStore,
    )
    from themis.core.storage.stores import (
        postgres_store as postgres_store,
    )
    from themis.core.storage.stores import (
        sqlite_store as sqlite_store,
    )

_EXPORTS: dict[str, tuple[str, str]] = {
    "Experiment": ("themis.core.experiment", "Experiment"),
    "InMemoryRunStore": ("themis.core.storage.stores", "InMemoryRunStore"),
    "PostgresRunStore": ("themis.core.storage.stores", "PostgresRunStore"),
    "PromptSpec": ("themis.core.authoring.prompts", "PromptSpec"),
    "Reporter": ("themis.core.analysis.reporting", "Reporter"),
    "RunEstimate": ("themis.core.analysis.estimate", "RunEstimate"),
    "RunResult": ("themis.core.models", "RunResult"),
    "RunSnapshot": ("themis.core.models", "RunSnapshot"),
    "RunStatus": ("themis.core.models", "RunStatus"),
    "RunStore": ("themis.core.storage.stores", "RunStore"),
    "RuntimeConfig": ("themis.core.config", "RuntimeConfig"),
    "SqliteRunStore": ("themis.core.storage.stores", "SqliteRunStore"),
    "StatsEngine": ("themis.core.analysis.stats", "StatsEngine"),
    "WorkerReport": ("themis.core.deferred.worker", "WorkerReport"),
    "evaluate": ("themis.core.authoring.evaluate", "evaluate"),
    "evaluate_async": ("themis.core.authoring.evaluate", "evaluate_async"),
    "export_evaluation_bundle": ("themis.core.analysis.bundles", "export_evaluation_bundle"),
    "export_generation_bundle": ("themis.core.analysis.bundles", "export_generation_bundle"),
    "export_parse_bundle": ("themis.core.analysis.bundles", "export_parse_bundle"),
    "export_reduction_bundle": ("themis.core.analysis.bundles", "export_reduction_bundle"),
    "export_score_bundle": ("themis.core.analysis.bundles", "export_score_bundle"),
    "get_evaluation_execution": ("themis.core.analysis.inspection", "get_evaluation_execution"),
    "get_execution_state": ("themis.core.analysis.inspection", "get_execution_state"),
    "get_run_snapshot": ("themis.core.analysis.inspection", "get_run_snapshot"),
    "import_evaluation_bundle": ("themis.core.analysis.bundles", "import_evaluation_bundle"),
    "import_generation_bundle": ("themis.core.analysis.bundles", "import_generation_bundle"),
    "import_parse_bundle": ("themis.core.analysis.bundles", "import_parse_bundle"),
    "import_reduction_bundle": ("themis.core.analysis.bundles", "import_reduction_bundle"),
    "import_score_bundle": ("themis.core.analysis.bundles", "import_score_bundle"),
    "postgres_store": ("themis.core.storage.stores", "postgres_store"),
    "quickcheck": ("themis.core.analysis.inspection", "quickcheck"),
    "run_worker": ("themis.core.deferred.worker", "run_worker"),
    "snapshot_report": ("themis.core.analysis.inspection", "snapshot_report"),
    "sqlite_store": ("themis.core.storage.stores", "sqlite_store"),
    "submit_experiment": ("themis.core.deferred.submit", "submit_experiment"),
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from themis.core.distributions import CORE

    try:
        return version(CORE)
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


__version__ = _version()

# One source: the public names are the lazy-export table (plus the version).
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

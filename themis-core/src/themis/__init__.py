"""Public package surface for Themis."""

from themis.core.config import RuntimeConfig
from themis.core.evaluate import evaluate, evaluate_async
from themis.core.experiment import Experiment
from themis.core.experiment import themis_version as _themis_version
from themis.core.inspection import (
    get_evaluation_execution,
    get_execution_state,
    get_run_snapshot,
    quickcheck,
    snapshot_report,
)
from themis.core.models import RunResult, RunSnapshot, RunStatus
from themis.core.prompts import PromptSpec
from themis.core.stores import InMemoryRunStore, RunStore, SqliteRunStore, sqlite_store

__version__ = _themis_version()

__all__ = [
    "Experiment",
    "InMemoryRunStore",
    "PromptSpec",
    "RunResult",
    "RunSnapshot",
    "RunStatus",
    "RunStore",
    "RuntimeConfig",
    "SqliteRunStore",
    "__version__",
    "evaluate",
    "evaluate_async",
    "get_evaluation_execution",
    "get_execution_state",
    "get_run_snapshot",
    "quickcheck",
    "snapshot_report",
    "sqlite_store",
]

"""Public package surface for Themis."""

from themis.core.bundles import (
    export_evaluation_bundle,
    export_generation_bundle,
    export_parse_bundle,
    export_reduction_bundle,
    export_score_bundle,
    import_evaluation_bundle,
    import_generation_bundle,
    import_parse_bundle,
    import_reduction_bundle,
    import_score_bundle,
)
from themis.core.config import RuntimeConfig
from themis.core.estimate import RunEstimate
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
from themis.core.reporting import Reporter
from themis.core.stats import StatsEngine
from themis.core.stores import InMemoryRunStore, RunStore, SqliteRunStore, sqlite_store

__version__ = _themis_version()

__all__ = [
    "Experiment",
    "InMemoryRunStore",
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
    "quickcheck",
    "snapshot_report",
    "sqlite_store",
]

"""Core namespace for Themis.

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
        EvaluationBundle as EvaluationBundle,
    )
    from themis.core.analysis.bundles import (
        EvaluationBundleRecord as EvaluationBundleRecord,
    )
    from themis.core.analysis.bundles import (
        GenerationBundle as GenerationBundle,
    )
    from themis.core.analysis.bundles import (
        GenerationBundleRecord as GenerationBundleRecord,
    )
    from themis.core.analysis.bundles import (
        ParseBundle as ParseBundle,
    )
    from themis.core.analysis.bundles import (
        ParseBundleRecord as ParseBundleRecord,
    )
    from themis.core.analysis.bundles import (
        ReductionBundle as ReductionBundle,
    )
    from themis.core.analysis.bundles import (
        ReductionBundleRecord as ReductionBundleRecord,
    )
    from themis.core.analysis.bundles import (
        ScoreBundle as ScoreBundle,
    )
    from themis.core.analysis.bundles import (
        ScoreBundleRecord as ScoreBundleRecord,
    )
    from themis.core.analysis.bundles import (
        export_bundle as export_bundle,
    )
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
        import_bundle as import_bundle,
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
        EvaluationExecution as EvaluationExecution,
    )
    from themis.core.analysis.inspection import (
        ExecutionState as ExecutionState,
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
    from themis.core.analysis.views import (
        TimelineView as TimelineView,
    )
    from themis.core.analysis.views import (
        TraceView as TraceView,
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
    from themis.core.catalog_models import (
        BenchmarkRunResult,
    )
    from themis.core.config import (
        CandidatePolicy as CandidatePolicy,
    )
    from themis.core.config import (
        EvaluationConfig as EvaluationConfig,
    )
    from themis.core.config import (
        GenerationConfig as GenerationConfig,
    )
    from themis.core.config import (
        RuntimeConfig as RuntimeConfig,
    )
    from themis.core.config import (
        StorageConfig as StorageConfig,
    )
    from themis.core.contexts import (
        EvalScoreContext as EvalScoreContext,
    )
    from themis.core.contexts import (
        GenerateContext as GenerateContext,
    )
    from themis.core.contexts import (
        ParseContext as ParseContext,
    )
    from themis.core.contexts import (
        ReduceContext as ReduceContext,
    )
    from themis.core.contexts import (
        ScoreContext as ScoreContext,
    )
    from themis.core.contexts import (
        SelectContext as SelectContext,
    )
    from themis.core.engine.plan import (
        CandidateSeedsError as CandidateSeedsError,
    )
    from themis.core.engine.plan import (
        GenerationWorkItem as GenerationWorkItem,
    )
    from themis.core.engine.runner import (
        ExistingRunError as ExistingRunError,
    )
    from themis.core.experiment import (
        Experiment as Experiment,
    )
    from themis.core.experiment import (
        RunOptions as RunOptions,
    )
    from themis.core.models import (
        Case as Case,
    )
    from themis.core.models import (
        CaseResult as CaseResult,
    )
    from themis.core.models import (
        ComponentRef as ComponentRef,
    )
    from themis.core.models import (
        ComponentRefs as ComponentRefs,
    )
    from themis.core.models import (
        ConversationTrace as ConversationTrace,
    )
    from themis.core.models import (
        Dataset as Dataset,
    )
    from themis.core.models import (
        DatasetRef as DatasetRef,
    )
    from themis.core.models import (
        FrozenModel as FrozenModel,
    )
    from themis.core.models import (
        GenerationResult as GenerationResult,
    )
    from themis.core.models import (
        HashableModel as HashableModel,
    )
    from themis.core.models import (
        Message as Message,
    )
    from themis.core.models import (
        ParsedOutput as ParsedOutput,
    )
    from themis.core.models import (
        ReducedCandidate as ReducedCandidate,
    )
    from themis.core.models import (
        RunIdentity as RunIdentity,
    )
    from themis.core.models import (
        RunProvenance as RunProvenance,
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
    from themis.core.models import (
        Score as Score,
    )
    from themis.core.models import (
        ScoreError as ScoreError,
    )
    from themis.core.models import (
        TraceStep as TraceStep,
    )
    from themis.core.observability.progress import (
        ProgressSnapshot as ProgressSnapshot,
    )
    from themis.core.protocols import (
        AfterGenerate as AfterGenerate,
    )
    from themis.core.protocols import (
        AfterJudge as AfterJudge,
    )
    from themis.core.protocols import (
        AfterParse as AfterParse,
    )
    from themis.core.protocols import (
        AfterReduce as AfterReduce,
    )
    from themis.core.protocols import (
        AfterScore as AfterScore,
    )
    from themis.core.protocols import (
        BeforeGenerate as BeforeGenerate,
    )
    from themis.core.protocols import (
        BeforeJudge as BeforeJudge,
    )
    from themis.core.protocols import (
        BeforeParse as BeforeParse,
    )
    from themis.core.protocols import (
        BeforeReduce as BeforeReduce,
    )
    from themis.core.protocols import (
        BeforeScore as BeforeScore,
    )
    from themis.core.protocols import (
        CandidateReducer as CandidateReducer,
    )
    from themis.core.protocols import (
        CandidateSelector as CandidateSelector,
    )
    from themis.core.protocols import (
        EvaluationWorkflow as EvaluationWorkflow,
    )
    from themis.core.protocols import (
        Generator as Generator,
    )
    from themis.core.protocols import (
        JudgeModel as JudgeModel,
    )
    from themis.core.protocols import (
        LifecycleSubscriber as LifecycleSubscriber,
    )
    from themis.core.protocols import (
        LLMMetric as LLMMetric,
    )
    from themis.core.protocols import (
        OnEvent as OnEvent,
    )
    from themis.core.protocols import (
        Parser as Parser,
    )
    from themis.core.protocols import (
        PureMetric as PureMetric,
    )
    from themis.core.protocols import (
        SelectionMetric as SelectionMetric,
    )
    from themis.core.protocols import (
        TraceMetric as TraceMetric,
    )
    from themis.core.protocols import (
        TracingProvider as TracingProvider,
    )
    from themis.core.storage.events import (
        EvaluationCompletedEvent as EvaluationCompletedEvent,
    )
    from themis.core.storage.events import (
        EvaluationFailedEvent as EvaluationFailedEvent,
    )
    from themis.core.storage.events import (
        GenerationCompletedEvent as GenerationCompletedEvent,
    )
    from themis.core.storage.events import (
        GenerationFailedEvent as GenerationFailedEvent,
    )
    from themis.core.storage.events import (
        ParseCompletedEvent as ParseCompletedEvent,
    )
    from themis.core.storage.events import (
        ParseFailedEvent as ParseFailedEvent,
    )
    from themis.core.storage.events import (
        ReductionCompletedEvent as ReductionCompletedEvent,
    )
    from themis.core.storage.events import (
        ReductionFailedEvent as ReductionFailedEvent,
    )
    from themis.core.storage.events import (
        RunCompletedEvent as RunCompletedEvent,
    )
    from themis.core.storage.events import (
        RunEvent as RunEvent,
    )
    from themis.core.storage.events import (
        RunFailedEvent as RunFailedEvent,
    )
    from themis.core.storage.events import (
        RunStartedEvent as RunStartedEvent,
    )
    from themis.core.storage.events import (
        RunSubmittedEvent as RunSubmittedEvent,
    )
    from themis.core.storage.events import (
        ScoreCompletedEvent as ScoreCompletedEvent,
    )
    from themis.core.storage.events import (
        ScoreFailedEvent as ScoreFailedEvent,
    )
    from themis.core.storage.events import (
        event_from_dict as event_from_dict,
    )
    from themis.core.storage.stores import (
        BlobError as BlobError,
    )
    from themis.core.storage.stores import (
        InMemoryRunStore as InMemoryRunStore,
    )
    from themis.core.storage.stores import (
        PostgresRunStore as PostgresRunStore,
    )
    from themis.core.storage.stores import (
        PostgresStoreError as PostgresStoreError,
    )
    from themis.core.storage.stores import (
        RunStore as RunStore,
    )
    from themis.core.storage.stores import (
        SqliteRunStore as SqliteRunStore,
    )
    from themis.core.storage.stores import (
        StoredRun as StoredRun,
    )
    from themis.core.storage.stores import (
        postgres_store as postgres_store,
    )
    from themis.core.storage.stores import (
        sqlite_store as sqlite_store,
    )
    from themis.core.workflows import (
        DefaultWorkflowRunner as DefaultWorkflowRunner,
    )
    from themis.core.workflows import (
        JudgeResponse as JudgeResponse,
    )
    from themis.core.workflows import (
        WorkflowBuildError as WorkflowBuildError,
    )
    from themis.core.workflows import (
        WorkflowRunner as WorkflowRunner,
    )
    from themis.core.workflows import (
        WorkflowTrace as WorkflowTrace,
    )

    BenchmarkResult = BenchmarkRunResult

_EXPORTS: dict[str, tuple[str, str]] = {
    "BenchmarkResult": ("themis.core.catalog_models", "BenchmarkRunResult"),
    "GenerationWorkItem": ("themis.core.engine.plan", "GenerationWorkItem"),
    "AfterGenerate": ("themis.core.protocols", "AfterGenerate"),
    "AfterJudge": ("themis.core.protocols", "AfterJudge"),
    "AfterParse": ("themis.core.protocols", "AfterParse"),
    "AfterReduce": ("themis.core.protocols", "AfterReduce"),
    "AfterScore": ("themis.core.protocols", "AfterScore"),
    "BeforeGenerate": ("themis.core.protocols", "BeforeGenerate"),
    "BeforeJudge": ("themis.core.protocols", "BeforeJudge"),
    "BeforeParse": ("themis.core.protocols", "BeforeParse"),
    "BeforeReduce": ("themis.core.protocols", "BeforeReduce"),
    "BeforeScore": ("themis.core.protocols", "BeforeScore"),
    "CandidatePolicy": ("themis.core.config", "CandidatePolicy"),
    "CandidateReducer": ("themis.core.protocols", "CandidateReducer"),
    "CandidateSelector": ("themis.core.protocols", "CandidateSelector"),
    "Case": ("themis.core.models", "Case"),
    "CaseResult": ("themis.core.models", "CaseResult"),
    "ComponentRef": ("themis.core.models", "ComponentRef"),
    "ComponentRefs": ("themis.core.models", "ComponentRefs"),
    "ConversationTrace": ("themis.core.models", "ConversationTrace"),
    "Dataset": ("themis.core.models", "Dataset"),
    "DatasetRef": ("themis.core.models", "DatasetRef"),
    "DefaultWorkflowRunner": ("themis.core.workflows", "DefaultWorkflowRunner"),
    "EvalScoreContext": ("themis.core.contexts", "EvalScoreContext"),
    "EvaluationBundle": ("themis.core.analysis.bundles", "EvaluationBundle"),
    "EvaluationBundleRecord": ("themis.core.analysis.bundles", "EvaluationBundleRecord"),
    "EvaluationCompletedEvent": ("themis.core.storage.events", "EvaluationCompletedEvent"),
    "EvaluationConfig": ("themis.core.config", "EvaluationConfig"),
    "EvaluationExecution": ("themis.core.analysis.inspection", "EvaluationExecution"),
    "EvaluationFailedEvent": ("themis.core.storage.events", "EvaluationFailedEvent"),
    "EvaluationWorkflow": ("themis.core.protocols", "EvaluationWorkflow"),
    "ExecutionState": ("themis.core.analysis.inspection", "ExecutionState"),
    "Experiment": ("themis.core.experiment", "Experiment"),
    "RunOptions": ("themis.core.experiment", "RunOptions"),
    "FrozenModel": ("themis.core.models", "FrozenModel"),
    "GenerateContext": ("themis.core.contexts", "GenerateContext"),
    "GenerationBundle": ("themis.core.analysis.bundles", "GenerationBundle"),
    "GenerationBundleRecord": ("themis.core.analysis.bundles", "GenerationBundleRecord"),
    "GenerationCompletedEvent": ("themis.core.storage.events", "GenerationCompletedEvent"),
    "GenerationConfig": ("themis.core.config", "GenerationConfig"),
    "GenerationFailedEvent": ("themis.core.storage.events", "GenerationFailedEvent"),
    "GenerationResult": ("themis.core.models", "GenerationResult"),
    "Generator": ("themis.core.protocols", "Generator"),
    "HashableModel": ("themis.core.models", "HashableModel"),
    "InMemoryRunStore": ("themis.core.storage.stores", "InMemoryRunStore"),
    "JudgeModel": ("themis.core.protocols", "JudgeModel"),
    "JudgeResponse": ("themis.core.workflows", "JudgeResponse"),
    "LLMMetric": ("themis.core.protocols", "LLMMetric"),
    "LifecycleSubscriber": ("themis.core.protocols", "LifecycleSubscriber"),
    "Message": ("themis.core.models", "Message"),
    "OnEvent": ("themis.core.protocols", "OnEvent"),
    "ParseBundle": ("themis.core.analysis.bundles", "ParseBundle"),
    "ParseBundleRecord": ("themis.core.analysis.bundles", "ParseBundleRecord"),
    "ParseCompletedEvent": ("themis.core.storage.events", "ParseCompletedEvent"),
    "ParseContext": ("themis.core.contexts", "ParseContext"),
    "ParseFailedEvent": ("themis.core.storage.events", "ParseFailedEvent"),
    "ParsedOutput": ("themis.core.models", "ParsedOutput"),
    "Parser": ("themis.core.protocols", "Parser"),
    "ProgressSnapshot": ("themis.core.observability.progress", "ProgressSnapshot"),
    "PromptSpec": ("themis.core.authoring.prompts", "PromptSpec"),
    "PureMetric": ("themis.core.protocols", "PureMetric"),
    "ReduceContext": ("themis.core.contexts", "ReduceContext"),
    "ReducedCandidate": ("themis.core.models", "ReducedCandidate"),
    "ReductionBundle": ("themis.core.analysis.bundles", "ReductionBundle"),
    "ReductionBundleRecord": ("themis.core.analysis.bundles", "ReductionBundleRecord"),
    "ReductionCompletedEvent": ("themis.core.storage.events", "ReductionCompletedEvent"),
    "ReductionFailedEvent": ("themis.core.storage.events", "ReductionFailedEvent"),
    "Reporter": ("themis.core.analysis.reporting", "Reporter"),
    "RunCompletedEvent": ("themis.core.storage.events", "RunCompletedEvent"),
    "RunEstimate": ("themis.core.analysis.estimate", "RunEstimate"),
    "RunEvent": ("themis.core.storage.events", "RunEvent"),
    "RunFailedEvent": ("themis.core.storage.events", "RunFailedEvent"),
    "RunIdentity": ("themis.core.models", "RunIdentity"),
    "RunProvenance": ("themis.core.models", "RunProvenance"),
    "RunResult": ("themis.core.models", "RunResult"),
    "RunSnapshot": ("themis.core.models", "RunSnapshot"),
    "RunStartedEvent": ("themis.core.storage.events", "RunStartedEvent"),
    "RunSubmittedEvent": ("themis.core.storage.events", "RunSubmittedEvent"),
    "RunStatus": ("themis.core.models", "RunStatus"),
    "RunStore": ("themis.core.storage.stores", "RunStore"),
    "RuntimeConfig": ("themis.core.config", "RuntimeConfig"),
    "Score": ("themis.core.models", "Score"),
    "ScoreBundle": ("themis.core.analysis.bundles", "ScoreBundle"),
    "ScoreBundleRecord": ("themis.core.analysis.bundles", "ScoreBundleRecord"),
    "ScoreCompletedEvent": ("themis.core.storage.events", "ScoreCompletedEvent"),
    "ScoreContext": ("themis.core.contexts", "ScoreContext"),
    "ScoreError": ("themis.core.models", "ScoreError"),
    "ScoreFailedEvent": ("themis.core.storage.events", "ScoreFailedEvent"),
    "SelectContext": ("themis.core.contexts", "SelectContext"),
    "SelectionMetric": ("themis.core.protocols", "SelectionMetric"),
    "SqliteRunStore": ("themis.core.storage.stores", "SqliteRunStore"),
    "PostgresRunStore": ("themis.core.storage.stores", "PostgresRunStore"),
    "PostgresStoreError": ("themis.core.storage.stores", "PostgresStoreError"),
    "BlobError": ("themis.core.storage.stores", "BlobError"),
    "CandidateSeedsError": ("themis.core.engine.plan", "CandidateSeedsError"),
    "ExistingRunError": ("themis.core.engine.runner", "ExistingRunError"),
    "StatsEngine": ("themis.core.analysis.stats", "StatsEngine"),
    "StorageConfig": ("themis.core.config", "StorageConfig"),
    "StoredRun": ("themis.core.storage.stores", "StoredRun"),
    "TimelineView": ("themis.core.analysis.views", "TimelineView"),
    "TraceMetric": ("themis.core.protocols", "TraceMetric"),
    "TraceStep": ("themis.core.models", "TraceStep"),
    "TraceView": ("themis.core.analysis.views", "TraceView"),
    "TracingProvider": ("themis.core.protocols", "TracingProvider"),
    "WorkflowBuildError": ("themis.core.workflows", "WorkflowBuildError"),
    "WorkflowRunner": ("themis.core.workflows", "WorkflowRunner"),
    "WorkflowTrace": ("themis.core.workflows", "WorkflowTrace"),
    "evaluate": ("themis.core.authoring.evaluate", "evaluate"),
    "evaluate_async": ("themis.core.authoring.evaluate", "evaluate_async"),
    "event_from_dict": ("themis.core.storage.events", "event_from_dict"),
    "export_bundle": ("themis.core.analysis.bundles", "export_bundle"),
    "export_evaluation_bundle": ("themis.core.analysis.bundles", "export_evaluation_bundle"),
    "export_generation_bundle": ("themis.core.analysis.bundles", "export_generation_bundle"),
    "export_parse_bundle": ("themis.core.analysis.bundles", "export_parse_bundle"),
    "export_reduction_bundle": ("themis.core.analysis.bundles", "export_reduction_bundle"),
    "export_score_bundle": ("themis.core.analysis.bundles", "export_score_bundle"),
    "get_evaluation_execution": ("themis.core.analysis.inspection", "get_evaluation_execution"),
    "get_execution_state": ("themis.core.analysis.inspection", "get_execution_state"),
    "get_run_snapshot": ("themis.core.analysis.inspection", "get_run_snapshot"),
    "import_bundle": ("themis.core.analysis.bundles", "import_bundle"),
    "import_evaluation_bundle": ("themis.core.analysis.bundles", "import_evaluation_bundle"),
    "import_generation_bundle": ("themis.core.analysis.bundles", "import_generation_bundle"),
    "import_parse_bundle": ("themis.core.analysis.bundles", "import_parse_bundle"),
    "import_reduction_bundle": ("themis.core.analysis.bundles", "import_reduction_bundle"),
    "import_score_bundle": ("themis.core.analysis.bundles", "import_score_bundle"),
    "quickcheck": ("themis.core.analysis.inspection", "quickcheck"),
    "snapshot_report": ("themis.core.analysis.inspection", "snapshot_report"),
    "sqlite_store": ("themis.core.storage.stores", "sqlite_store"),
    "postgres_store": ("themis.core.storage.stores", "postgres_store"),
}

# One source: the public names are the lazy-export table.
__all__ = sorted([*_EXPORTS])


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

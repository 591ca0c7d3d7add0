"""Benchmark authoring: declarative, hashable definitions of named benchmarks.

These models live in themis-eval-core so a third party can publish a benchmark
(under the ``themis.benchmarks`` entry-point group) without depending on
themis-catalog; ``themis.catalog`` runs them.
"""

from themis.benchmark.query import DatasetQuerySpec, SpecBase
from themis.benchmark.specs import (
    BenchmarkSpec,
    ComponentUse,
    DatasetSourceSpec,
    ParseSpec,
    PromptMessage,
    PromptVariantSpec,
    RecordSpec,
    ScoreSpec,
    SliceSpec,
)

__all__ = [
    "BenchmarkSpec",
    "ComponentUse",
    "DatasetQuerySpec",
    "DatasetSourceSpec",
    "ParseSpec",
    "PromptMessage",
    "PromptVariantSpec",
    "RecordSpec",
    "ScoreSpec",
    "SliceSpec",
    "SpecBase",
]

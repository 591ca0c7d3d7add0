"""Seed 004's declarative specs, importable from ``themis.specs``.

:mod:`themis.specs.experiment` holds the project side (ProjectSpec, the
storage union, ExecutionPolicySpec, InferenceParamsSpec, InferenceGridSpec,
PromptMessage); :mod:`themis.specs.foundational` the models, datasets,
generation and judges. :mod:`themis.campaign` compiles them into ordinary
experiments. Every spec loads from a YAML or TOML file with ``from_file``.
"""

from themis.specs.base import SpecBase
from themis.specs.experiment import (
    ExecutionPolicySpec,
    InferenceGridSpec,
    InferenceParamsSpec,
    PostgresBlobStorageSpec,
    ProjectSpec,
    PromptMessage,
    SqliteBlobStorageSpec,
    StorageConfig,
)
from themis.specs.foundational import DatasetSpec, GenerationSpec, JudgeInferenceSpec, ModelSpec

__all__ = [
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
    "SpecBase",
    "SqliteBlobStorageSpec",
    "StorageConfig",
]

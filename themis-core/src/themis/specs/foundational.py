"""Seed 004's foundational specs: models, datasets, generation and judges.

A :class:`ModelSpec` names one inference target (``provider`` plus
``model_id``); a :class:`DatasetSpec` a dataset source; a
:class:`GenerationSpec` how a custom benchmark prompts and samples; a
:class:`JudgeInferenceSpec` the judge model one metric is graded by. A
campaign (:mod:`themis.campaign`) turns them into generator, dataset and
judge objects of an ordinary Experiment.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from themis.benchmark.specs import PromptMessage
from themis.core.authoring.prompts import PromptSpec
from themis.core.models import JSONValue
from themis.specs.base import SpecBase
from themis.specs.experiment import InferenceParamsSpec

__all__ = ["DatasetSpec", "GenerationSpec", "JudgeInferenceSpec", "ModelSpec"]

PROVIDERS = ("openai", "vllm")
"""Providers whose inference params are sent on the wire; any other provider is a generator id."""


class ModelSpec(SpecBase):
    """Configures one inference-engine target and its provider-specific extras.

    ``provider`` is ``"openai"`` or ``"vllm"`` (the adapter distributions;
    ``extras`` are that factory's connection options: ``base_url``,
    ``api_mode``, ``api_key_env``, ``timeout_s``, ``instructions``), the
    id of any registered generator (``builtin/demo_generator``), or a
    project's own class, ``python:MODULE:ATTR`` (the module beside the
    campaign file), built with ``extras`` as its options. Connection options
    are not identity: the model, the API mode, instructions and the
    inference params are.
    """

    model_id: str = Field(min_length=1, description="The model's name at the provider.")
    provider: str = Field(min_length=1, description="openai, vllm, or a generator id.")
    extras: dict[str, JSONValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_provider(self) -> ModelSpec:
        if (
            self.provider not in PROVIDERS
            and "/" not in self.provider
            and not self.provider.startswith("python:")
        ):
            raise ValueError(
                f"provider {self.provider!r}: use 'openai', 'vllm', a generator id such as "
                "'builtin/demo_generator', or python:MODULE:ATTR for a project's own class"
            )
        if "model" in self.extras:
            raise ValueError("extras.model: the model is model_id; drop it from extras")
        if self.provider == "vllm" and not isinstance(self.extras.get("base_url"), str):
            raise ValueError("provider 'vllm' needs extras.base_url (http://host:8000/v1)")
        return self

    @property
    def sends_params(self) -> bool:
        """Whether inference params reach this provider (openai, vllm)."""
        return self.provider in PROVIDERS


class DatasetSpec(SpecBase):
    """Declarative dataset source description passed to a dataset loader.

    ``source`` is ``"local"`` (``dataset_id`` or ``data_dir`` is a JSONL,
    JSON, CSV or parquet file, or a folder of them; relative to the project
    file) or ``"huggingface"`` (``dataset_id`` on the hub, with
    ``config_name`` and ``split``). Dataset identity is part of
    deterministic planning: the content of every case is hashed into the
    run id, and ``revision`` (a git commit or tag of the hub dataset) pins
    what a hub download returns. Rows become cases as in config files:
    ``case_id`` (or ``id``, else the row number), ``input`` (else the row's
    other fields), ``expected_output`` (or ``expected``), ``metadata``.
    ``limit`` keeps the first rows only.
    """

    source: Literal["local", "huggingface"] = "huggingface"
    dataset_id: str | None = None
    data_dir: str | None = None
    config_name: str | None = None
    split: str = "test"
    revision: str | None = None
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _located(self) -> DatasetSpec:
        if self.source == "huggingface" and not self.dataset_id:
            raise ValueError("source 'huggingface' needs a dataset_id")
        if self.source == "local" and not (self.dataset_id or self.data_dir):
            raise ValueError("source 'local' needs dataset_id (a file) or data_dir (a folder)")
        return self


class GenerationSpec(SpecBase):
    """How a custom benchmark asks the model: the prompt and the sampling plan.

    ``messages`` are the fixed part of the prompt: leading ``system``
    messages become instructions, later ``user``/``assistant`` pairs
    few-shot turns; the case input follows them. ``num_samples`` candidates
    are drawn per case, reduced to one by ``reducer`` (a component id or
    mapping; first candidate by default).
    """

    messages: list[PromptMessage] = Field(default_factory=list)
    num_samples: int = Field(default=1, ge=1)
    reducer: str | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _system_first(self) -> GenerationSpec:
        seen_turn = False
        for index, message in enumerate(self.messages):
            if message.role != "system":
                seen_turn = True
            elif seen_turn:
                raise ValueError(
                    f"messages[{index}]: system messages must come before few-shot turns"
                )
        return self

    def prompt_spec(self) -> PromptSpec | None:
        if not self.messages:
            return None
        system = [m.content for m in self.messages if m.role == "system"]
        turns = [m for m in self.messages if m.role != "system"]
        return PromptSpec(
            instructions="\n\n".join(system) if system else None,
            blocks=[{"role": m.role, "content": m.content} for m in turns],
        )


class JudgeInferenceSpec(SpecBase):
    """Judge-model configuration of one judge-backed metric.

    Separate metrics can carry separate judge specs, which is how one
    candidate is scored by several judge prompts or judge models in one run.
    ``model`` names the judge (``provider`` ``openai`` or ``vllm``, or a
    judge component id such as ``builtin/demo_judge``), ``params`` its
    sampling settings (identity-bearing), ``extras`` the metric's settings
    for this judge (``judge_config`` entries such as ``rubric``).
    """

    model: ModelSpec
    params: InferenceParamsSpec = Field(default_factory=InferenceParamsSpec)
    extras: dict[str, JSONValue] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _params_reach_the_judge(self) -> JudgeInferenceSpec:
        if "params" in self.model_fields_set and not self.model.sends_params:
            raise ValueError(
                f"params: judge provider {self.model.provider!r} takes no inference params "
                "(only openai and vllm do); pass its own settings in model.extras"
            )
        return self

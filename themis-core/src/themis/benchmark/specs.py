"""Benchmark authoring models: a named benchmark as declarative, hashable data.

A :class:`BenchmarkSpec` says where the data comes from (a pinned dataset
source, plus a small offline sample in the same schema), how each record
becomes a case, which slices exist, how the model is prompted (one or more
prompt variants), how its answer is parsed and how it is scored, and which
scores need judge models. It holds no code, only references to registered
components and to a record transform by import path, so a third party can
publish a benchmark with themis-eval-core alone, under the ``themis.benchmarks``
entry-point group. The definition is identity-bearing: running it compiles
to an ordinary :class:`~themis.core.experiment.Experiment` whose run id
covers the data, the rendered prompts and every component.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from themis.benchmark.query import DatasetQuerySpec, SpecBase
from themis.core.authoring.prompts import PromptSpec
from themis.core.models import JSONValue

_ID_PATTERN = r"^[a-z0-9][a-z0-9_.\-]*$"

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


class PromptMessage(SpecBase):
    """One chat message of a prompt variant."""

    role: Literal["system", "user", "assistant"]
    content: str


def template_fields(template: str) -> set[str]:
    """The ``{field}`` placeholders of a ``str.format`` template."""
    fields: set[str] = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            if not name or not name.isidentifier():
                raise ValueError(
                    f"placeholder {{{name}}} in {template[:60]!r} must be a field name; "
                    "write literal braces as {{ and }}"
                )
            fields.add(name)
    return fields


class PromptVariantSpec(SpecBase):
    """Structured prompt variant scoped to one family or benchmark workflow.

    ``messages`` is a chat: leading ``system`` messages become the
    instructions, any messages after them are fixed few-shot turns, and the
    final ``user`` message is the per-case template whose ``{field}``
    placeholders are filled from the record (write literal braces as ``{{``
    and ``}}``). ``answer_format`` shows an answer that follows this
    variant's instructions, with ``{reference}`` standing for the reference
    answer; ``validate_benchmark`` answers every sample case that way to prove
    the parser reads what the prompt asks for.
    """

    variant_id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    messages: list[PromptMessage] = Field(min_length=1)
    answer_format: str = "{reference}"
    stop: list[str] = Field(default_factory=list)
    """Stop sequences (lm-eval's ``until``) for a completion-style prompt: sent to
    the model where its API takes them, and cut at again before parsing."""

    @model_serializer(mode="wrap")
    def _without_empty_stop(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.stop:
            data.pop("stop", None)
        return data

    @model_validator(mode="after")
    def _shape(self) -> PromptVariantSpec:
        where = f"prompt variant {self.variant_id!r}"
        if self.messages[-1].role != "user":
            raise ValueError(f"{where}: the last message must be the user message (the template)")
        seen_other = False
        for index, message in enumerate(self.messages[:-1]):
            if message.role != "system":
                seen_other = True
            elif seen_other:
                raise ValueError(
                    f"{where}: messages[{index}] is a system message after a few-shot turn; "
                    "system messages must come first"
                )
        template_fields(self.messages[-1].content)
        if "reference" not in template_fields(self.answer_format):
            raise ValueError(f"{where}: answer_format must contain {{reference}}")
        return self

    @property
    def template(self) -> str:
        return self.messages[-1].content

    def prompt_spec(self) -> PromptSpec:
        """The run's PromptSpec: instructions and few-shot blocks (identity-bearing)."""
        system = [m.content for m in self.messages[:-1] if m.role == "system"]
        turns = [m for m in self.messages[:-1] if m.role != "system"]
        return PromptSpec(
            instructions="\n\n".join(system) if system else None,
            blocks=[{"role": m.role, "content": m.content} for m in turns],
            stop=list(self.stop),
        )

    def render(self, record: Mapping[str, Any]) -> str:
        """The user message for one record."""
        return self.template.format_map(_Fields(record, self.variant_id))

    def render_answer(self, record: Mapping[str, Any], reference: str) -> str:
        """An answer in this variant's format, for ``validate_benchmark``."""
        return self.answer_format.format_map(
            _Fields({**record, "reference": reference}, self.variant_id)
        )


class _Fields(dict[str, Any]):
    def __init__(self, record: Mapping[str, Any], variant_id: str) -> None:
        super().__init__(record)
        self.variant_id = variant_id

    def __missing__(self, key: str) -> Any:
        raise KeyError(
            f"prompt variant {self.variant_id!r} uses {{{key}}} but the record has no such "
            f"field (fields: {sorted(self)})"
        )


class ComponentUse(SpecBase):
    """A registered component by id, with its constructor options."""

    id: str = Field(min_length=1)
    options: dict[str, JSONValue] = Field(default_factory=dict)

    def as_config(self, name: str | None = None) -> dict[str, JSONValue]:
        """The mapping form EvaluationConfig and GenerationConfig accept."""
        config: dict[str, JSONValue] = {"id": self.id, "options": dict(self.options)}
        if name is not None:
            config["name"] = name
        return config


def _component_use(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class ParseSpec(SpecBase):
    """Named parse pipeline backed by one extractor chain.

    Each parser reads the previous one's output; an empty chain scores the
    raw output.
    """

    parse_id: str = Field(default="default", pattern=_ID_PATTERN)
    chain: list[ComponentUse] = Field(default_factory=list)

    @field_validator("chain", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        return [_component_use(item) for item in value] if isinstance(value, list) else value


class ScoreSpec(SpecBase):
    """Named scoring pass over raw or parsed candidate outputs.

    ``name`` is the metric's name in results (``"accuracy"``, ``"pass@1"``).
    ``judged`` marks a metric graded by judge models: the benchmark then
    refuses to run without one. ``judge_config`` is this metric's judge
    configuration (for example its ``rubric``).
    """

    name: str = Field(min_length=1)
    metric: ComponentUse
    judged: bool = False
    judge_config: dict[str, JSONValue] = Field(default_factory=dict)

    @field_validator("metric", mode="before")
    @classmethod
    def _id(cls, value: Any) -> Any:
        return _component_use(value)

    @model_validator(mode="after")
    def _judge_config_needs_judge(self) -> ScoreSpec:
        if self.judge_config and not self.judged:
            raise ValueError(f"score {self.name!r}: judge_config given but judged is false")
        return self


class DatasetSourceSpec(SpecBase):
    """Where a slice's full data lives, pinned.

    ``kind="huggingface"``: ``path`` is a hub dataset id, with ``config``,
    ``split`` and ``revision`` (a commit or tag; pin it so the data cannot
    change under a run). ``kind="package_file"``: ``path`` is
    ``"package:relative/file"``, a JSONL file (optionally gzipped) shipped
    inside an installed Python package; its ``revision`` is the package's
    version requirement, recorded for provenance.
    """

    kind: Literal["huggingface", "package_file"]
    path: str = Field(min_length=1)
    config: str | None = None
    split: str = "test"
    revision: str | None = None
    install_hint: str | None = None

    @model_validator(mode="after")
    def _package_path(self) -> DatasetSourceSpec:
        if self.kind == "package_file" and ":" not in self.path:
            raise ValueError(f"package_file source {self.path!r} must be 'package:relative/file'")
        return self

    def describe(self) -> str:
        config = f"/{self.config}" if self.config else ""
        revision = f"@{self.revision}" if self.revision else ""
        return f"{self.kind}:{self.path}{config}[{self.split}]{revision}"


class RecordSpec(SpecBase):
    """How one source row becomes a case.

    ``transform`` (``"module:function"``, called as ``function(row, index,
    **transform_options)``) may derive fields, such as lettered options or a
    final answer; it must be deterministic. Then ``case_id_field`` names the
    case id (default: the row's index in the split), ``expected_field`` the
    expected output metrics compare against, ``reference_field`` the answer a
    perfect model gives (default: the expected field) and ``metadata_fields``
    the fields kept in case metadata for breakdowns and metrics.
    """

    transform: str | None = None
    transform_options: dict[str, JSONValue] = Field(default_factory=dict)
    case_id_field: str | None = None
    expected_field: str = Field(min_length=1)
    reference_field: str | None = None
    metadata_fields: list[str] = Field(default_factory=list)

    @field_validator("transform")
    @classmethod
    def _import_path(cls, value: str | None) -> str | None:
        if value is not None and (value.count(":") != 1 or not all(value.split(":"))):
            raise ValueError(f"transform {value!r} must be an import path 'module:function'")
        return value


class SliceSpec(SpecBase):
    """One benchmark slice with dataset identity, queries, prompts, and scoring.

    A slice is one dataset of the run (its id is ``benchmark/slice``); a
    benchmark run covers all its slices, and ``name:slice`` runs one. All
    slices of a benchmark share its prompt variants, parser chain and scores,
    so their results sit in one run and compare case by case. ``sample`` is
    the offline sample, ``"package:relative/file.jsonl"``, in the source's
    schema.
    """

    slice_id: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    source: DatasetSourceSpec
    sample: str
    query: DatasetQuerySpec = Field(default_factory=DatasetQuerySpec)

    @field_validator("sample")
    @classmethod
    def _sample_path(cls, value: str) -> str:
        if ":" not in value:
            raise ValueError(f"sample {value!r} must be 'package:relative/file.jsonl'")
        return value


class BenchmarkSpec(SpecBase):
    """Top-level benchmark configuration compiled into an execution plan.

    A benchmark is a component like any other: ``component_id`` is its
    ``benchmark_id``, ``version`` its version and ``fingerprint()`` the hash
    of the whole definition. The first prompt variant is the default.
    """

    benchmark_id: str = Field(pattern=_ID_PATTERN)
    version: str = Field(min_length=1)
    title: str
    description: str = ""
    homepage: str | None = None
    tags: list[str] = Field(default_factory=list)
    records: RecordSpec
    slices: list[SliceSpec] = Field(min_length=1)
    prompt_variants: list[PromptVariantSpec] = Field(min_length=1)
    parse: ParseSpec = Field(default_factory=ParseSpec)
    scores: list[ScoreSpec] = Field(min_length=1)
    samples: int = Field(default=1, ge=1)
    reducer: ComponentUse | None = None

    @field_validator("reducer", mode="before")
    @classmethod
    def _reducer_id(cls, value: Any) -> Any:
        return _component_use(value)

    @model_validator(mode="after")
    def _unique_names(self) -> BenchmarkSpec:
        for label, names in (
            ("slice ids", [s.slice_id for s in self.slices]),
            ("prompt variant ids", [p.variant_id for p in self.prompt_variants]),
            ("score names", [s.name for s in self.scores]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"benchmark {self.benchmark_id!r}: duplicate {label} {duplicates}")
        clash = {s.slice_id for s in self.slices} & {p.variant_id for p in self.prompt_variants}
        if clash:
            raise ValueError(
                f"benchmark {self.benchmark_id!r}: {sorted(clash)} name both a slice and a prompt "
                "variant, so 'name:variant' would be ambiguous"
            )
        return self

    @property
    def component_id(self) -> str:
        return self.benchmark_id

    @property
    def judged(self) -> bool:
        """Whether any score needs judge models."""
        return any(score.judged for score in self.scores)

    def variant_names(self) -> list[str]:
        """What ``name:variant`` accepts: slice ids, then prompt variant ids."""
        return [s.slice_id for s in self.slices] + [p.variant_id for p in self.prompt_variants]

    def slice(self, slice_id: str) -> SliceSpec:
        for each in self.slices:
            if each.slice_id == slice_id:
                return each
        raise KeyError(
            f"benchmark {self.benchmark_id!r} has no slice {slice_id!r} "
            f"(slices: {[s.slice_id for s in self.slices]})"
        )

    def prompt_variant(self, variant_id: str | None = None) -> PromptVariantSpec:
        if variant_id is None:
            return self.prompt_variants[0]
        for each in self.prompt_variants:
            if each.variant_id == variant_id:
                return each
        raise KeyError(
            f"benchmark {self.benchmark_id!r} has no prompt variant {variant_id!r} "
            f"(prompt variants: {[p.variant_id for p in self.prompt_variants]})"
        )

"""Materializing a benchmark slice: rows from a source, records, then cases.

Rows come from the slice's pinned source (the Hugging Face hub through the
``datasets`` library, or a data file shipped in a Python package), from its
offline sample, or from local files in the source's schema. Each row goes
through the benchmark's record transform, the slice query keeps some, and
each kept record becomes a Case whose input is the prompt variant's rendered
user message.
"""

from __future__ import annotations

import gzip
import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from themis.benchmark import BenchmarkSpec, DatasetSourceSpec, PromptVariantSpec, SliceSpec
from themis.core.authoring.huggingface import load_data_files, load_hub_rows
from themis.core.errors import ConfigError, UserError
from themis.core.errors import DatasetUnavailableError as DatasetUnavailableError
from themis.core.models import Case, Dataset

HUGGINGFACE_HINT = "pip install 'themis-catalog[huggingface]'"
LOCAL_BUILDERS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}


class BenchmarkDataError(UserError, ValueError):
    """A benchmark's rows do not fit its definition; the message says where."""


@dataclass(frozen=True)
class MaterializedSlice:
    """One slice as a Dataset, with the answer a perfect model would give per case."""

    dataset: Dataset
    reference_answers: dict[str, str]


def source_label(source: str | Path) -> str:
    return source if source in ("full", "sample") else f"files:{Path(source)}"


def _resource_text(location: str) -> str:
    package, _, relative = location.partition(":")
    try:
        data = resources.files(package).joinpath(relative).read_bytes()
    except ModuleNotFoundError as exc:
        raise DatasetUnavailableError(f"package {package!r} is not installed") from exc
    except FileNotFoundError as exc:
        raise DatasetUnavailableError(f"{location}: no such file in package {package!r}") from exc
    if relative.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8")


def _jsonl(text: str, where: str) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise BenchmarkDataError(f"{where}:{number}: invalid JSON: {exc}") from exc
    return rows


def _datasets_module() -> Any:
    try:
        import datasets  # type: ignore[import-untyped]
    except ImportError as exc:
        raise DatasetUnavailableError(
            f"loading the full dataset needs the Hugging Face `datasets` library: "
            f"{HUGGINGFACE_HINT}; or run the offline sample with source='sample'"
        ) from exc
    return datasets


def _hub_rows(source: DatasetSourceSpec) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of a hub dataset and the revision they were read at (the pinned
    one, else the commit the hub resolved: core's one Hugging Face loader)."""
    _datasets_module()
    try:
        loaded = load_hub_rows(
            source.path,
            source.config,
            split=source.split,
            revision=source.revision,
            install_hint=HUGGINGFACE_HINT,
        )
    except DatasetUnavailableError as exc:
        cause = exc.__cause__ or exc
        raise DatasetUnavailableError(
            f"cannot load {source.describe()}: {type(cause).__name__}: {cause}. "
            "Offline or gated? Run the offline sample with source='sample', or pass "
            "source='path/to/files' holding the data in the same schema"
        ) from exc
    return loaded.rows, loaded.revision


def _local_rows(path: Path) -> list[dict[str, Any]]:
    files = (
        sorted(p for p in path.iterdir() if p.suffix in LOCAL_BUILDERS) if path.is_dir() else [path]
    )
    if not path.exists() or not files:
        raise DatasetUnavailableError(
            f"{path}: no such file, or no {sorted(LOCAL_BUILDERS)} files in that directory"
        )
    builders = {LOCAL_BUILDERS.get(p.suffix) for p in files}
    if len(builders) != 1 or None in builders:
        raise DatasetUnavailableError(
            f"{path}: local data must be files of one kind among {sorted(LOCAL_BUILDERS)}"
        )
    _datasets_module()
    try:
        loaded = load_data_files(str(builders.pop()), [str(p) for p in files])
    except DatasetUnavailableError as exc:
        cause = exc.__cause__ or exc
        raise DatasetUnavailableError(
            f"cannot read {path}: {type(cause).__name__}: {cause}"
        ) from exc
    return list(loaded.to_list())


def _rows(slice_spec: SliceSpec, source: str | Path) -> tuple[list[dict[str, Any]], str | None]:
    """The slice's raw rows and the revision they come from."""
    if source == "sample":
        return _jsonl(_resource_text(slice_spec.sample), slice_spec.sample), "offline-sample"
    if source == "full":
        spec = slice_spec.source
        if spec.kind == "huggingface":
            return _hub_rows(spec)
        try:
            text = _resource_text(spec.path)
        except DatasetUnavailableError as exc:
            hint = f": {spec.install_hint}" if spec.install_hint else ""
            raise DatasetUnavailableError(f"{exc}{hint}") from exc
        return _jsonl(text, spec.path), spec.revision
    return _local_rows(Path(source)), None


def _transform(path: str) -> Callable[..., dict[str, Any]]:
    module_name, _, attribute = path.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise BenchmarkDataError(f"record transform {path!r} cannot be imported: {exc}") from exc
    if not callable(function):
        raise BenchmarkDataError(f"record transform {path!r} is not callable")
    return function  # type: ignore[no-any-return]


def materialize(
    spec: BenchmarkSpec,
    slices: list[SliceSpec],
    variant: PromptVariantSpec,
    *,
    source: str | Path = "full",
    limit: int | None = None,
) -> list[MaterializedSlice]:
    """Every slice as a Dataset of cases prompted with ``variant``.

    ``limit`` keeps the first N selected cases of each slice.
    """
    if limit is not None and limit < 1:
        raise ConfigError(f"limit must be at least 1, got {limit}")
    records_spec = spec.records
    transform = _transform(records_spec.transform) if records_spec.transform else None
    cache: dict[str, tuple[list[dict[str, Any]], list[str], str | None]] = {}
    materialized = []
    for slice_spec in slices:
        where = f"benchmark {spec.benchmark_id!r}, slice {slice_spec.slice_id!r}"
        key = slice_spec.sample if source == "sample" else slice_spec.source.model_dump_json()
        if key not in cache:
            rows, revision = _rows(slice_spec, source)
            records, case_ids = [], []
            for index, row in enumerate(rows):
                try:
                    record = (
                        transform(dict(row), index, **records_spec.transform_options)
                        if transform
                        else dict(row)
                    )
                    case_id = (
                        str(record[records_spec.case_id_field])
                        if records_spec.case_id_field
                        else str(index)
                    )
                except Exception as exc:
                    raise BenchmarkDataError(f"{where}: row {index}: {exc}") from exc
                records.append(record)
                case_ids.append(case_id)
            cache[key] = (records, case_ids, revision)
        records, case_ids, revision = cache[key]
        kept = slice_spec.query.select(records, case_ids)[:limit]
        if not kept:
            raise BenchmarkDataError(
                f"{where}: no records of {source_label(source)} match the slice query "
                f"{slice_spec.query.filters}"
            )
        cases, references = [], {}
        for index in kept:
            record = records[index]
            try:
                expected = record[records_spec.expected_field]
                reference = record[records_spec.reference_field or records_spec.expected_field]
                cases.append(
                    Case(
                        case_id=case_ids[index],
                        input={"prompt": variant.render(record)},
                        expected_output=expected,
                        metadata={name: record[name] for name in records_spec.metadata_fields},
                    )
                )
                references[case_ids[index]] = variant.render_answer(record, str(reference))
            except KeyError as exc:
                raise BenchmarkDataError(
                    f"{where}: record {case_ids[index]!r}: missing field {exc.args[0]}"
                ) from None
        dataset = Dataset(
            dataset_id=f"{spec.benchmark_id}/{slice_spec.slice_id}",
            cases=cases,
            revision=revision,
            metadata={
                "benchmark": spec.benchmark_id,
                "benchmark_version": spec.version,
                "slice": slice_spec.slice_id,
                "source": source_label(source)
                if source != "full"
                else slice_spec.source.describe(),
            },
        )
        materialized.append(MaterializedSlice(dataset=dataset, reference_answers=references))
    return materialized

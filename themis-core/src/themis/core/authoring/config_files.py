"""Experiment definitions in YAML or TOML files, with dotted overrides.

A dataset entry may hold its cases inline or point at a file
(``path: data.jsonl``; JSONL, JSON or CSV) relative to the config file.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from themis.core.authoring.local_components import resolve_local_components
from themis.core.errors import ConfigError as ConfigError
from themis.core.models import Case, Dataset


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = read_utf8(path)
    try:
        if path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif path.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(
                f"{path}: unsupported config format {path.suffix!r} (use .yaml or .toml)"
            )
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _parse_override_value(raw: str) -> Any:
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def apply_override(data: dict[str, Any], override: str) -> None:
    """Apply ``dotted.key=value`` (value parsed as YAML: ``3``, ``true``, ``[a, b]``)."""
    if "=" not in override:
        raise ConfigError(f"override {override!r}: expected dotted.key=value")
    dotted, raw = override.split("=", 1)
    parts = [part for part in dotted.strip().split(".") if part]
    if not parts:
        raise ConfigError(f"override {override!r}: empty key")
    node: Any = data
    for index, part in enumerate(parts[:-1]):
        where = ".".join(parts[: index + 1])
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError) as exc:
                raise ConfigError(f"override {override!r}: no list item {where}") from exc
            continue
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict | list):
            raise ConfigError(f"override {override!r}: {where} is not a mapping")
        node = child
    value = _parse_override_value(raw)
    last = parts[-1]
    if isinstance(node, list):
        try:
            node[int(last)] = value
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"override {override!r}: no list item {dotted}") from exc
    else:
        node[last] = value


def load_cases_file(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (a list, or ``{"cases": [...]}``) or CSV file."""
    if not path.is_file():
        raise ConfigError(f"{path}: dataset file not found")
    if path.suffix not in (".jsonl", ".json", ".csv"):
        raise ConfigError(
            f"{path}: unsupported dataset format {path.suffix!r} (jsonl, json or csv)"
        )
    text = read_utf8(path)
    rows: list[Any]
    if path.suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{number}: invalid JSON: {exc}") from exc
    elif path.suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path}: invalid JSON: {exc}") from exc
        if isinstance(data, dict) and "cases" in data:
            data = data["cases"]
        if not isinstance(data, list):
            raise ConfigError(f"{path}: expected a list of cases")
        rows = data
    else:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    if not rows:
        raise ConfigError(f"{path}: the file holds no cases; an empty dataset would run nothing")
    return rows


def read_utf8(path: Path) -> str:
    """A text file's contents; invalid UTF-8 is an error naming the line and byte."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}: invalid UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None


def cases_from_rows(rows: list[Any], *, where: str) -> list[Case]:
    """Cases from loose rows: ``case_id`` defaults to the row number; a row
    without ``input`` uses its other fields (all but expected_output and
    metadata) as the input."""
    cases: list[Case] = []
    for index, row in enumerate(rows):
        if isinstance(row, Case):
            cases.append(row)
            continue
        if not isinstance(row, dict):
            raise ConfigError(f"{where}[{index}]: expected a mapping, got {type(row).__name__}")
        fields = dict(row)
        case_id = str(fields.pop("case_id", fields.pop("id", index)))
        expected = fields.pop("expected_output", fields.pop("expected", None))
        metadata = fields.pop("metadata", None) or {}
        case_input = fields.pop("input") if "input" in fields else fields
        try:
            cases.append(
                Case(case_id=case_id, input=case_input, expected_output=expected, metadata=metadata)
            )
        except ValidationError as exc:
            raise ConfigError(f"{where}[{index}]: {exc}") from exc
    return cases


def _materialize_datasets(data: dict[str, Any], base: Path) -> None:
    datasets = data.get("datasets")
    if not isinstance(datasets, list):
        return
    for index, entry in enumerate(datasets):
        if isinstance(entry, dict) and "path" in entry:
            entry = dict(entry)
            file = base / str(entry.pop("path"))
            rows = load_cases_file(file)
            entry["cases"] = [
                c.model_dump() for c in cases_from_rows(rows, where=f"datasets[{index}] ({file})")
            ]
            entry.setdefault("dataset_id", file.stem)
            datasets[index] = entry


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid experiment configuration"]
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {location}: {error['msg']}")
    return "\n".join(lines)


def read_experiment_config(path: Path, overrides: list[str]) -> dict[str, Any]:
    """An experiment file as the mapping ``Experiment`` validates: overrides applied,
    dataset files read, ``python:`` components and store locations resolved
    against the file's folder. (Validation is ``Experiment.from_config``'s, so
    this module never imports the experiment: no import cycle.)"""
    data = read_config_file(path)
    for override in overrides:
        apply_override(data, override)
    return materialize_config(data, path.parent)


def materialize_config(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Read dataset files, build ``python:`` components and anchor store
    locations, all relative to ``base`` (the config file's folder). A worker
    calls it on the mapping a submit recorded (see ``themis.core.deferred``)."""
    _materialize_datasets(data, base)
    resolve_local_components(data, base)
    storage = data.get("storage")
    if isinstance(storage, dict):
        # Locations in a config file are relative to it: the store and its blobs.
        parameters = storage.get("parameters")
        for holder, key in ((storage, "path"), (parameters, "blob_root")):
            if isinstance(holder, dict) and isinstance(holder.get(key), str):
                location = Path(holder[key])
                if not location.is_absolute():
                    holder[key] = str(base / location)
    return data


def dataset_from_rows(dataset_id: str, rows: list[Any]) -> Dataset:
    return Dataset(dataset_id=dataset_id, cases=cases_from_rows(rows, where=f"data ({dataset_id})"))

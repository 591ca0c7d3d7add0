"""SpecBase: frozen, key-strict, fingerprinted, and loadable from a YAML or TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError

from themis.benchmark.query import SpecBase as _HashableSpec
from themis.core.authoring.config_files import ConfigError, read_config_file

__all__ = ["SpecBase", "spec_error"]


def spec_error(exc: ValidationError, source: str, what: str) -> ConfigError:
    """One error naming the file and every bad field by its dotted path."""
    lines = [f"{source}: invalid {what}"]
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {location}: {error['msg']}")
    return ConfigError("\n".join(lines))


class SpecBase(_HashableSpec):
    """Base of seed 004's specs: unknown keys are errors with their path, and
    ``fingerprint()`` hashes the canonical JSON of the content."""

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Load one spec from a YAML (``.yaml``, ``.yml``) or TOML file."""
        return cls.from_mapping(read_config_file(Path(path)), source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "spec") -> Self:
        """Validate a mapping; a bad one raises a ConfigError naming ``source``."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise spec_error(exc, source, cls.__name__) from None

"""DatasetQuerySpec: which rows of a dataset a benchmark slice uses.

A query filters records by field values and may draw a seeded sample. The
sample is chosen by ranking every record on a hash of the seed and its case
id, so it is the same on any machine and Python version, and a record keeps
its place in (or out of) the sample when other records are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from themis.core.models import HashableModel, JSONValue


class SpecBase(HashableModel):
    """Base of every benchmark authoring model: frozen, strict, fingerprinted.

    Unknown keys are errors with their path, and ``fingerprint()`` hashes the
    canonical JSON, so a definition's identity is exactly its content.
    """


class DatasetQuerySpec(SpecBase):
    """Declarative slice query and sampling controls for dataset providers.

    ``filters`` keeps records whose field equals the value given, or is one
    of the values when a list is given (``{"category": ["math", "physics"]}``).
    ``sample_size`` then keeps a seeded sample of that many records
    (``sample_seed`` picks which), in their original order.
    """

    filters: dict[str, JSONValue] = Field(default_factory=dict)
    sample_size: int | None = Field(default=None, ge=1)
    sample_seed: int = 0

    @field_validator("filters")
    @classmethod
    def _filter_fields(cls, filters: dict[str, JSONValue]) -> dict[str, JSONValue]:
        for name in filters:
            if not name.strip():
                raise ValueError("filters: a field name must not be empty")
        return filters

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` passes every filter (a missing field never does)."""
        for name, wanted in self.filters.items():
            if name not in record:
                return False
            value = record[name]
            if isinstance(wanted, list):
                if value not in wanted:
                    return False
            elif value != wanted:
                return False
        return True

    def select(self, records: Sequence[Mapping[str, Any]], case_ids: Sequence[str]) -> list[int]:
        """Indices of the records this query keeps, in their original order."""
        if len(records) != len(case_ids):
            raise ValueError("select: records and case_ids must have the same length")
        kept = [index for index, record in enumerate(records) if self.matches(record)]
        if self.sample_size is None or self.sample_size >= len(kept):
            return kept
        ranked = sorted(kept, key=lambda index: _rank(self.sample_seed, case_ids[index]))
        return sorted(ranked[: self.sample_size])


def _rank(seed: int, case_id: str) -> str:
    return hashlib.sha256(f"{seed}\x1f{case_id}".encode()).hexdigest()

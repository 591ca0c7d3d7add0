"""The shapes the catalog returns, at the import path users know.

They are defined in :mod:`themis.core.catalog_models` so that core (which
names ``BenchmarkResult`` among its exports) never imports this facade, the
layer above it.
"""

from __future__ import annotations

from themis.core.catalog_models import BenchmarkCatalogEntry as BenchmarkCatalogEntry
from themis.core.catalog_models import BenchmarkRunResult as BenchmarkRunResult
from themis.core.catalog_models import BenchmarkValidationResult as BenchmarkValidationResult
from themis.core.catalog_models import ValidationCheck as ValidationCheck

__all__ = [
    "BenchmarkCatalogEntry",
    "BenchmarkRunResult",
    "BenchmarkValidationResult",
    "ValidationCheck",
]

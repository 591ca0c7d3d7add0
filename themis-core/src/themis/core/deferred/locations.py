"""A store named by one string, as ``--store`` and ``run_worker(store=...)`` take it.

Workers on a cluster are started with nothing but a command line, so the
store is one string: a SQLite file path, or a PostgreSQL URL
(``postgresql://user@host/db``), read the way ``--path`` reads it.
"""

from __future__ import annotations

from pathlib import Path

from themis.core.config import StorageConfig
from themis.core.errors import StoreNotFoundError, StoreOpenError
from themis.core.experiment import open_store
from themis.core.observability.scrubbing import redact_url
from themis.core.storage.stores.base import RunStore

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
"""A location starting with one of these is a PostgreSQL store's URL, not a file."""


def storage_at(location: str) -> StorageConfig:
    """The StorageConfig a location string names (nothing is opened)."""
    if not location.strip():
        raise StoreOpenError("store location is empty: give a SQLite file or a postgresql:// URL")
    if location.startswith(POSTGRES_SCHEMES):
        return StorageConfig(store="postgres", parameters={"url": location})
    if "://" in location:
        raise StoreOpenError(
            f"unsupported store URL {redact_url(location)!r}: give a SQLite file path "
            "(runs.sqlite) or a PostgreSQL URL (postgresql://user@host/db)"
        )
    return StorageConfig(store="sqlite", path=location)


def open_store_at(location: str, *, must_exist: bool) -> RunStore:
    """Open the store at ``location``; with ``must_exist``, a SQLite file that
    is not there is an error (a worker reads runs that were submitted into it)."""
    storage = storage_at(location)
    if must_exist and storage.path is not None and not Path(storage.path).exists():
        raise StoreNotFoundError(
            f"no store at {storage.path}: submit runs into it first "
            "(themis submit --config FILE --store ...)"
        )
    return open_store(storage)


def describe_location(location: str) -> str:
    """A location as it may be shown: a URL's password redacted."""
    return redact_url(location)

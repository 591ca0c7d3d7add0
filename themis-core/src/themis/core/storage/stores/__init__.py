"""Run stores: append-only events plus incrementally folded projections."""

from themis.core.storage.stores.base import RunStore, StoredRun
from themis.core.storage.stores.blobs import BlobError
from themis.core.storage.stores.memory import InMemoryRunStore
from themis.core.storage.stores.postgres import PostgresRunStore, PostgresStoreError, postgres_store
from themis.core.storage.stores.sqlite import SqliteRunStore, sqlite_store

__all__ = [
    "BlobError",
    "InMemoryRunStore",
    "PostgresRunStore",
    "PostgresStoreError",
    "RunStore",
    "SqliteRunStore",
    "StoredRun",
    "postgres_store",
    "sqlite_store",
]

"""Run stores: append-only events plus incrementally folded projections."""

from themis.core.stores.base import RunStore, StoredRun
from themis.core.stores.blobs import BlobError
from themis.core.stores.memory import InMemoryRunStore
from themis.core.stores.postgres import PostgresRunStore, PostgresStoreError, postgres_store
from themis.core.stores.sqlite import SqliteRunStore, sqlite_store

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

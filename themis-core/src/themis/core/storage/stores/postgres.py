"""PostgresRunStore: the run store for shared and multi-process use.

Needs the ``postgres`` extra (``pip install 'themis-eval-core[postgres]'``):
psycopg 3 and its connection pool.

Durability: every ``append_events`` call is one transaction holding the
events and every projection row they fold into (and, with
``blobs_in_database=True``, the blobs), committed with the server's own durability
settings. Appends are idempotent on ``event_id`` across processes: an event
another process stored first is skipped (``ON CONFLICT DO NOTHING``), and
only the events this call stored are folded into projections. Projection
rows are written in key order, so concurrent writers never deadlock on each
other's rows; a transaction the server still aborts as a deadlock or a
serialization failure is retried.

Layout: all tables live in one PostgreSQL schema (``themis`` unless told
otherwise), so a database can hold several stores beside unrelated tables.
The ``meta`` table records the schema version; opening an older store
migrates it forward under an advisory lock, and a store written by a newer
Themis is refused before anything is written.

Large payloads: an event whose JSON exceeds ``blob_threshold`` characters
keeps its largest values as content-addressed blobs (``sha256:`` refs,
verified on read; see :mod:`themis.core.storage.stores.blobs`). By default they are
files under a local directory, ``blob_root`` (when not given,
:func:`~themis.core.storage.stores.blobs.default_blob_root`: ``$THEMIS_BLOB_ROOT`` or
``~/.local/share/themis/blobs``), as seed 004 specifies; a team on several
machines points ``blob_root`` at a shared directory, or passes
``blobs_in_database=True`` to keep them in the store's ``blobs`` table, where
every machine that reaches the database reads them.

Secrets: the URL's password is used to connect and nowhere else; the
store's ``repr``, its errors and anything it logs show the URL with the
password replaced by ``***``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from themis.core.distributions import CORE, pip_install
from themis.core.errors import PostgresStoreError as PostgresStoreError
from themis.core.models import STAGES, RunSnapshot, RunStatus
from themis.core.storage.events import RunEvent
from themis.core.storage.projections import ScoreRow, WorkItemRow, project
from themis.core.storage.stores.base import Lease, LeaseClaim, StoredRun, chunk_size
from themis.core.storage.stores.blobs import (
    BLOB_THRESHOLD,
    BlobError,
    DirectoryBlobStore,
    check_threshold,
    decode_event,
    default_blob_root,
    encode_event,
    verified,
)

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

SCHEMA_VERSION = 5
"""1: events and projections; 2: events record their blob positions, a blobs table;
3: a work item points at its latest event (``work_items.event_seq``), so a
run's cases are read back a page at a time (``latest_events``); 4: work leases;
5: work items are found by case (``count_finished``)."""

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE IF NOT EXISTS runs ("
        " ordinal BIGINT GENERATED ALWAYS AS IDENTITY,"
        " run_id TEXT PRIMARY KEY,"
        " snapshot TEXT NOT NULL,"
        " status TEXT NOT NULL,"
        " completed_through_stage TEXT)",
        "CREATE TABLE IF NOT EXISTS events ("
        " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " event_id TEXT NOT NULL UNIQUE,"
        " run_id TEXT NOT NULL,"
        " event_type TEXT NOT NULL,"
        " payload TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS events_by_run ON events (run_id, seq)",
        "CREATE TABLE IF NOT EXISTS stage_results ("
        " work_key TEXT NOT NULL,"
        " run_id TEXT NOT NULL,"
        " event_seq BIGINT NOT NULL,"
        " PRIMARY KEY (work_key, run_id))",
        "CREATE TABLE IF NOT EXISTS work_items ("
        " run_id TEXT NOT NULL,"
        " stage TEXT NOT NULL,"
        " work_key TEXT NOT NULL,"
        " case_key TEXT NOT NULL,"
        " state TEXT NOT NULL,"
        " error TEXT,"
        " PRIMARY KEY (run_id, stage, work_key))",
        "CREATE TABLE IF NOT EXISTS score_rows ("
        " run_id TEXT NOT NULL,"
        " case_key TEXT NOT NULL,"
        " metric_id TEXT NOT NULL,"
        " dataset_id TEXT NOT NULL,"
        " case_id TEXT NOT NULL,"
        " value DOUBLE PRECISION,"
        " outcome TEXT NOT NULL,"
        " error_category TEXT,"
        " error_message TEXT,"
        " details TEXT NOT NULL,"
        " PRIMARY KEY (run_id, case_key, metric_id))",
    ],
    2: [
        "ALTER TABLE events ADD COLUMN blobs TEXT",
        "CREATE TABLE blobs (ref TEXT PRIMARY KEY, data BYTEA NOT NULL)",
    ],
    3: [
        "ALTER TABLE work_items ADD COLUMN event_seq BIGINT",
        "UPDATE work_items w SET event_seq = l.seq FROM ("
        " SELECT run_id, payload::json->>'stage' AS stage,"
        " payload::json->>'work_key' AS work_key, max(seq) AS seq FROM events"
        " WHERE payload::json->>'work_key' IS NOT NULL GROUP BY 1, 2, 3) l"
        " WHERE w.run_id = l.run_id AND w.stage = l.stage AND w.work_key = l.work_key",
    ],
    4: [
        "CREATE TABLE lease_runs (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " total BIGINT NOT NULL, next_index BIGINT NOT NULL, PRIMARY KEY (run_id, scope))",
        "CREATE TABLE leases (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " start BIGINT NOT NULL, stop BIGINT NOT NULL, owner TEXT NOT NULL,"
        " expires_at DOUBLE PRECISION NOT NULL, done BOOLEAN NOT NULL DEFAULT FALSE,"
        " PRIMARY KEY (run_id, scope, start))",
        "CREATE TABLE lease_workers (run_id TEXT NOT NULL, scope TEXT NOT NULL,"
        " owner TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL,"
        " PRIMARY KEY (run_id, scope, owner))",
    ],
    5: [
        # Covering (state included), so counting a case's finished items
        # reads the index alone.
        "DROP INDEX IF EXISTS work_items_by_case",
        "CREATE INDEX work_items_by_case ON work_items (run_id, case_key, stage, state)",
    ],
}
"""The statements that bring a store from the previous version to each version."""

_MIGRATION_LOCK = 0x7468656D6973  # "themis": one advisory lock id for every store's migrations
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PAGE = 1000
"""Events read per query by ``iter_events``: memory stays flat on long runs."""
_RETRIES = 5

T = TypeVar("T")


def redact_url(url: str) -> str:
    """``url`` with its password (URL or ``key=value`` form) replaced by ``***``."""
    if "://" in url:
        parts = urlsplit(url)
        if parts.password is not None:
            user = parts.username or ""
            host = parts.netloc.rsplit("@", 1)[1]
            return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
        return re.sub(r"(password=)[^&]*", r"\1***", url)
    return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)


def _password(url: str) -> str | None:
    if "://" in url:
        password = urlsplit(url).password
        if password:
            return password
        found = re.search(r"password=([^&]*)", url)
        return found.group(1) if found else None
    found = re.search(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url)
    return found.group(1).strip("'") if found else None


class PostgresRunStore:
    """A run store in a PostgreSQL database, shared by any number of processes.

    ``url`` is a libpq URL or ``key=value`` string; what it leaves out comes
    from libpq's environment variables (``PGHOST``, ``PGPORT``, ``PGUSER``,
    ``PGPASSWORD``, ``PGDATABASE``) and ``~/.pgpass``, so an empty URL
    (``StorageConfig(store="postgres")``, ``themis ... --store postgres``)
    keeps the password out of every file and command line.
    """

    def __init__(
        self,
        url: str = "",
        *,
        blob_root: str | Path | None = None,
        blobs_in_database: bool = False,
        schema: str = "themis",
        blob_threshold: int = BLOB_THRESHOLD,
        pool_size: int = 4,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(
                f"schema {schema!r} is not a plain PostgreSQL name "
                "(lower-case letters, digits and underscores, not starting with a digit)"
            )
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self._url = url
        self.url = redact_url(url)
        """The URL with its password hidden: safe to show and log."""
        self.schema = schema
        self.blob_threshold = check_threshold(blob_threshold)
        if blobs_in_database and blob_root is not None:
            raise ValueError(
                "give blob_root (blobs as files in that directory) or blobs_in_database=True "
                "(blobs in the store's blobs table), not both"
            )
        self.blobs_in_database = blobs_in_database
        self.blob_root: Path | None = None
        """Where blobs are files; None when they live in the database."""
        self._files: DirectoryBlobStore | None = None
        if not blobs_in_database:
            self.blob_root = Path(blob_root) if blob_root is not None else default_blob_root()
            self._files = DirectoryBlobStore(self.blob_root)
        self.pool_size = pool_size
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._pool: ConnectionPool[Any] | None = None

    def __repr__(self) -> str:
        return f"PostgresRunStore({self.url!r}, schema={self.schema!r})"

    # -- connections -------------------------------------------------------

    def _hide(self, exc: BaseException) -> PostgresStoreError:
        """An error about ``exc`` that names the store but never its password."""
        message = f"{type(exc).__name__}: {exc}".strip()
        password = _password(self._url)
        if password:
            message = message.replace(password, "***")
        return PostgresStoreError(f"PostgreSQL store {self.url} (schema {self.schema}): {message}")

    def initialize(self) -> None:
        """Connect, create or migrate the schema, and open the connection pool."""
        if self._pool is not None:
            return
        with self._lock:
            if self._pool is not None:
                return
            psycopg, pool_module = _driver()
            options = f"-c search_path={self.schema}"
            try:
                with psycopg.connect(
                    self._url,
                    autocommit=True,
                    connect_timeout=max(1, round(self.connect_timeout_s)),
                    options=options,
                ) as conn:
                    self._migrate(conn)
            except psycopg.Error as exc:
                raise self._hide(exc) from None
            pool = pool_module.ConnectionPool(
                self._url,
                min_size=1,
                max_size=self.pool_size,
                kwargs={"autocommit": True, "options": options},
                timeout=max(self.connect_timeout_s, 30.0),
                name=f"themis-{self.schema}",
                open=False,
            )
            try:
                pool.open(wait=True, timeout=self.connect_timeout_s)
            except pool_module.PoolTimeout as exc:
                pool.close()
                raise self._hide(exc) from None
            self._pool = pool

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise PostgresStoreError(
                    f"PostgreSQL store {self.url} (schema {self.schema}) was written by a newer "
                    f"Themis (store schema {version}, this Themis reads {SCHEMA_VERSION}); "
                    f"upgrade {CORE}"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    conn.execute(statement)
            if version != SCHEMA_VERSION:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (str(SCHEMA_VERSION),),
                )

    def _connection(self) -> Any:
        self.initialize()
        assert self._pool is not None
        return self._pool.connection()

    def _call(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``work`` on a pooled connection; driver errors lose the password."""
        psycopg, _ = _driver()
        try:
            with self._connection() as conn:
                return work(conn)
        except psycopg.Error as exc:
            raise self._hide(exc) from None

    # -- writes ------------------------------------------------------------

    def save_snapshot(self, snapshot: RunSnapshot) -> None:
        self._call(
            lambda conn: conn.execute(
                "INSERT INTO runs (run_id, snapshot, status) VALUES (%s, %s, %s) "
                "ON CONFLICT (run_id) DO NOTHING",
                (snapshot.run_id, snapshot.model_dump_json(), RunStatus.pending.value),
            )
        )

    def append_events(self, events: Sequence[RunEvent]) -> list[RunEvent]:
        if not events:
            return []
        psycopg, _ = _driver()
        rows = [self._row(event) for event in events]
        for attempt in range(_RETRIES):
            try:
                with self._connection() as conn, conn.transaction():
                    return self._append(conn, events, rows)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise self._hide(exc) from None
            except psycopg.Error as exc:
                raise self._hide(exc) from None
        raise AssertionError("unreachable")

    def _row(self, event: RunEvent) -> tuple[tuple[Any, ...], dict[str, bytes]]:
        """The events-table row of one event and its blobs (files are written now)."""
        payload, pointers, blobs = encode_event(event, self.blob_threshold)
        if self._files is not None:
            for ref, data in blobs.items():
                self._files.put(ref, data)
            blobs = {}
        event_type = event.__dict__.get("event_type", "unknown")
        return (event.event_id, event.run_id, event_type, payload, pointers), blobs

    def _append(
        self,
        conn: psycopg.Connection[Any],
        events: Sequence[RunEvent],
        rows: list[tuple[tuple[Any, ...], dict[str, bytes]]],
    ) -> list[RunEvent]:
        # One statement stores the batch in order; RETURNING names what was new.
        columns = list(zip(*(row for row, _ in rows), strict=True))
        inserted = conn.execute(
            "INSERT INTO events (event_id, run_id, event_type, payload, blobs) "
            "SELECT e, r, t, p, b FROM unnest("
            "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) "
            "WITH ORDINALITY AS batch(e, r, t, p, b, n) ORDER BY n "
            "ON CONFLICT (event_id) DO NOTHING RETURNING event_id, seq",
            [list(column) for column in columns],
        ).fetchall()
        seq_of = dict(inserted)
        persisted: list[RunEvent] = []
        blobs: dict[str, bytes] = {}
        results: dict[tuple[str, str], tuple[Any, ...]] = {}
        items: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        scores: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        runs: dict[str, tuple[Any, ...]] = {}
        for event, (_, event_blobs) in zip(events, rows, strict=True):
            seq = seq_of.pop(event.event_id, None)  # pop: a repeat within the batch is not new
            if seq is None:
                continue
            persisted.append(event)
            blobs.update(event_blobs)
            projected = project(event)
            if projected.work_item is not None:
                item = projected.work_item
                items[(item.run_id, item.stage, item.work_key)] = (
                    item.run_id,
                    item.stage,
                    item.work_key,
                    item.case_key,
                    item.state,
                    item.error,
                    seq,
                )
                if projected.stage_result:
                    results[(item.work_key, item.run_id)] = (item.work_key, item.run_id, seq)
            if projected.score_row is not None:
                s = projected.score_row
                scores[(s.run_id, s.case_key, s.metric_id)] = (
                    s.run_id,
                    s.case_key,
                    s.metric_id,
                    s.dataset_id,
                    s.case_id,
                    s.value,
                    s.outcome,
                    s.error_category,
                    _text(s.error_message),
                    s.details,
                )
            if projected.run_row is not None:
                run = projected.run_row
                runs[run.run_id] = (run.status, run.completed_through_stage, run.run_id)
        with conn.cursor() as cur:
            if blobs:
                cur.executemany(
                    "INSERT INTO blobs (ref, data) VALUES (%s, %s) ON CONFLICT (ref) DO NOTHING",
                    sorted(blobs.items()),
                )
            # Later rows replace earlier ones, as in every store; key order avoids
            # deadlocks. One statement per table, whatever the batch size.
            _upsert(
                cur,
                "INSERT INTO stage_results (work_key, run_id, event_seq) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::bigint[]) "
                "ON CONFLICT (work_key, run_id) DO UPDATE SET event_seq = EXCLUDED.event_seq",
                results,
            )
            _upsert(
                cur,
                "INSERT INTO work_items (run_id, stage, work_key, case_key, state, error, "
                "event_seq) SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], "
                "%b::text[], %b::text[], %b::text[], %b::bigint[]) "
                "ON CONFLICT (run_id, stage, work_key) "
                "DO UPDATE SET case_key = EXCLUDED.case_key, state = EXCLUDED.state, "
                "error = EXCLUDED.error, event_seq = EXCLUDED.event_seq",
                items,
            )
            _upsert(
                cur,
                "INSERT INTO score_rows (run_id, case_key, metric_id, dataset_id, case_id, value, "
                "outcome, error_category, error_message, details) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
                "%b::text[], %b::float8[], %b::text[], %b::text[], %b::text[], %b::text[]) "
                "ON CONFLICT (run_id, case_key, metric_id) DO UPDATE SET "
                "dataset_id = EXCLUDED.dataset_id, case_id = EXCLUDED.case_id, "
                "value = EXCLUDED.value, outcome = EXCLUDED.outcome, "
                "error_category = EXCLUDED.error_category, "
                "error_message = EXCLUDED.error_message, details = EXCLUDED.details",
                scores,
            )
            if runs:
                cur.executemany(
                    "UPDATE runs SET status = %s, completed_through_stage = %s WHERE run_id = %s",
                    [runs[key] for key in sorted(runs)],
                )
        return persisted

    # -- leases: each call one transaction; times from the server's clock ----

    def _leasing(self, work: Callable[[psycopg.Connection[Any], float], T]) -> T:
        """``work(conn, now)`` in one transaction, retried on a deadlock or a
        serialization failure; ``now`` is the server's clock, so machines
        whose clocks disagree still agree on when a lease expires."""
        psycopg, _ = _driver()
        for attempt in range(_RETRIES):
            try:
                with self._connection() as conn, conn.transaction():
                    (now,) = _row_of(
                        conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8")
                    )
                    return work(conn, float(now))
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise self._hide(exc) from None
            except psycopg.Error as exc:
                raise self._hide(exc) from None
        raise AssertionError("unreachable")

    def claim_lease(
        self,
        run_id: str,
        scope: str,
        owner: str,
        *,
        total: int,
        max_cases: int,
        lease_s: float,
        restart_done: bool = False,
    ) -> LeaseClaim:
        def claim(conn: psycopg.Connection[Any], now: float) -> LeaseClaim:
            expires = now + lease_s
            run = (run_id, scope)
            conn.execute(
                "INSERT INTO lease_workers (run_id, scope, owner, expires_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, scope, owner) "
                "DO UPDATE SET expires_at = EXCLUDED.expires_at",
                (*run, owner, expires),
            )
            (live,) = _row_of(
                conn.execute(
                    "SELECT count(*) FROM lease_workers WHERE run_id = %s AND scope = %s "
                    "AND expires_at > %s",
                    (*run, now),
                )
            )
            lease: Lease | None = None
            # An expired chunk first; SKIP LOCKED: two claimers never wait on,
            # nor take, the same one.
            expired = conn.execute(
                "SELECT start, stop FROM leases WHERE run_id = %s AND scope = %s "
                "AND NOT done AND expires_at <= %s ORDER BY start LIMIT 1 "
                "FOR UPDATE SKIP LOCKED",
                (*run, now),
            ).fetchone()
            if expired is not None:
                conn.execute(
                    "UPDATE leases SET owner = %s, expires_at = %s "
                    "WHERE run_id = %s AND scope = %s AND start = %s",
                    (owner, expires, *run, expired[0]),
                )
                lease = Lease(run_id, scope, expired[0], expired[1], owner, taken_over=True)
            else:
                conn.execute(
                    "INSERT INTO lease_runs (run_id, scope, total, next_index) "
                    "VALUES (%s, %s, %s, 0) ON CONFLICT (run_id, scope) DO NOTHING",
                    (*run, total),
                )
                next_index, stored_total = _row_of(
                    conn.execute(
                        "SELECT next_index, total FROM lease_runs "
                        "WHERE run_id = %s AND scope = %s FOR UPDATE",
                        run,
                    )
                )
                if restart_done and next_index >= stored_total:
                    open_chunk = conn.execute(
                        "SELECT 1 FROM leases WHERE run_id = %s AND scope = %s AND NOT done "
                        "LIMIT 1",
                        run,
                    ).fetchone()
                    if open_chunk is None:
                        conn.execute("DELETE FROM leases WHERE run_id = %s AND scope = %s", run)
                        next_index, stored_total = 0, total
                size = chunk_size(max_cases, stored_total - next_index, live)
                if size > 0:
                    conn.execute(
                        "INSERT INTO leases (run_id, scope, start, stop, owner, expires_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        (*run, next_index, next_index + size, owner, expires),
                    )
                    lease = Lease(run_id, scope, next_index, next_index + size, owner)
                conn.execute(
                    "UPDATE lease_runs SET next_index = %s, total = %s "
                    "WHERE run_id = %s AND scope = %s",
                    (next_index + size, stored_total, *run),
                )
            (unfinished,) = _row_of(
                conn.execute(
                    "SELECT count(*) FROM leases WHERE run_id = %s AND scope = %s AND NOT done "
                    "AND owner <> %s AND expires_at > %s",
                    (*run, owner, now),
                )
            )
            return LeaseClaim(lease, int(unfinished), int(live))

        return self._leasing(claim)

    def renew_leases(self, run_id: str, scope: str, owner: str, *, lease_s: float) -> int:
        def renew(conn: psycopg.Connection[Any], now: float) -> int:
            conn.execute(
                "INSERT INTO lease_workers (run_id, scope, owner, expires_at) "
                "VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, scope, owner) "
                "DO UPDATE SET expires_at = EXCLUDED.expires_at",
                (run_id, scope, owner, now + lease_s),
            )
            cursor = conn.execute(
                "UPDATE leases SET expires_at = %s WHERE run_id = %s AND scope = %s "
                "AND owner = %s AND NOT done",
                (now + lease_s, run_id, scope, owner),
            )
            return int(cursor.rowcount)

        return self._leasing(renew)

    def complete_lease(self, lease: Lease) -> None:
        self._leasing(
            lambda conn, _now: conn.execute(
                "UPDATE leases SET done = TRUE WHERE run_id = %s AND scope = %s AND start = %s",
                (lease.run_id, lease.scope, lease.start),
            )
        )

    def release_leases(self, run_id: str, scope: str, owner: str) -> None:
        def release(conn: psycopg.Connection[Any], _now: float) -> None:
            conn.execute(
                "DELETE FROM lease_workers WHERE run_id = %s AND scope = %s AND owner = %s",
                (run_id, scope, owner),
            )
            conn.execute(
                "UPDATE leases SET expires_at = 0 WHERE run_id = %s AND scope = %s "
                "AND owner = %s AND NOT done",
                (run_id, scope, owner),
            )

        self._leasing(release)

    def live_workers(self, run_id: str) -> int:
        (count,) = self._call(
            lambda conn: _row_of(
                conn.execute(
                    "SELECT count(DISTINCT owner) FROM lease_workers WHERE run_id = %s "
                    "AND expires_at > extract(epoch FROM clock_timestamp())",
                    (run_id,),
                )
            )
        )
        return int(count)

    def lease_holders(self, run_id: str, scope: str) -> list[str]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT DISTINCT owner FROM leases WHERE run_id = %s AND scope = %s "
                "AND NOT done AND expires_at > extract(epoch FROM clock_timestamp()) "
                "ORDER BY owner",
                (run_id, scope),
            ).fetchall()
        )
        return [str(owner) for (owner,) in rows]

    # -- reads -------------------------------------------------------------

    def _fetch_blob(self, conn: psycopg.Connection[Any]) -> Callable[[str], bytes]:
        files = self._files

        def fetch(ref: str) -> bytes:
            if files is not None and files.path_for(ref).exists():
                return files.get(ref)
            # Not a file here: a process with blobs_in_database=True may have
            # written it to the table, which every machine can read.
            row = conn.execute("SELECT data FROM blobs WHERE ref = %s", (ref,)).fetchone()
            if row is not None:
                return verified(ref, bytes(row[0]), f"the blobs table of {self.url}")
            if files is not None:
                return files.get(ref)  # or BlobError naming the directory and the path
            raise BlobError(
                f"blob {ref} is missing from the blobs table of {self.url}"
                + ("" if files is None else f" and from {files.root}")
            )

        return fetch

    def get_snapshot(self, run_id: str) -> RunSnapshot | None:
        row = self._call(
            lambda conn: conn.execute(
                "SELECT snapshot FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
        )
        return None if row is None else RunSnapshot.model_validate_json(row[0])

    def iter_events(self, run_id: str) -> Iterator[RunEvent]:
        after = 0
        while True:

            def page(conn: psycopg.Connection[Any], after: int = after) -> list[Any]:
                rows = conn.execute(
                    "SELECT seq, payload, blobs FROM events WHERE run_id = %s AND seq > %s "
                    "ORDER BY seq LIMIT %s",
                    (run_id, after, _PAGE),
                ).fetchall()
                fetch = self._fetch_blob(conn)
                return [(seq, decode_event(payload, blobs, fetch)) for seq, payload, blobs in rows]

            events = self._call(page)
            for seq, event in events:
                after = seq
                yield event
            if len(events) < _PAGE:
                return

    def find_completed(
        self, work_keys: Sequence[str], *, prefer_run_id: str | None = None
    ) -> dict[str, RunEvent]:
        keys = list(work_keys)
        if not keys:
            return {}

        def query(conn: psycopg.Connection[Any]) -> dict[str, RunEvent]:
            rows = conn.execute(
                "SELECT DISTINCT ON (s.work_key) s.work_key, e.payload, e.blobs "
                "FROM stage_results s JOIN events e ON e.seq = s.event_seq "
                "WHERE s.work_key = ANY(%s) "
                "ORDER BY s.work_key, (s.run_id = %s) DESC, s.event_seq",
                (keys, prefer_run_id),
            ).fetchall()
            fetch = self._fetch_blob(conn)
            return {key: decode_event(payload, blobs, fetch) for key, payload, blobs in rows}

        return self._call(query)

    def latest_events(self, run_id: str, work_keys: Sequence[str]) -> dict[str, RunEvent]:
        keys = list(dict.fromkeys(work_keys))
        if not keys:
            return {}

        def query(conn: psycopg.Connection[Any]) -> dict[str, RunEvent]:
            rows = conn.execute(
                "SELECT w.work_key, e.payload, e.blobs FROM work_items w "
                "JOIN events e ON e.seq = w.event_seq "
                "WHERE w.run_id = %s AND w.stage = ANY(%s) AND w.work_key = ANY(%s)",
                (run_id, list(STAGES), keys),
            ).fetchall()
            fetch = self._fetch_blob(conn)
            return {key: decode_event(payload, blobs, fetch) for key, payload, blobs in rows}

        return self._call(query)

    def count_finished(
        self, run_id: str, case_keys: Sequence[str], stages: Sequence[str]
    ) -> dict[str, int]:
        keys = list(dict.fromkeys(case_keys))
        if not keys:
            return {}
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT case_key, count(*) FROM work_items WHERE run_id = %s "
                "AND case_key = ANY(%s) AND stage = ANY(%s) AND state <> 'failed' "
                "GROUP BY case_key",
                (run_id, keys, list(stages)),
            ).fetchall()
        )
        return {case_key: int(count) for case_key, count in rows}

    def work_items(self, run_id: str) -> list[WorkItemRow]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT run_id, stage, work_key, case_key, state, error FROM work_items "
                "WHERE run_id = %s",
                (run_id,),
            ).fetchall()
        )
        return [WorkItemRow(*row) for row in rows]

    def score_rows(self, run_id: str) -> list[ScoreRow]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT run_id, case_key, dataset_id, case_id, metric_id, value, outcome, "
                "error_category, error_message, details FROM score_rows WHERE run_id = %s "
                'ORDER BY case_key COLLATE "C", metric_id COLLATE "C"',
                (run_id,),
            ).fetchall()
        )
        return [ScoreRow(*row) for row in rows]

    def resume(self, run_id: str) -> StoredRun | None:
        row = self._call(
            lambda conn: conn.execute(
                "SELECT snapshot, status, completed_through_stage FROM runs WHERE run_id = %s",
                (run_id,),
            ).fetchone()
        )
        if row is None:
            return None
        return StoredRun(
            run_id=run_id,
            status=RunStatus(row[1]),
            completed_through_stage=row[2],
            snapshot=RunSnapshot.model_validate_json(row[0]),
        )

    def list_runs(self) -> list[StoredRun]:
        rows = self._call(
            lambda conn: conn.execute(
                "SELECT run_id, snapshot, status, completed_through_stage FROM runs "
                "ORDER BY ordinal"
            ).fetchall()
        )
        return [
            StoredRun(
                run_id=run_id,
                status=RunStatus(status),
                completed_through_stage=through,
                snapshot=RunSnapshot.model_validate_json(snapshot),
            )
            for run_id, snapshot, status, through in rows
        ]

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _text(value: str | None) -> str | None:
    """``value`` storable in a PostgreSQL text column, which cannot hold NUL.

    Only raw error messages need it: everything else is stored as JSON, which
    escapes control characters, and the event itself keeps the exact message.
    """
    return value.replace("\x00", "\ufffd") if value is not None and "\x00" in value else value


def _row_of(cursor: Any) -> tuple[Any, ...]:
    """The one row a query that always answers one row returned."""
    row = cursor.fetchone()
    assert row is not None
    return tuple(row)


def _upsert(cur: Any, statement: str, rows: dict[Any, tuple[Any, ...]]) -> None:
    """Run one ``unnest`` upsert over ``rows`` (a column array per parameter), in key order."""
    if rows:
        ordered = [rows[key] for key in sorted(rows)]
        cur.execute(statement, [list(column) for column in zip(*ordered, strict=True)])


def _driver() -> tuple[Any, Any]:
    """psycopg and psycopg_pool, or an ImportError naming the extra to install."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        hint = pip_install(CORE, "postgres")
        raise ImportError(f"the PostgreSQL store needs psycopg 3 and psycopg_pool: {hint}") from exc
    return psycopg, psycopg_pool


def postgres_store(
    url: str = "", *, blob_root: str | Path | None = None, **options: Any
) -> PostgresRunStore:
    """A ready-to-use PostgreSQL store at ``url`` (its schema created or migrated).

    ``url`` is a libpq URL or ``key=value`` string, e.g.
    ``postgresql://user:password@host:5432/dbname``; libpq's ``PG*``
    environment variables fill in what it leaves out. Large payloads go to
    files under a local directory, ``blob_root`` (by default
    ``$THEMIS_BLOB_ROOT`` or ``~/.local/share/themis/blobs``); with
    ``blobs_in_database=True`` they go to the store's ``blobs`` table instead,
    readable from every machine that reaches the database. Further options:
    ``schema`` (default ``"themis"``), ``blob_threshold``, ``pool_size``,
    ``connect_timeout_s``.
    """
    store = PostgresRunStore(url, blob_root=blob_root, **options)
    store.initialize()
    return store

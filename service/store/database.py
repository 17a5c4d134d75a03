"""The database: connection pool, units of work scoped to a tenant, reachability, and the
translation of driver errors into domain errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool
from opentelemetry import trace
from psycopg import errors as pg_errors

from service import deadlines
from service.errors import (
    AlreadyExists,
    EmailStoreError,
    InvalidArgument,
    TransientConflict,
    Unavailable,
)
from service.models import Caller
from service.store.blobs import BlobReads, BlobRepository
from service.store.dictionaries import DictionaryRepository
from service.store.events import EventRepository, StatsRepository
from service.store.export import ExportRepository
from service.store.feed import FeedRepository
from service.store.governance import GovernanceRepository
from service.store.messages import MessageRepository
from service.store.search import SearchRepository
from service.store.tenants import TenantRepository
from service.store.uploads import GcRepository, UploadRepository

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.store")

APP_ROLE = "emailstore_app"


AsyncConn = psycopg.AsyncConnection[Any]


class UnitOfWork:
    """The repositories of one transaction (or, for `reads`, of one autocommit connection),
    bound to its connection and tenant; made when first used."""

    def __init__(self, conn: AsyncConn, tenant_id: str | None) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self._messages: MessageRepository | None = None
        self._blobs: BlobRepository | None = None
        self._uploads: UploadRepository | None = None

    def _tenant(self) -> str:
        if self.tenant_id is None:
            raise RuntimeError("a control transaction has no tenant's repositories")
        return self.tenant_id

    @property
    def messages(self) -> MessageRepository:
        """Messages, content and attachment rows."""
        if self._messages is None:
            self._messages = MessageRepository(self.conn, self._tenant())
        return self._messages

    @property
    def blobs(self) -> BlobRepository:
        """Blobs, chunks and references."""
        if self._blobs is None:
            self._blobs = BlobRepository(self.conn, self._tenant())
        return self._blobs

    @property
    def uploads(self) -> UploadRepository:
        """Resumable upload sessions."""
        if self._uploads is None:
            self._uploads = UploadRepository(self.conn, self._tenant())
        return self._uploads

    @property
    def gc(self) -> GcRepository:
        """Garbage collection (the tenant's; or, in a control transaction, the tenant list)."""
        return GcRepository(self.conn, self.tenant_id)

    @property
    def tenants(self) -> TenantRepository:
        """The control-plane list of tenants with mail."""
        return TenantRepository(self.conn, self.tenant_id)

    @property
    def dictionaries(self) -> DictionaryRepository:
        """The tenant's zstd dictionaries."""
        return DictionaryRepository(self.conn, self._tenant())

    @property
    def events(self) -> EventRepository:
        """Status events and the messages' lifecycles."""
        return EventRepository(self.conn, self._tenant())

    @property
    def stats(self) -> StatsRepository:
        """Campaign statistics."""
        return StatsRepository(self.conn, self._tenant())

    @property
    def search(self) -> SearchRepository:
        """SearchMessages."""
        return SearchRepository(self.conn, self._tenant())

    @property
    def feed(self) -> FeedRepository:
        """The change feed (the tenant's; or, in a control transaction, every tenant's)."""
        return FeedRepository(self.conn, self.tenant_id)

    @property
    def export(self) -> ExportRepository:
        """ExportMessages' count of a filter's messages."""
        return ExportRepository(self.conn, self._tenant())

    @property
    def governance(self) -> GovernanceRepository:
        """Legal holds, retention, purge and erasure records."""
        return GovernanceRepository(self.conn, self.tenant_id)

    @property
    def reads(self) -> BlobReads:
        """Single-statement blob reads that scope themselves to the tenant."""
        return BlobReads(self.conn, self._tenant())


def _connect_kwargs() -> dict[str, Any]:
    # UTC everywhere; a short connect timeout so a dead server is noticed within seconds.
    return {"options": "-c timezone=UTC", "connect_timeout": 5}


async def _configure(conn: AsyncConn) -> None:
    # Queries run as a role that neither owns the tables nor bypasses RLS. Autocommit: a
    # single statement is its own transaction (no BEGIN and COMMIT to send and parse), and
    # units of work of several statements open theirs explicitly.
    await conn.execute(f"SET ROLE {APP_ROLE}")
    await conn.commit()
    await conn.set_autocommit(True)


# The tenant that row-level security shows a connection, for the session (not one
# transaction): set again only when the connection serves another tenant. app_tenant() reads
# an empty value as no tenant at all (no rows).
_SET_TENANT = "SELECT set_config('app.tenant_id', %s, false)"
_NO_TENANT = ""


def _db_span(name: str) -> AbstractContextManager[trace.Span]:
    """The client span of one database call or transaction."""
    return tracer.start_as_current_span(
        f"db {name}",
        kind=trace.SpanKind.CLIENT,
        attributes={"db.system": "postgresql", "db.operation.name": name},
    )


@asynccontextmanager
async def translate_errors(
    on_unreachable: Callable[[], None] | None = None,
) -> AsyncIterator[None]:
    """Turns driver errors into domain errors at the store boundary; on_unreachable is told
    when the database did not answer."""
    try:
        yield
    except EmailStoreError:
        raise
    except pg_errors.UniqueViolation as exc:
        raise AlreadyExists(f"already exists: {exc.diag.constraint_name}") from exc
    except pg_errors.TransactionRollback as exc:
        # Deadlock or serialization failure: nothing was written, and trying again will work.
        raise TransientConflict("transaction conflicted with a concurrent one; retry") from exc
    except psycopg_pool.PoolTimeout as exc:
        if on_unreachable is not None:
            on_unreachable()
        raise Unavailable("database busy or unreachable: no connection available") from exc
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        if on_unreachable is not None:
            on_unreachable()
        raise Unavailable("database unreachable") from exc
    except psycopg.DataError as exc:
        # A value the database cannot hold (a NUL in text, a number out of its type's range):
        # the request's doing. Validation is meant to catch these first; the log says where
        # one slipped through.
        log.warning("a request value could not be stored", exc_info=True)
        detail = exc.diag.message_primary or str(exc)
        raise InvalidArgument(f"a value of the request cannot be stored: {detail}") from exc


class Database:
    """An async pool of connections running as the application role."""

    def __init__(self, conninfo: str, *, min_size: int, max_size: int, timeout_s: float) -> None:
        self.conninfo = conninfo
        self.pool = psycopg_pool.AsyncConnectionPool(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout_s,
            kwargs=_connect_kwargs(),
            configure=_configure,
            open=False,
            name="emailstore",
            # Give up reconnecting a slot quickly; a later checkout opens a fresh one.
            reconnect_timeout=30.0,
        )
        self.timeout_s = timeout_s
        self._page_token_secret: bytes | None = None
        # Whether the database answers, as the health watcher last found (set_reachable).
        # While it does not, every call fails at once instead of waiting for a connection.
        self.reachable = True
        self._outage = asyncio.Event()  # set while unreachable: wakes waiters for connections
        self._suspicion = asyncio.Event()  # a call just failed to reach the database
        # The tenant each connection's session is known to be scoped to (see _SET_TENANT).
        # A connection missing here may be scoped to anyone: it is set before it is used.
        self._scoped: weakref.WeakKeyDictionary[AsyncConn, str] = weakref.WeakKeyDictionary()

    async def open(self, *, wait_s: float = 30.0) -> None:
        """Opens the pool and waits until min_size connections work."""
        try:
            await self.pool.open(wait=True, timeout=wait_s)
        except psycopg_pool.PoolTimeout as exc:
            raise Unavailable(f"cannot open the database pool within {wait_s:.0f}s") from exc

    async def close(self) -> None:
        """Closes every connection."""
        await self.pool.close()

    # ------------------------------------------------------------ reachability

    def set_reachable(self, reachable: bool) -> None:
        """Records what the health watcher found; unreachable makes every call fail fast."""
        self.reachable = reachable
        if reachable:
            self._outage.clear()
        else:
            self._outage.set()

    def _suspect(self) -> None:
        self._suspicion.set()

    async def wait_for_suspicion(self, timeout_s: float) -> None:
        """Returns after timeout_s, or as soon as a call fails to reach the database (so that
        the health watcher probes at once)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._suspicion.wait(), timeout_s)
        self._suspicion.clear()

    def _wait_budget(self) -> float:
        """How long to wait for a pooled connection: the pool timeout, and never past the
        caller's deadline (a little before it, so the caller hears UNAVAILABLE and knows
        nothing ran)."""
        left = deadlines.remaining()
        if left is None:
            return self.timeout_s
        budget = min(self.timeout_s, left - min(0.05, left / 10))
        if budget <= 0:
            raise Unavailable("the call's deadline leaves no time to wait for the database")
        return budget

    async def _getconn(self) -> AsyncConn:
        if not self.reachable:
            raise Unavailable("database unreachable (health NOT_SERVING); retry later")
        budget = self._wait_budget()
        if self.pool.get_stats().get("pool_available", 0):
            return await self.pool.getconn(budget)
        # Every connection is busy, or gone with the server: wait, but stop as soon as the
        # health watcher finds the database unreachable rather than at the end of the wait.
        get = asyncio.ensure_future(self.pool.getconn(budget))
        outage = asyncio.ensure_future(self._outage.wait())
        try:
            await asyncio.wait((get, outage), return_when=asyncio.FIRST_COMPLETED)
        finally:
            outage.cancel()
            if not get.done():
                get.cancel()
                await asyncio.wait((get,))  # the pool hands back a connection given meanwhile
        if get.cancelled():
            raise Unavailable("database unreachable (health NOT_SERVING); retry later")
        return get.result()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConn]:
        """A pooled connection in autocommit mode, returned after the block; Unavailable at
        once while the database is unreachable, and after waiting at most the pool timeout or
        the caller's remaining deadline, whichever is shorter."""
        async with translate_errors(self._suspect):
            conn = await self._getconn()
            try:
                yield conn
            finally:
                await self.pool.putconn(conn)

    @asynccontextmanager
    async def _scoped_transaction(
        self, tenant_id: str, name: str, *, pipeline: bool
    ) -> AsyncIterator[AsyncConn]:
        """A transaction whose session shows the tenant's rows (or, for _NO_TENANT, none)."""
        with _db_span(name):
            async with self.connection() as conn:
                # Unknown until this commits: a rolled-back set_config is undone with the rest.
                known = self._scoped.pop(conn, None)
                batched: contextlib.AbstractAsyncContextManager[object] = (
                    conn.pipeline() if pipeline else contextlib.nullcontext()
                )
                async with batched, conn.transaction():
                    if known != tenant_id:
                        await conn.execute(_SET_TENANT, (tenant_id,), prepare=True)
                    yield conn
                self._scoped[conn] = tenant_id

    @asynccontextmanager
    async def tenant(
        self, caller: Caller, name: str, *, pipeline: bool = False
    ) -> AsyncIterator[UnitOfWork]:
        """One transaction scoped to the caller's tenant: row-level security shows only its
        rows. Pipeline mode sends the statements without waiting for each result: worth it
        for many writes in a row (upload chunks); for a few statements on this machine it
        costs more driver CPU than the round trips it saves (docs/performance.md)."""
        async with self._scoped_transaction(caller.tenant_id, name, pipeline=pipeline) as conn:
            yield UnitOfWork(conn, caller.tenant_id)

    @asynccontextmanager
    async def statement(self, caller: Caller, name: str) -> AsyncIterator[UnitOfWork]:
        """Statements scoped to the caller's tenant, each its own transaction (autocommit: no
        BEGIN or COMMIT): for reads (under READ COMMITTED, a transaction would not give
        several reads one snapshot either), and for writes that are one statement whole."""
        with _db_span(name):
            async with self.connection() as conn:
                if self._scoped.get(conn) != caller.tenant_id:
                    self._scoped.pop(conn, None)
                    await conn.execute(_SET_TENANT, (caller.tenant_id,), prepare=True)
                    self._scoped[conn] = caller.tenant_id
                yield UnitOfWork(conn, caller.tenant_id)

    @asynccontextmanager
    async def control(self, name: str) -> AsyncIterator[UnitOfWork]:
        """A transaction on the control plane (tables without tenants: `gc.tenants`), on a
        session that shows no tenant's rows."""
        async with self._scoped_transaction(_NO_TENANT, name, pipeline=False) as conn:
            yield UnitOfWork(conn, None)

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the server answers a query on a fresh connection within timeout_s."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.conninfo, connect_timeout=max(1, int(timeout_s)), autocommit=True
            )
        except (psycopg.Error, OSError):
            return False
        try:
            await conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False
        finally:
            await conn.close()

    async def refresh_pool(self) -> None:
        """Drops pooled connections that broke while the server was away."""
        try:
            await self.pool.check()
        except psycopg.Error:
            log.debug("pool check failed", exc_info=True)

    async def page_token_secret(self) -> bytes:
        """The HMAC key for page tokens kept in the database (made by the first migration)."""
        if self._page_token_secret is None:
            self._page_token_secret = await self.secret("page_token")
        return self._page_token_secret

    async def secret(self, name: str) -> bytes:
        """A key the migrations made and keep in the database (service_secrets)."""
        async with self.connection() as conn:
            cur = await conn.execute("SELECT value FROM service_secrets WHERE name = %s", (name,))
            row = await cur.fetchone()
        if row is None:
            raise Unavailable(f"secret {name!r} missing: run `emailstore migrate`")
        return bytes(row[0])

"""Row-level security: tenants never see each other's rows, and no tenant means no rows."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from service import models
from service.app import App
from service.config import Config
from service.core.messages import MessageService
from service.models import Caller
from service.store.database import APP_ROLE, Database
from tests.factories import store_input

TENANT_TABLES = (
    "email_messages",
    "email_content",
    "attachments",
    "blobs",
    "blob_chunks",
    "message_events",
    "changes",
)
# Indexes that cannot or must not lead with tenant_id, and why; row-level security and the
# statements' tenant filters still scope what they find.
NOT_TENANT_LED = {
    "email_messages_search_vector": "GIN, and the embedded PostgreSQL has no btree_gin",
    "email_messages_search_addresses": "GIN (pg_trgm), and no btree_gin",
    "changes_pending": "the sequencer numbers every tenant's changes in one pass",
    "changes_at": "pruning removes every tenant's old changes",
}


def _app_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    conn = psycopg.connect(url)
    conn.execute(f"SET ROLE {APP_ROLE}")
    return conn


async def test_query_without_tenant_sees_no_rows(
    messages: MessageService, database_url: str, tenant: str
) -> None:
    """A query that sets no tenant and has no tenant filter returns nothing, in every table."""
    attachment = (models.AttachmentInput(filename="a.pdf", content=b"%PDF"),)
    await messages.store_message(Caller(tenant), store_input(attachments=attachment))
    with _app_connection(database_url) as conn:
        for table in TENANT_TABLES:
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert count == (0,), table


async def test_tenant_never_sees_another_tenants_rows(
    messages: MessageService, database_url: str, tenant: str
) -> None:
    """Tenant B, querying every table without a tenant filter, sees only its own rows."""
    other = "7b0c1d1e-0000-4000-8000-000000000002"
    pdf = (models.AttachmentInput(filename="a.pdf", content=b"%PDF same bytes"),)
    await messages.store_message(Caller(tenant), store_input(subject="for A", attachments=pdf))
    await messages.store_message(Caller(other), store_input(subject="for B", attachments=pdf))
    with _app_connection(database_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (other,))
        for table in TENANT_TABLES:
            tenants = {r[0] for r in conn.execute(f"SELECT DISTINCT tenant_id::text FROM {table}")}
            # Stores write no events; every other table holds rows of both tenants here.
            assert tenants == (set() if table == "message_events" else {other}), table
        subjects = [r[0] for r in conn.execute("SELECT subject FROM email_messages")]
        assert subjects == ["for B"]


def test_tenant_cannot_write_rows_for_another_tenant(database_url: str, tenant: str) -> None:
    """The policy's WITH CHECK refuses a row whose tenant_id is not the transaction's."""
    with _app_connection(database_url) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (tenant,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO blobs (tenant_id, sha256, size_bytes, stored_size_bytes, codec,"
                " chunk_size, chunk_count, refcount) VALUES"
                " ('7b0c1d1e-0000-4000-8000-000000000002', decode(repeat('00', 32), 'hex'),"
                " 0, 0, 'none', 262144, 0, 1)"
            )


def test_application_role_is_neither_owner_nor_superuser(database_url: str) -> None:
    """The service's role cannot bypass RLS: not a superuser, no BYPASSRLS, owns no table."""
    with _app_connection(database_url) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False)
        owned = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user"
        ).fetchone()
        assert owned == (0,)
        forced = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relrowsecurity AND relforcerowsecurity",
            (list(TENANT_TABLES),),
        ).fetchall()
        assert sorted(r[0] for r in forced) == sorted(TENANT_TABLES)


def test_every_tenant_index_leads_with_tenant_id(database_url: str) -> None:
    """tenant_id is the first column of every index of every tenant table, but the few
    that say why not (NOT_TENANT_LED)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.relname, i.relname, a.attname FROM pg_index x"
            " JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0]"
            " WHERE c.relname = ANY(%s)",
            (list(TENANT_TABLES),),
        ).fetchall()
    assert rows, "no indexes found"
    led_otherwise = {index for _, index, first in rows if first != "tenant_id"}
    assert led_otherwise == set(NOT_TENANT_LED)


async def test_read_functions_leave_no_tenant_behind(
    messages: MessageService, database_url: str, tenant: str
) -> None:
    """The one-statement read functions set the tenant for their own statement only: the
    next statement on the same connection sees nothing, and another tenant's digest finds
    nothing."""
    attachment = (models.AttachmentInput(filename="a.pdf", content=b"%PDF" * 1000),)
    stored = await messages.store_message(Caller(tenant), store_input(attachments=attachment))
    sha = bytes.fromhex(stored.message.attachments[0].sha256)
    with _app_connection(database_url) as conn:
        conn.commit()  # keep SET ROLE, then one transaction per statement
        conn.autocommit = True
        found = conn.execute(
            "SELECT count(*) FROM emailstore_read_chunks(%s, %s, 0, 10)", (tenant, sha)
        ).fetchone()
        assert found == (1,)
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (0,)
        opened = conn.execute(
            "SELECT seq FROM emailstore_open_blob(%s, %s, NULL, NULL, 0, 0, 4)", (tenant, sha)
        ).fetchall()
        assert opened == [(None,), (0,)]  # the blob's row, then its one chunk
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (0,)
        other = "7b0c1d1e-0000-4000-8000-000000000003"
        assert conn.execute(
            "SELECT count(*) FROM emailstore_find_blob(%s, %s, NULL, NULL)", (other, sha)
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM emailstore_open_blob(%s, %s, NULL, NULL, 0, 0, 4)", (other, sha)
        ).fetchone() == (0,)


async def test_one_connection_serving_tenants_in_turn_shows_each_only_its_rows(
    database_url: str, tenant: str
) -> None:
    """The tenant is a session setting, kept while a connection serves the same tenant: a
    connection that moves between tenants, rolls back, or serves the control plane shows each
    unit exactly its own rows (one connection in the pool, so every unit reuses it)."""
    other = "7b0c1d1e-0000-4000-8000-000000000003"
    db = Database(database_url, min_size=1, max_size=1, timeout_s=5.0)
    await db.open()
    app_config = Config(listen="127.0.0.1:0")
    application = App(app_config, database_url, pool_size=1)
    await application.open()
    try:
        cases = application.messages
        await cases.store_message(Caller(tenant), store_input(subject="for A"))
        await cases.store_message(Caller(other), store_input(subject="for B"))

        async def subjects(unit: Any) -> list[str]:
            async with unit as tx:
                cur = await tx.conn.execute("SELECT subject FROM email_messages")
                return [r[0] for r in await cur.fetchall()]

        for _ in range(2):
            assert await subjects(db.statement(Caller(tenant), "t")) == ["for A"]
            assert await subjects(db.tenant(Caller(other), "t")) == ["for B"]
            assert await subjects(db.statement(Caller(other), "t")) == ["for B"]
            assert await subjects(db.control("t")) == []
        # A unit that fails after moving the session to a tenant undoes the move with the rest.
        with pytest.raises(RuntimeError):
            async with db.tenant(Caller(tenant), "t"):
                raise RuntimeError("rolled back")
        assert await subjects(db.statement(Caller(other), "t")) == ["for B"]
        with pytest.raises(RuntimeError):
            async with db.tenant(Caller(tenant), "t"):
                raise RuntimeError("rolled back")
        assert await subjects(db.control("t")) == []
        assert await subjects(db.tenant(Caller(tenant), "t")) == ["for A"]
    finally:
        await application.close()
        await db.close()

"""The yardstick for message writes: what a user could write instead, with no service at all.

A bare psycopg script that stores the same fields of each message as two rows: a metadata row
(indexed for listing a campaign newest first) and a content row holding the headers and the
zstd-compressed text and HTML bodies. One transaction per message, concurrent tasks on a
pool. It shares no code or SQL with the service: no deduplication, no idempotency, no tenant
isolation, no threading, no tracing; just the rows.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import psycopg
import psycopg_pool
import zstandard

from benchmarks import harness
from benchmarks.corpus import ColdEmail

SCHEMA = """
CREATE TABLE bare_messages (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, email_account_id text NOT NULL,
    campaign_id text NOT NULL, lead_id text NOT NULL, direction text NOT NULL,
    status text NOT NULL, from_email text NOT NULL, from_name text NOT NULL,
    to_email text NOT NULL, to_name text NOT NULL, subject text NOT NULL,
    message_id_header text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, storage_key)
);
CREATE INDEX bare_messages_campaign ON bare_messages (tenant_id, campaign_id, created_at DESC);
CREATE TABLE bare_content (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, headers jsonb NOT NULL,
    text_zstd bytea NOT NULL, html_zstd bytea NOT NULL,
    PRIMARY KEY (tenant_id, storage_key)
);
"""

INSERT_MESSAGE = """
INSERT INTO bare_messages (tenant_id, storage_key, email_account_id, campaign_id, lead_id,
    direction, status, from_email, from_name, to_email, to_name, subject, message_id_header)
VALUES (%s, %s, %s, %s, %s, 'outbound', 'queued', %s, %s, %s, %s, %s, %s)
"""
INSERT_CONTENT = """
INSERT INTO bare_content (tenant_id, storage_key, headers, text_zstd, html_zstd)
VALUES (%s, %s, %s, %s, %s)
"""


def create_schema(url: str) -> None:
    """The two tables, in a database of their own."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA)


async def run(
    url: str, emails: list[ColdEmail], *, warmup: int, concurrency: int, pool_size: int
) -> tuple[int, float]:
    """Stores the emails (after `warmup` of them); (messages measured, seconds)."""
    tenant = str(uuid.uuid4())
    compressor = zstandard.ZstdCompressor(level=3)
    pool = psycopg_pool.AsyncConnectionPool(url, min_size=pool_size, max_size=pool_size, open=False)
    await pool.open(wait=True)

    async def store(email: ColdEmail) -> None:
        key = f"bare_{uuid.uuid4().hex}"
        text = compressor.compress(email.text.encode())
        html = compressor.compress(email.html.encode())
        async with pool.connection() as conn, conn.pipeline(), conn.transaction():
            await conn.execute(
                INSERT_MESSAGE,
                (
                    tenant,
                    key,
                    email.from_email or "acct-1",
                    email.campaign_id or "camp-bench",
                    email.lead_id,
                    email.from_email or "sam@acme.io",
                    email.from_name,
                    email.to_email,
                    email.to_name,
                    email.subject,
                    email.message_id or f"<{key}@acme.io>",
                ),
            )
            await conn.execute(
                INSERT_CONTENT,
                (tenant, key, json.dumps([list(h) for h in email.headers]), text, html),
            )

    try:
        await harness.run_concurrently(emails[:warmup], concurrency, store)
        await harness.analyze(url)
        seconds = await harness.run_concurrently(emails[warmup:], concurrency, store)
    finally:
        await pool.close()
    return len(emails) - warmup, seconds


async def run_same_statement(
    url: str, emails: list[ColdEmail], *, warmup: int, concurrency: int, pool_size: int
) -> tuple[int, float]:
    """The service's own insert, by bare psycopg: each message made by the service's code
    beforehand (validated, hashed, packed), then inserted with `MessageRepository.insert`, one
    transaction per message, concurrent tasks on a pool; no gRPC, no group commit. What the
    schema and its statement cost, next to the two rows above. `url` is a migrated database."""
    from benchmarks.requests import store_request
    from service.api import convert
    from service.config import Config
    from service.core import drafts, messages, validation
    from service.core.writer import blob_writes, ready
    from service.models import Caller, Thread
    from service.store.database import APP_ROLE
    from service.store.messages import MessageRepository

    config = Config()
    tenant = str(uuid.uuid4())
    caller = Caller(tenant)
    packing = drafts.Packing(config.zstd_level, config.inline_max_bytes)
    prepared = []
    for email in emails:
        valid = validation.store_message(
            convert.store_request(store_request(tenant, email)), config
        )
        new = drafts.build(messages.draft(caller, valid), packing, config.message_id_domain)
        prepared.append((ready(new, {}, Thread(new.new_thread_id)), blob_writes([new])))

    async def configure(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        await conn.commit()

    pool = psycopg_pool.AsyncConnectionPool(
        url, min_size=pool_size, max_size=pool_size, configure=configure, open=False
    )
    await pool.open(wait=True)

    async def store(item: Any) -> None:
        row, blobs = item
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
            await MessageRepository(conn, tenant).insert([row], blobs)

    try:
        await harness.run_concurrently(prepared[:warmup], concurrency, store)
        await harness.analyze(url)
        seconds = await harness.run_concurrently(prepared[warmup:], concurrency, store)
    finally:
        await pool.close()
    return len(emails) - warmup, seconds


async def read_times(url: str, count: int) -> list[float]:
    """Seconds of each of `count` reads of a stored message (both rows, the bodies
    decompressed, the headers parsed), one at a time on one connection; the first 20 warm up."""
    decompressor = zstandard.ZstdDecompressor()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT tenant_id, storage_key FROM bare_messages LIMIT %s", (count,)
        )
        keys = await cur.fetchall()
        times = []
        for i, (tenant, key) in enumerate(keys):
            start = time.perf_counter()
            cur = await conn.execute(
                "SELECT m.*, c.headers, c.text_zstd, c.html_zstd FROM bare_messages m"
                " JOIN bare_content c USING (tenant_id, storage_key)"
                " WHERE m.tenant_id = %s AND m.storage_key = %s",
                (tenant, key),
            )
            row = await cur.fetchone()
            assert row is not None
            text = decompressor.decompress(row[-2]).decode()
            html = decompressor.decompress(row[-1]).decode()
            if not (text and html and row[-3] is not None):
                raise RuntimeError(f"{key}: empty")
            if i >= 20:
                times.append(time.perf_counter() - start)
    return times

"""Storing, reading, deduplicating and deleting messages on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import os

import psycopg
import pytest

from service import models
from service.app import App
from service.config import Config
from service.core.gc import GarbageCollector
from service.core.messages import MessageService
from service.errors import AlreadyExists, FailedPrecondition, NotFound
from service.models import Caller
from tests.factories import HTML, store_input


@pytest.fixture
def config() -> Config:
    """Bodies as blobs (none in packs): these tests are of dedup and reference counting.
    Packs are tested in tests/store/test_packs.py."""
    return Config(listen="127.0.0.1:0", inline_max_bytes=0)


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


async def test_round_trip_full_view(messages: MessageService, tenant: str) -> None:
    """What was stored comes back: addresses, subject, headers in order, both bodies, attachments."""
    request = store_input(
        cc=(models.Address("boss@example.com"),),
        headers=(models.Header("X-B", "2"), models.Header("X-A", "1"), models.Header("X-B", "3")),
        attachments=(
            models.AttachmentInput(
                filename="deck.pdf", mime_type="application/pdf", content=b"%PDF-1.7 deck"
            ),
        ),
        labels={"step": "1"},
    )
    stored = await messages.store_message(Caller(tenant), request)
    got = await messages.get_message(Caller(tenant), stored.message.storage_key, models.View.FULL)
    assert got.envelope.subject == request.envelope.subject
    assert got.content.text_body == request.content.text_body
    assert got.content.html_body == request.content.html_body
    assert got.content.headers == request.content.headers
    assert got.envelope.cc == (models.Address("boss@example.com"),)
    assert got.labels == {"step": "1"}
    assert [(a.filename, a.size_bytes, a.sha256) for a in got.attachments] == [
        ("deck.pdf", 13, hashlib.sha256(b"%PDF-1.7 deck").hexdigest())
    ]
    assert got.kind.status is models.MessageStatus.QUEUED
    assert got.envelope.message_id_header == f"<{stored.message.storage_key}@emailstore.invalid>"
    assert (
        got.size.raw_size_bytes
        == len(request.content.text_body) + len(request.content.html_body.encode()) + 13
    )


async def test_metadata_view_has_no_bodies(messages: MessageService, tenant: str) -> None:
    """METADATA leaves out headers and bodies but keeps the attachment list."""
    stored = await messages.store_message(
        Caller(tenant),
        store_input(attachments=(models.AttachmentInput(filename="a.txt", content=b"a"),)),
    )
    got = await messages.get_message(
        Caller(tenant), stored.message.storage_key, models.View.METADATA
    )
    assert got.content is None  # no headers, no bodies
    assert [a.filename for a in got.attachments] == ["a.txt"]


async def test_identical_html_in_1000_messages_is_stored_once(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """1,000 messages with one HTML body: one blob for it, and usage shows the dedup saving."""
    html = HTML.format(name="there", company="your company") * 4
    sem = asyncio.Semaphore(8)

    async def store(i: int) -> None:
        async with sem:
            await messages.store_message(
                Caller(tenant),
                store_input(html_body=html, text_body=f"Hi lead {i}", lead_id=f"lead-{i}"),
            )

    await asyncio.gather(*(store(i) for i in range(1000)))
    usage = await messages.storage_usage(Caller(tenant))
    assert usage.message_count == 1000
    # 1,000 distinct text bodies + 1 shared HTML body.
    assert usage.blob_count == 1001
    html_bytes = len(html.encode())
    assert usage.saved_by_dedup_bytes == 999 * html_bytes
    assert usage.saved_by_compression_bytes > 0
    assert (
        usage.raw_bytes
        == usage.stored_bytes + usage.saved_by_dedup_bytes + usage.saved_by_compression_bytes
    )
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT refcount FROM blobs WHERE sha256 = %s",
            (hashlib.sha256(html.encode()).digest(),),
        ).fetchall()
    assert rows == [(1000,)]


async def test_incompressible_content_is_stored_raw(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """Random bytes (like a JPEG) are kept with codec none: stored size equals raw size."""
    data = os.urandom(300_000)
    await messages.store_message(
        Caller(tenant),
        store_input(attachments=(models.AttachmentInput(filename="p.jpg", content=data),)),
    )
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT codec, size_bytes, stored_size_bytes, chunk_count FROM blobs WHERE sha256 = %s",
            (hashlib.sha256(data).digest(),),
        ).fetchone()
    assert row == ("none", 300_000, 300_000, 2)


async def test_delete_frees_unshared_blobs_and_keeps_shared_ones(
    app: App, messages: MessageService, tenant: str, database_url: str
) -> None:
    """Deleting one of two messages sharing an HTML body keeps it; deleting both frees it."""
    first = await messages.store_message(Caller(tenant), store_input(text_body="one"))
    second = await messages.store_message(Caller(tenant), store_input(text_body="two"))
    await messages.delete_message(Caller(tenant), first.message.storage_key)
    usage = await messages.storage_usage(Caller(tenant))
    assert (usage.message_count, usage.blob_count) == (1, 2)
    got = await messages.get_message(Caller(tenant), second.message.storage_key, models.View.FULL)
    assert got.content.html_body == store_input().content.html_body
    await messages.delete_message(Caller(tenant), second.message.storage_key)
    usage = await messages.storage_usage(Caller(tenant))
    assert (usage.message_count, usage.blob_count, usage.stored_bytes) == (0, 0, 0)
    assert usage.pending_gc_bytes > 0
    # Within the grace period the collector keeps the bytes; after it, they are freed.
    assert (await GarbageCollector(app.db, grace_s=3600).collect()).blobs == 0
    assert (await GarbageCollector(app.db, grace_s=0).collect()).blobs == 3
    assert (await messages.storage_usage(Caller(tenant))).pending_gc_bytes == 0
    for table in ("blobs", "blob_chunks", "email_content", "attachments", "email_messages"):
        assert _count(database_url, table) == 0, table
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gc_pending").fetchone() == (0,)


async def test_delete_unknown_message_is_not_found(messages: MessageService, tenant: str) -> None:
    """Deleting a key that does not exist is NOT_FOUND."""
    with pytest.raises(NotFound):
        await messages.delete_message(Caller(tenant), "email_missing")


async def test_repeated_request_id_writes_nothing(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """A retry with the same request_id returns the first message, deduplicated, no new rows."""
    request = store_input(request_id="req-1")
    first = await messages.store_message(Caller(tenant), request)
    again = await messages.store_message(Caller(tenant), request)
    assert again.deduplicated
    assert not first.deduplicated
    assert again.message.storage_key == first.message.storage_key
    assert _count(database_url, "email_messages") == 1
    with psycopg.connect(database_url) as conn:
        refcounts = sorted(r[0] for r in conn.execute("SELECT refcount FROM blobs"))
    assert refcounts == [1, 1]


async def test_request_id_reused_for_other_content_is_already_exists(
    messages: MessageService, tenant: str
) -> None:
    """The same request_id with a different request is refused, not silently deduplicated."""
    await messages.store_message(Caller(tenant), store_input(request_id="req-1"))
    with pytest.raises(AlreadyExists, match="request_id"):
        await messages.store_message(
            Caller(tenant), store_input(request_id="req-1", subject="other")
        )


async def test_caller_storage_key_is_idempotent_for_same_content(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """A caller storage_key stored twice with identical content is one message."""
    request = store_input(storage_key="crm-42")
    await messages.store_message(Caller(tenant), request)
    again = await messages.store_message(Caller(tenant), request)
    assert again.deduplicated
    assert again.message.storage_key == "crm-42"
    assert _count(database_url, "email_messages") == 1
    with pytest.raises(AlreadyExists, match="crm-42"):
        await messages.store_message(
            Caller(tenant), store_input(storage_key="crm-42", subject="changed")
        )


async def test_concurrent_repeats_store_one_message(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """Ten concurrent retries of one request: one stored, nine deduplicated."""
    request = store_input(request_id="req-race", storage_key="race-1")
    results = await asyncio.gather(
        *(messages.store_message(Caller(tenant), request) for _ in range(10))
    )
    assert sorted(r.deduplicated for r in results) == [False] + [True] * 9
    assert _count(database_url, "email_messages") == 1


async def test_unknown_blob_reference_writes_nothing(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """An attachment naming a digest the tenant lacks fails whole: no message, no blob."""
    missing = "ab" * 32
    with pytest.raises(FailedPrecondition, match=missing):
        await messages.store_message(
            Caller(tenant),
            store_input(attachments=(models.AttachmentInput(filename="x", blob_sha256=missing),)),
        )
    for table in ("email_messages", "blobs", "blob_chunks", "email_content", "attachments"):
        assert _count(database_url, table) == 0, table


async def test_attachment_by_digest_reuses_stored_bytes(
    messages: MessageService, tenant: str
) -> None:
    """A second message can attach bytes the tenant already has by their SHA-256."""
    pdf = b"%PDF deck " * 1000
    first = await messages.store_message(
        Caller(tenant),
        store_input(attachments=(models.AttachmentInput(filename="deck.pdf", content=pdf),)),
    )
    digest = first.message.attachments[0].sha256
    second = await messages.store_message(
        Caller(tenant),
        store_input(
            text_body="follow-up",
            attachments=(models.AttachmentInput(filename="deck.pdf", blob_sha256=digest),),
        ),
    )
    assert second.message.attachments[0].size_bytes == len(pdf)
    usage = await messages.storage_usage(Caller(tenant))
    assert usage.saved_by_dedup_bytes >= len(pdf)


async def test_reply_joins_the_thread_of_the_message_it_answers(
    messages: MessageService, tenant: str
) -> None:
    """In-Reply-To naming a stored Message-ID puts the reply in that thread, with its parent."""
    outbound = await messages.store_message(Caller(tenant), store_input())
    reply = await messages.store_message(
        Caller(tenant),
        store_input(
            direction=models.Direction.INBOUND,
            from_address=models.Address("jane@example.com"),
            to=(models.Address("sam@acme.io"),),
            in_reply_to=outbound.message.envelope.message_id_header,
            references=(outbound.message.envelope.message_id_header,),
        ),
    )
    assert reply.message.thread.thread_id == outbound.message.thread.thread_id
    assert reply.message.thread.parent_storage_key == outbound.message.storage_key
    assert reply.message.kind.status is models.MessageStatus.RECEIVED
    unrelated = await messages.store_message(Caller(tenant), store_input(in_reply_to="<nope@x>"))
    assert unrelated.message.thread.thread_id != outbound.message.thread.thread_id


async def test_other_tenant_cannot_read_or_delete(messages: MessageService, tenant: str) -> None:
    """Another tenant's key is NOT_FOUND for reads and deletes."""
    stored = await messages.store_message(Caller(tenant), store_input())
    other = "7b0c1d1e-0000-4000-8000-000000000009"
    with pytest.raises(NotFound):
        await messages.get_message(Caller(other), stored.message.storage_key, models.View.FULL)
    with pytest.raises(NotFound):
        await messages.delete_message(Caller(other), stored.message.storage_key)
    assert await messages.get_message(
        Caller(tenant), stored.message.storage_key, models.View.METADATA
    )

"""The rules of core, on in-memory fakes of the store: idempotency, threading, default status,
preconditions, sizes, group commit (no PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import models
from service.codec.ingest import parse_raw
from service.config import Config
from service.core import drafts, idempotency, threading, validation
from service.core.ingest import raw_draft
from service.core.messages import draft
from service.core.ports import NewMessage, StoredMessage, ThreadCandidate
from service.core.writer import CONFLICT, MessageWriter, blob_writes, ready
from service.errors import AlreadyExists, FailedPrecondition
from service.models import (
    Caller,
    Direction,
    Envelope,
    Message,
    MessageStatus,
    RawMessageInput,
    Thread,
)
from tests.factories import store_input
from tests.unit.fakes import FakeDatabase

CONFIG = Config()
TENANT = str(uuid.uuid4())
CALLER = Caller(TENANT)


def _new(**overrides: Any) -> NewMessage:
    valid = validation.store_message(store_input(**overrides), CONFIG)
    packing = drafts.Packing(CONFIG.zstd_level, CONFIG.inline_max_bytes)
    return drafts.build(draft(CALLER, valid), packing, CONFIG.message_id_domain)


def _writer(db: FakeDatabase) -> MessageWriter:
    return MessageWriter(db, max_batch=64, concurrency=1)  # a fake: only what the writer uses


# ----------------------------------------------------------------- default status


@pytest.mark.parametrize(
    ("direction", "sent_at", "expected"),
    [
        (Direction.OUTBOUND, None, MessageStatus.QUEUED),
        (Direction.OUTBOUND, datetime(2026, 1, 1, tzinfo=UTC), MessageStatus.SENT),
        (Direction.INBOUND, None, MessageStatus.RECEIVED),
        (Direction.INBOUND, datetime(2026, 1, 1, tzinfo=UTC), MessageStatus.RECEIVED),
    ],
)
def test_store_message_default_status(
    direction: Direction, sent_at: datetime | None, expected: MessageStatus
) -> None:
    """Outbound mail is queued until it has a send time; inbound mail was received."""
    assert _new(direction=direction, sent_at=sent_at).kind.status is expected


@pytest.mark.parametrize(
    ("direction", "expected"),
    [(Direction.OUTBOUND, MessageStatus.SENT), (Direction.INBOUND, MessageStatus.RECEIVED)],
)
def test_ingested_default_status(direction: Direction, expected: MessageStatus) -> None:
    """Raw mail from a mailbox was sent (outbound) or received (inbound): the same rule."""
    raw = b"From: a@b.co\r\nTo: c@d.co\r\nSubject: hi\r\n\r\nbody\r\n"
    made = raw_draft(CALLER, RawMessageInput(direction=direction), raw, parse_raw(raw), 2000)
    assert made.kind.status is expected


def test_explicit_status_wins() -> None:
    """A status the caller gives is kept."""
    assert _new(status=MessageStatus.DELIVERED).kind.status is MessageStatus.DELIVERED


# ----------------------------------------------------------------- threading

_AT = datetime(2026, 1, 1, tzinfo=UTC)


def _candidate(message_id: str, thread: str, key: str, minute: int) -> ThreadCandidate:
    return ThreadCandidate(message_id, thread, key, _AT.replace(minute=minute))


def test_in_reply_to_wins_over_a_newer_reference() -> None:
    """The message In-Reply-To names is the parent, even if a reference is newer."""
    refs = threading.references(Envelope(in_reply_to="<a@x>", references=("<a@x>", "<b@x>")))
    assert refs == ("<a@x>", "<b@x>")
    chosen = threading.choose(
        refs,
        "<a@x>",
        [_candidate("<a@x>", "t-a", "k-a", 1), _candidate("<b@x>", "t-b", "k-b", 9)],
    )
    assert chosen == Thread("t-a", "k-a")


def test_newest_reference_when_in_reply_to_is_unknown() -> None:
    """Without the In-Reply-To message, the newest stored reference decides."""
    refs = threading.references(Envelope(in_reply_to="<gone@x>", references=("<a@x>", "<b@x>")))
    chosen = threading.choose(
        refs,
        "<gone@x>",
        [_candidate("<a@x>", "t-a", "k-a", 5), _candidate("<b@x>", "t-b", "k-b", 2)],
    )
    assert chosen == Thread("t-a", "k-a")


def test_no_stored_reference_starts_a_thread() -> None:
    """Nothing stored that the message answers: None (the writer gives it a new thread)."""
    assert threading.choose(("<a@x>",), "<a@x>", [_candidate("<z@x>", "t", "k", 1)]) is None


def test_bounce_threads_by_the_message_it_reports_on() -> None:
    """A bounce's hint (the returned Message-ID) is a reference like the others."""
    assert threading.references(Envelope(), hint="<orig@acme.io>") == ("<orig@acme.io>",)


# ----------------------------------------------------------------- idempotency


def test_repeat_with_the_same_fingerprint_is_deduplicated() -> None:
    """The same request again (same request_id, same content) is the stored message."""
    new = _new(request_id="r1")
    stored = StoredMessage(_message(new), new.fingerprint)
    assert idempotency.repeat_of(new, None, stored, None) is stored.message


def test_request_id_reused_for_other_content_is_refused() -> None:
    """A request_id reused for a different request is ALREADY_EXISTS, naming it."""
    first, other = _new(request_id="r1"), _new(request_id="r1", subject="different")
    stored = StoredMessage(_message(first), first.fingerprint)
    with pytest.raises(AlreadyExists, match="r1"):
        idempotency.repeat_of(other, None, stored, None)


def test_server_made_key_never_conflicts_by_key() -> None:
    """A key the server made is not the caller's idempotency key."""
    new = _new()
    stored = StoredMessage(_message(new), b"other")
    assert idempotency.repeat_of(new, None, None, stored) is None


def test_same_raw_bytes_for_the_same_mailbox_is_a_repeat() -> None:
    """An IMAP re-sync of the same bytes is the stored message, whatever else differs."""
    new = _new()
    stored = StoredMessage(_message(new), b"any")
    assert idempotency.repeat_of(new, stored, None, None) is stored.message


def _message(new: NewMessage) -> Message:
    return Message(
        tenant_id=new.tenant_id,
        storage_key=new.storage_key,
        owner=new.owner,
        kind=new.kind,
        envelope=new.envelope,
        thread=Thread(new.new_thread_id),
        times=models.Timeline(created_at=_AT, updated_at=_AT),
        size=models.Sizes(0, 0, new.content_hash.hex()),
    )


# ----------------------------------------------------------------- sizes


def test_sizes_count_content_once_per_reference_and_every_stored_blob() -> None:
    """Raw size: bodies and attachments (a repeated attachment twice); stored size: the pack
    (the bodies are small) and every blob referenced, compressed."""
    pdf = b"%PDF " * 2000
    attachment = models.AttachmentInput(filename="a.pdf", content=pdf)
    new = _new(attachments=(attachment, attachment), text_body="hi", html_body="<p>hi</p>")
    done = ready(new, {}, Thread("t"))
    assert done.sizes.raw_size_bytes == 2 + 9 + 2 * len(pdf)
    stored = {b.sha256: b.stored_size_bytes for b in new.blobs}
    pdf_sha = hashlib.sha256(pdf).digest()
    assert new.content.pack is not None
    assert set(stored) == {pdf_sha}
    assert done.sizes.stored_size_bytes == len(new.content.pack.stored) + 2 * stored[pdf_sha]
    (pdf_write,) = [w for w in blob_writes([new]) if w.blob.sha256 == pdf_sha]
    assert (pdf_write.refs, pdf_write.messages) == (2, 1)


# ----------------------------------------------------------------- the writer


async def test_unknown_digest_is_a_failed_precondition_and_writes_nothing() -> None:
    """An attachment naming a blob the tenant lacks: FAILED_PRECONDITION, nothing stored."""
    db = FakeDatabase()
    missing = "ab" * 32
    new = _new(attachments=(models.AttachmentInput(filename="x", blob_sha256=missing),))
    with pytest.raises(FailedPrecondition, match=missing):
        await _writer(db).store(new)
    assert db.state.messages == {}
    assert db.state.blobs == {}


async def test_known_digest_gains_a_reference_and_fills_the_size() -> None:
    """An attachment by digest of a blob the tenant has: its size comes from the blob."""
    db = FakeDatabase()
    pdf = b"%PDF " * 500
    first = await _writer(db).store(
        _new(attachments=(models.AttachmentInput(filename="a.pdf", content=pdf),))
    )
    digest = first.message.attachments[0].sha256
    second = await _writer(db).store(
        _new(attachments=(models.AttachmentInput(filename="b.pdf", blob_sha256=digest),))
    )
    assert second.message.attachments[0].size_bytes == len(pdf)
    assert db.refcount(TENANT, bytes.fromhex(digest)) == 2


async def test_retry_is_deduplicated_and_reuse_refused() -> None:
    """The same request twice: one message, the second deduplicated; the request id reused
    for other content: ALREADY_EXISTS."""
    db = FakeDatabase()
    writer = _writer(db)
    first = await writer.store(_new(request_id="r1", storage_key="k1"))
    again = await writer.store(_new(request_id="r1", storage_key="k1"))
    assert (first.deduplicated, again.deduplicated) == (False, True)
    assert again.message.storage_key == "k1"
    with pytest.raises(AlreadyExists):
        await writer.store(_new(request_id="r1", storage_key="k2", subject="other"))
    assert len(db.state.messages) == 1


async def test_group_commit_groups_and_a_conflict_fails_alone() -> None:
    """Concurrent writes share a unit of work; a taken key in the group sends the group one
    by one, where only that message answers CONFLICT."""
    db = FakeDatabase()
    await _writer(db).store(_new(storage_key="taken"))
    db.units.clear()
    writer = _writer(db)
    batch = [_new(storage_key=f"k{i}") for i in range(5)] + [_new(storage_key="taken")]
    outcomes = await asyncio.gather(*(writer.write(new) for new in batch))
    assert [o is CONFLICT for o in outcomes] == [False] * 5 + [True]
    assert all(isinstance(o, Message) for o in outcomes[:5])
    # One group first (it failed on the taken key), then each message on its own.
    assert db.units[0] == "insert_messages"
    assert db.units.count("insert_message") == 6
    assert len(db.state.messages) == 6


async def test_a_reply_joins_its_thread_in_the_same_group() -> None:
    """The thread is chosen in the writer's unit of work, from what is stored."""
    db = FakeDatabase()
    writer = _writer(db)
    outbound = await writer.store(_new(storage_key="out"))
    reply = await writer.store(
        _new(
            direction=Direction.INBOUND,
            from_address=models.Address("jane@example.com"),
            to=(models.Address("sam@acme.io"),),
            in_reply_to=outbound.message.envelope.message_id_header,
        )
    )
    assert reply.message.thread == Thread(outbound.message.thread.thread_id, "out")


_JSON_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _JSON_TEXT,
    lambda inner: st.lists(inner) | st.dictionaries(_JSON_TEXT, inner),
    max_leaves=20,
)


@settings(max_examples=500)
@given(_JSON_VALUES)
def test_content_digests_keep_the_canonical_json_of_earlier_releases(value: Any) -> None:
    """Content hashes and request fingerprints are stored: the digest stays SHA-256 of the
    standard library's canonical spelling (sorted keys, no spaces, UTF-8), whatever encodes it."""
    canonical = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    assert drafts.sha256_json(value) == hashlib.sha256(canonical.encode()).digest()

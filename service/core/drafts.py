"""New messages: one builder for StoreMessage and IngestRawMessage alike.

Both paths first say what a message is, as a `Draft` (validated fields, bodies, attachments,
and for ingested mail the raw form that gives the original back), then `build` hashes,
chunks and compresses its bytes and makes the `NewMessage` the writer stores. The rules that
decide a message's identity live here: its storage key, its Message-ID, its default status,
its content hash and the fingerprint that tells a repeated request from a reused key.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import orjson

from service.codec import packs, searchtext
from service.codec.blobs import BlobSet
from service.core import keys, threading
from service.core.ports import NewAttachment, NewContent, NewMessage, PartRef
from service.models import (
    Address,
    AttachmentData,
    BounceInfo,
    Caller,
    Classification,
    Content,
    Direction,
    Envelope,
    MessageStatus,
    Owner,
    Parse,
)


def default_status(direction: Direction, *, sent: bool) -> MessageStatus:
    """The status of a message stored without one: inbound mail was received; outbound mail
    was sent when there is evidence of it (a send time, or raw bytes from a mailbox), and is
    queued otherwise."""
    if direction is Direction.INBOUND:
        return MessageStatus.RECEIVED
    return MessageStatus.SENT if sent else MessageStatus.QUEUED


@dataclass(frozen=True)
class RawForm:
    """How an ingested message is kept to give back its exact bytes: a skeleton (header
    blocks and boundaries) and the leaf bodies it refers to, in order.

    raw_sha256: SHA-256 of the whole raw message. thread_hint: a further Message-ID to thread
    by (the message a bounce reports on).
    """

    raw_sha256: bytes
    size_bytes: int
    skeleton: bytes
    bodies: tuple[bytes, ...]
    thread_hint: str = ""


@dataclass(frozen=True)
class Draft:
    """What a new message is, validated, before its bytes are encoded."""

    caller: Caller
    storage_key: str  # the caller's choice, or "" for one made here
    request_id: str
    owner: Owner
    kind: Classification
    envelope: Envelope
    labels: Mapping[str, str]
    sent_at: datetime | None
    content: Content
    attachments: tuple[AttachmentData, ...] = ()
    parse: Parse = field(default_factory=Parse)
    raw: RawForm | None = None
    # BOUNCE messages: what the bounce says.
    bounce: BounceInfo | None = None

    @property
    def payload_bytes(self) -> int:
        """Bytes to hash and compress (to decide whether to do it off the event loop)."""
        size = len(self.content.text_body) + len(self.content.html_body)
        size += sum(len(a.content or b"") for a in self.attachments)
        return size + (self.raw.size_bytes if self.raw else 0)


def sha256_json(value: Any) -> bytes:
    """SHA-256 of a value's canonical JSON: sorted keys, no spaces, UTF-8 unescaped; byte for
    byte what `json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)`
    spells (the digests are stored: tests/unit/test_core_rules.py holds them to it)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).digest()


def _pairs(addresses: tuple[Address, ...]) -> list[list[str]]:
    return [[a.email, a.name] for a in addresses]


def _structured_content_hash(
    draft: Draft, text: bytes | None, html: bytes | None, atts: list[NewAttachment]
) -> bytes:
    """The digest of a structured message's canonical content (stable across releases: it is
    stored and shown)."""
    e = draft.envelope
    sender = e.from_address or Address("")
    return sha256_json(
        {
            "from": [sender.email, sender.name],
            "to": _pairs(e.to),
            "cc": _pairs(e.cc),
            "bcc": _pairs(e.bcc),
            "reply_to": _pairs(e.reply_to),
            "subject": e.subject,
            "headers": [[h.name, h.value] for h in draft.content.headers],
            "text": text.hex() if text else None,
            "html": html.hex() if html else None,
            "attachments": [
                [a.filename, a.mime_type, a.disposition, a.content_id, a.sha256.hex()] for a in atts
            ],
        }
    )


def _fingerprint(draft: Draft, content_hash: bytes) -> bytes:
    """What identifies the request, so that a repeat can be told from a reuse. Raw mail is
    identified by its bytes and the caller's metadata only: what parsing makes of the bytes
    may change between releases. Stable across releases: stored with each message."""
    o = draft.owner
    # The sequence step joined the request in a later release: only when set, so that the
    # fingerprints of earlier requests stay what they were.
    step = {"step": o.sequence_step} if o.sequence_step else {}
    if draft.raw is not None:
        return sha256_json(
            {
                "raw": content_hash.hex(),
                "account": o.email_account_id,
                "campaign": o.campaign_id,
                "lead": o.lead_id,
                "direction": draft.kind.direction.value,
                "labels": dict(draft.labels),
                **step,
            }
        )
    e = draft.envelope
    return sha256_json(
        {
            "content": content_hash.hex(),
            "account": o.email_account_id,
            "campaign": o.campaign_id,
            "lead": o.lead_id,
            "direction": draft.kind.direction.value,
            "type": draft.kind.message_type.value,
            "status": draft.kind.status.value,
            "message_id": e.message_id_header,
            "in_reply_to": e.in_reply_to,
            "references": list(e.references),
            "labels": dict(draft.labels),
            "sent_at": draft.sent_at.isoformat() if draft.sent_at else None,
            **step,
        }
    )


def _attachments(draft: Draft, blob_set: BlobSet) -> tuple[list[NewAttachment], dict[bytes, int]]:
    """The attachment rows, and the references to blobs the tenant must already have."""
    rows: list[NewAttachment] = []
    by_digest: list[int] = []
    for i, a in enumerate(draft.attachments):
        row = NewAttachment(
            attachment_id=str(i + 1),
            position=i,
            filename=a.filename,
            mime_type=a.mime_type,
            disposition=a.disposition,
            content_id=a.content_id,
            sha256=a.digest or b"",
            part_path=a.part_path,
        )
        if a.content is not None:
            row = replace(row, sha256=blob_set.add(a.content), size_bytes=len(a.content))
        else:
            by_digest.append(i)
        rows.append(row)
    existing: dict[bytes, int] = defaultdict(int)
    for i in by_digest:
        sha = rows[i].sha256
        if sha in blob_set.blobs:  # the same bytes arrive inline in this very message
            blob_set.refs[sha] += 1
            rows[i] = replace(rows[i], size_bytes=blob_set.blobs[sha].size_bytes)
        else:
            existing[sha] += 1
    return rows, dict(existing)


def _with_message_id(e: Envelope, message_id: str) -> Envelope:
    # Spelled out: dataclasses.replace costs several times more on this hot path.
    return Envelope(
        e.from_address,
        e.to,
        e.cc,
        e.bcc,
        e.reply_to,
        e.subject,
        message_id,
        e.in_reply_to,
        e.references,
    )


@dataclass(frozen=True)
class Packing:
    """How a message's small content is packed: the zstd level, the largest body or skeleton
    kept in the pack, and the tenant's dictionary (None: none yet)."""

    level: int
    inline_max: int
    dictionary: packs.Dictionary | None = None


def _content(
    draft: Draft, packing: Packing, blob_set: BlobSet, attachments: Sequence[NewAttachment]
) -> tuple[NewContent, bytes | None, bytes | None]:
    """The content of a draft: the pack of its small parts, blobs for the large ones; and the
    digests of its text and HTML (for the content hash)."""
    limit = packing.inline_max
    parts: dict[str, bytes] = {packs.HEADERS: packs.encode_headers(draft.content.headers)}
    found: dict[str, bytes | None] = {}
    inline = 0
    digests: list[bytes | None] = []
    for name, value in (
        (packs.TEXT, draft.content.text_body),
        (packs.HTML, draft.content.html_body),
    ):
        data = value.encode()
        if not data:
            found[name] = None
            digests.append(None)
        elif len(data) <= limit:
            parts[name] = data
            inline += len(data)
            found[name] = None
            digests.append(hashlib.sha256(data).digest())
        else:
            found[name] = blob_set.add(data)
            digests.append(found[name])
    skeleton_sha = None
    refs: list[PartRef] = []
    raw = draft.raw
    if raw is not None:
        if len(raw.skeleton) <= limit:
            parts[packs.SKELETON] = raw.skeleton
        else:
            skeleton_sha = blob_set.add(raw.skeleton)
        sizes = {a.size_bytes for a in attachments}
        shas = {a.sha256 for a in attachments}
        for i, data in enumerate(raw.bodies):
            # An attachment's bytes are one blob, whether as the attachment or as a part.
            shared = len(data) in sizes and blob_set.digest(data) in shas
            if len(data) > limit or shared:
                refs.append(blob_set.add(data))
            else:
                parts[packs.body(i)] = data
                refs.append(i)
    content = NewContent(
        pack=packs.pack(parts, packing.level, packing.dictionary),
        text_sha256=found[packs.TEXT],
        html_sha256=found[packs.HTML],
        skeleton_sha256=skeleton_sha,
        parts=tuple(refs),
        inline_bytes=inline,
    )
    return content, digests[0], digests[1]


def build(draft: Draft, packing: Packing, message_id_domain: str) -> NewMessage:
    """Hashes, chunks and compresses a draft's bytes: the message the writer stores."""
    blob_set = BlobSet(packing.level)
    attachments, existing = _attachments(draft, blob_set)
    content, text_digest, html_digest = _content(draft, packing, blob_set, attachments)
    raw = draft.raw
    if raw is not None:
        content_hash = raw.raw_sha256
    else:
        content_hash = _structured_content_hash(draft, text_digest, html_digest, attachments)
    storage_key = draft.storage_key or keys.new_storage_key(draft.kind.message_type)
    envelope = draft.envelope
    if (
        raw is None
        and not envelope.message_id_header
        and draft.kind.direction is Direction.OUTBOUND
    ):
        # Replies thread to outbound mail by Message-ID: every outbound message needs one.
        envelope = _with_message_id(envelope, f"<{storage_key}@{message_id_domain}>")
    return NewMessage(
        tenant_id=draft.caller.tenant_id,
        storage_key=storage_key,
        caller_chose_key=bool(draft.storage_key),
        request_id=draft.request_id or None,
        fingerprint=_fingerprint(draft, content_hash),
        owner=draft.owner,
        kind=draft.kind,
        envelope=envelope,
        labels=dict(draft.labels),
        sent_at=draft.sent_at,
        thread_refs=threading.references(envelope, raw.thread_hint if raw else ""),
        new_thread_id=keys.new_thread_id(),
        content=content,
        attachments=tuple(attachments),
        blobs=blob_set.ordered(),
        blob_refs=dict(blob_set.refs),
        content_hash=content_hash,
        parse=draft.parse,
        existing_refs=existing,
        ingest_hash=raw.raw_sha256 if raw else None,
        raw_size_bytes=raw.size_bytes if raw else None,
        bounce=draft.bounce,
        search_vector=_search_vector(draft),
        search_addresses=searchtext.addresses(
            _pairs((envelope.from_address,) if envelope.from_address else ()),
            _pairs(envelope.to),
            _pairs(envelope.cc),
        ),
    )


def _search_vector(draft: Draft) -> str:
    """The tsvector literal SearchMessages finds the draft by (service.codec.searchtext)."""
    body = searchtext.body_text(draft.content.text_body, draft.content.html_body)
    filenames = [a.filename for a in draft.attachments if a.filename]
    return searchtext.document(draft.envelope.subject, body, filenames)

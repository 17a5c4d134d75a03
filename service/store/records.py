"""What the core hands the store to write, and what the store hands back besides models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.codec.blobs import EncodedBlob
from service.models import Message


@dataclass(frozen=True)
class NewAttachment:
    """An attachment row to insert; size and digest of existing blobs are filled by the store."""

    attachment_id: str
    position: int
    filename: str
    mime_type: str
    disposition: str
    content_id: str
    sha256: bytes
    size_bytes: int | None = None
    part_path: str = ""


@dataclass(frozen=True)
class NewMessage:
    """A validated message, its blobs encoded, ready for one insert transaction."""

    tenant_id: str
    storage_key: str
    caller_chose_key: bool
    request_id: str | None
    request_fingerprint: bytes
    email_account_id: str
    campaign_id: str
    lead_id: str
    direction: str
    message_type: str
    status: str
    from_email: str
    from_name: str
    recipients: Mapping[str, list[list[str]]]
    subject: str
    message_id_header: str
    in_reply_to: str
    references: tuple[str, ...]
    new_thread_id: str
    labels: Mapping[str, str]
    content_hash: bytes
    sent_at: datetime | None
    headers: list[list[Any]]  # [name, value] or, kept raw, [name, value, true]
    text_sha256: bytes | None
    html_sha256: bytes | None
    attachments: tuple[NewAttachment, ...]
    # Distinct blobs whose bytes this message carries, sorted by digest (a fixed lock order).
    new_blobs: tuple[EncodedBlob, ...]
    # References this message adds to each of new_blobs (a body may equal an attachment).
    new_blob_refs: Mapping[bytes, int]
    # References to blobs the tenant must already have (attachments given by digest).
    existing_blob_refs: Mapping[bytes, int] = field(default_factory=dict)
    # Raw ingest: SHA-256 of the raw bytes (a re-sync of the same mailbox is the same message),
    # how far parsing got, the skeleton blob and the blobs of its bodies in skeleton order.
    ingest_hash: bytes | None = None
    parse_status: str = "structured"
    parse_warnings: tuple[str, ...] = ()
    raw_sha256: bytes | None = None
    raw_parts: tuple[bytes, ...] = ()
    raw_size_bytes: int | None = None
    # A further Message-ID to find the thread by (the message a bounce reports on).
    thread_hint: str = ""


@dataclass(frozen=True)
class StoredBlob:
    """A blob as read back: its codec and stored chunks in order."""

    codec: str
    chunks: tuple[bytes, ...]


@dataclass(frozen=True)
class BlobRef:
    """A blob to be read chunk by chunk: its digest, codec and number of chunks."""

    sha256: bytes
    codec: str
    chunk_count: int


@dataclass(frozen=True)
class RawLayout:
    """How an ingested message is kept: its skeleton, and the blob of each leaf body in the
    skeleton's order."""

    skeleton: StoredBlob
    bodies: tuple[BlobRef, ...]
    raw_size_bytes: int


@dataclass(frozen=True)
class FetchedMessage:
    """A message as read, with the stored bodies (FULL view) still encoded."""

    message: Message
    request_fingerprint: bytes
    text_blob: StoredBlob | None = None
    html_blob: StoredBlob | None = None

"""Plain data shared by all layers: what a message is, independent of gRPC and SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum


class Direction(StrEnum):
    """Which way a message travelled."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageType(StrEnum):
    """Ordinary email, bounce or automatic reply."""

    EMAIL = "email"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"


class MessageStatus(StrEnum):
    """Where a message is in its life."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    BOUNCED = "bounced"
    FAILED = "failed"
    RECEIVED = "received"


class View(Enum):
    """How much of a message a read returns."""

    METADATA = "metadata"
    FULL = "full"


@dataclass(frozen=True)
class Address:
    """An addr-spec with an optional display name."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class Header:
    """A decoded header field."""

    name: str
    value: str
    # Ingested mail: the decoded value could not be stored (a NUL, an invalid code point), so
    # this is the field body as it came, unfolded and undecoded.
    kept_raw: bool = False


@dataclass(frozen=True)
class AttachmentInput:
    """An attachment as a caller hands it in: bytes, or the digest of a stored blob."""

    filename: str = ""
    mime_type: str = ""
    disposition: str = ""
    content_id: str = ""
    content: bytes | None = None
    blob_sha256: str = ""


@dataclass(frozen=True)
class StoreMessageInput:
    """A structured message to store, as received (not yet validated)."""

    tenant_id: str
    storage_key: str = ""
    request_id: str = ""
    email_account_id: str = ""
    campaign_id: str = ""
    lead_id: str = ""
    direction: Direction | None = None
    message_type: MessageType | None = None
    status: MessageStatus | None = None
    from_address: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    subject: str = ""
    text_body: str = ""
    html_body: str = ""
    headers: tuple[Header, ...] = ()
    message_id_header: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    attachments: tuple[AttachmentInput, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None


@dataclass(frozen=True)
class Attachment:
    """Metadata of a stored attachment; the bytes live in a blob."""

    id: str
    filename: str
    mime_type: str
    size_bytes: int
    sha256: str
    disposition: str
    content_id: str


@dataclass(frozen=True)
class Message:
    """A stored message. Headers and bodies are None in the METADATA view."""

    tenant_id: str
    storage_key: str
    email_account_id: str
    campaign_id: str
    lead_id: str
    direction: Direction
    message_type: MessageType
    status: MessageStatus
    from_address: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    message_id_header: str
    in_reply_to: str
    references: tuple[str, ...]
    thread_id: str
    parent_storage_key: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    archived_at: datetime | None
    raw_size_bytes: int
    stored_size_bytes: int
    content_hash: str
    attachments: tuple[Attachment, ...]
    labels: Mapping[str, str]
    headers: tuple[Header, ...] | None = None
    text_body: str | None = None
    html_body: str | None = None
    parse_status: str = "structured"
    # Ingested mail: what parsing had to leave unset or keep raw, and why.
    parse_warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreResult:
    """The outcome of one store: the message, and whether it was an idempotent repeat."""

    message: Message
    deduplicated: bool


@dataclass(frozen=True)
class MessageFilter:
    """ListMessages filters; empty values do not filter."""

    campaign_id: str = ""
    lead_id: str = ""
    email_account_id: str = ""
    thread_id: str = ""
    direction: Direction | None = None
    message_type: MessageType | None = None
    statuses: tuple[MessageStatus, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    include_archived: bool = False


@dataclass(frozen=True)
class ListMessagesInput:
    """A ListMessages request."""

    tenant_id: str
    filter: MessageFilter
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class MessagePage:
    """One page of messages and the token for the next (empty at the end)."""

    messages: tuple[Message, ...]
    next_page_token: str


@dataclass(frozen=True)
class StorageUsage:
    """What a tenant stores; raw = stored + saved by dedup + saved by compression.

    pending_gc_bytes: stored bytes nothing references any more, freed by the collector once
    the grace period has passed.
    """

    message_count: int
    attachment_count: int
    blob_count: int
    raw_bytes: int
    unique_bytes: int
    stored_bytes: int
    pending_gc_bytes: int = 0

    @property
    def saved_by_dedup_bytes(self) -> int:
        """Bytes not stored because identical content was already there."""
        return self.raw_bytes - self.unique_bytes

    @property
    def saved_by_compression_bytes(self) -> int:
        """Bytes saved by zstd on the unique content."""
        return self.unique_bytes - self.stored_bytes


@dataclass(frozen=True)
class UploadPart:
    """One request of an UploadBlob stream."""

    tenant_id: str = ""
    upload_id: str = ""
    sha256: str = ""
    size_bytes: int = 0
    mime_type: str = ""
    write_offset: int = 0
    data: bytes = b""
    finish_write: bool = False


@dataclass(frozen=True)
class StoredBlobInfo:
    """A blob as the API reports it."""

    sha256: str
    size_bytes: int
    stored_size_bytes: int


@dataclass(frozen=True)
class UploadStatus:
    """How far an upload got."""

    committed_size: int
    complete: bool


@dataclass(frozen=True)
class DownloadRequest:
    """Which bytes to read: an attachment of a message, or a blob by digest, and a range."""

    tenant_id: str
    storage_key: str = ""
    attachment_id: str = ""
    blob_sha256: str = ""
    read_offset: int = 0
    read_limit: int = 0


@dataclass(frozen=True)
class RawMessageInput:
    """The metadata of an IngestRawMessage stream (the bytes travel separately)."""

    tenant_id: str
    email_account_id: str = ""
    direction: Direction | None = None
    campaign_id: str = ""
    lead_id: str = ""
    storage_key: str = ""
    request_id: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

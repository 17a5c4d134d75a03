"""The shape of a message, shared by every layer: plain values, no gRPC, no SQL.

A message is a few value objects, each named once and used everywhere: who it belongs to
(`Owner`), what kind it is (`Classification`), who wrote to whom about what (`Envelope`), which
conversation it is in (`Thread`), when things happened (`Timeline`), what it weighs (`Sizes`),
how parsing went (`Parse`), and, in the FULL view, its `Content`. The API converts these to and
from protobuf in one module (`service.api.convert`), the store to and from rows in one module
(`service.store.rows`).
"""

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
class Caller:
    """Who is calling: the tenant whose data the call may touch (later also the principal)."""

    tenant_id: str


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
class Owner:
    """Whose message it is, in the platform's terms: mailbox, campaign, lead, and the step of
    the campaign's sequence that sent it (1 = first touch; 0 = none)."""

    email_account_id: str = ""
    campaign_id: str = ""
    lead_id: str = ""
    sequence_step: int = 0


@dataclass(frozen=True)
class Classification:
    """Which way it went, what kind of message it is, and where it is in its life."""

    direction: Direction
    message_type: MessageType
    status: MessageStatus


@dataclass(frozen=True)
class Envelope:
    """Who wrote to whom, about what, and which messages it answers: what the headers say."""

    from_address: Address | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    subject: str = ""
    message_id_header: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()


@dataclass(frozen=True)
class Thread:
    """The conversation a message belongs to, and the message it replies to when known."""

    thread_id: str
    parent_storage_key: str = ""


@dataclass(frozen=True)
class Timeline:
    """When things happened to a message."""

    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None = None
    expires_at: datetime | None = None
    archived_at: datetime | None = None
    # When it was first reported (or implied) to reach each status (core/lifecycle.py).
    delivered_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    replied_at: datetime | None = None
    bounced_at: datetime | None = None
    failed_at: datetime | None = None


@dataclass(frozen=True)
class Sizes:
    """What a message weighs: raw (before dedup and compression) and stored, and its digest.

    content_hash: hex SHA-256 of the raw RFC 5322 bytes (ingested) or of the canonical content
    (structured).
    """

    raw_size_bytes: int
    stored_size_bytes: int
    content_hash: str


@dataclass(frozen=True)
class Parse:
    """How far parsing got: "structured" (StoreMessage), "parsed", or "unparsed: <why>"; and
    what it had to leave unset or keep raw (ingested mail)."""

    status: str = "structured"
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Content:
    """The headers and bodies of a message (the FULL view)."""

    headers: tuple[Header, ...] = ()
    text_body: str = ""
    html_body: str = ""


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
class AttachmentData:
    """An attachment of a message about to be stored: its metadata, and its bytes or the
    digest of bytes the tenant has already (uploaded with UploadBlob).

    part_path: ingested mail, where the part is in the MIME tree ("1.2").
    """

    filename: str
    mime_type: str
    disposition: str  # "attachment" | "inline"
    content_id: str
    content: bytes | None = field(default=None, repr=False)
    digest: bytes | None = None
    part_path: str = ""


@dataclass(frozen=True, order=True)
class BounceInfo:
    """What a bounce says: class ("hard" | "soft"), RFC 3463 code, reason category
    ("unknown_recipient" | "mailbox_full" | "policy" | "dns" | "other"), the remote server's
    words, the address that failed, and the message that bounced (when stored)."""

    bounce_class: str
    status_code: str = ""
    reason: str = "other"
    diagnostic: str = ""
    failed_recipient: str = ""
    original_storage_key: str = ""
    # A delay notice (the server will retry): the original's status is left as it is.
    delayed: bool = False


@dataclass(frozen=True)
class Message:
    """A stored message; `content` only in the FULL view."""

    tenant_id: str
    storage_key: str
    owner: Owner
    kind: Classification
    envelope: Envelope
    thread: Thread
    times: Timeline
    size: Sizes
    attachments: tuple[Attachment, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    parse: Parse = Parse()
    content: Content | None = None
    bounce: BounceInfo | None = None


@dataclass(frozen=True)
class StoreResult:
    """The outcome of one store: the message, and whether it was an idempotent repeat."""

    message: Message
    deduplicated: bool


# ------------------------------------------------------------------ requests


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
    """A structured message to store, as received (not yet validated). Unset kinds are None."""

    storage_key: str = ""
    request_id: str = ""
    owner: Owner = Owner()
    direction: Direction | None = None
    message_type: MessageType | None = None
    status: MessageStatus | None = None
    envelope: Envelope = Envelope()
    content: Content = Content()
    attachments: tuple[AttachmentInput, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None


@dataclass(frozen=True)
class RawMessageInput:
    """The metadata of an IngestRawMessage stream (the bytes travel separately)."""

    owner: Owner = Owner()
    direction: Direction | None = None
    storage_key: str = ""
    request_id: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


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

    filter: MessageFilter = MessageFilter()
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class SearchMessagesInput:
    """A SearchMessages request (the query as given: service.core.search parses it)."""

    query: str
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ExportInput:
    """An ExportMessages request: ListMessages filters (has_filter), or a SearchMessages
    query (the query as given)."""

    filter: MessageFilter = MessageFilter()
    query: str = ""
    has_filter: bool = False


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
    # Part of the compression savings that is the dictionaries' doing (an estimate).
    saved_by_dictionary_bytes: int = 0
    # What the tenant's rows and indexes take on disk (an estimate: tables are shared).
    disk_bytes: int = 0

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

    storage_key: str = ""
    attachment_id: str = ""
    blob_sha256: str = ""
    read_offset: int = 0
    read_limit: int = 0


# --------------------------------------------------------------- lifecycle and analytics


@dataclass(frozen=True)
class StatusEventInput:
    """A status event as reported: the message by storage_key (or else by its Message-ID
    header), the status reached, when (None: now), the caller's event id ("" for none), and
    free-form detail."""

    status: MessageStatus
    storage_key: str = ""
    message_id_header: str = ""
    occurred_at: datetime | None = None
    event_id: str = ""
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageEvent:
    """A recorded status event; source "caller" or "ingest"."""

    event_id: str
    status: MessageStatus
    occurred_at: datetime
    detail: Mapping[str, str]
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class EventResult:
    """The message after an event, and whether the event was a repeat (nothing changed)."""

    message: Message
    deduplicated: bool


@dataclass(frozen=True)
class CampaignStatsInput:
    """A GetCampaignStats request: the campaign, and a window on its outbound messages'
    created_at."""

    campaign_id: str
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass(frozen=True)
class StatusCounts:
    """How many of a campaign's outbound messages reached each status, and what answered
    them (one step's, or the whole campaign's)."""

    sequence_step: int = 0
    total_messages: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    bounced: int = 0
    failed: int = 0
    inbound_replies: int = 0
    auto_replies: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    unique_leads: int = 0
    unique_leads_replied: int = 0
    bounces_by_reason: Mapping[str, int] = field(default_factory=dict)

    @staticmethod
    def _rate(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def delivery_rate(self) -> float:
        """delivered / sent."""
        return self._rate(self.delivered, self.sent)

    @property
    def open_rate(self) -> float:
        """opened / delivered."""
        return self._rate(self.opened, self.delivered)

    @property
    def click_rate(self) -> float:
        """clicked / delivered."""
        return self._rate(self.clicked, self.delivered)

    @property
    def reply_rate(self) -> float:
        """replied / delivered."""
        return self._rate(self.replied, self.delivered)

    @property
    def bounce_rate(self) -> float:
        """bounced / sent."""
        return self._rate(self.bounced, self.sent)


@dataclass(frozen=True)
class DailyCounts:
    """The events of one UTC day (YYYY-MM-DD)."""

    day: str
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    replied: int = 0
    bounced: int = 0


@dataclass(frozen=True)
class CampaignStats:
    """A campaign's counts, per step of its sequence, and per day."""

    campaign_id: str
    total: StatusCounts
    steps: tuple[StatusCounts, ...] = ()
    days: tuple[DailyCounts, ...] = ()


class ChangeKind(StrEnum):
    """What happened to a message, in the change feed."""

    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """One entry of a tenant's change feed: its position, the message, what happened and when,
    and what a consumer needs to act without a read (empty for DELETED)."""

    sequence: int
    storage_key: str
    kind: ChangeKind
    at: datetime
    status: MessageStatus | None = None
    campaign_id: str = ""
    lead_id: str = ""


@dataclass(frozen=True)
class ChangePage:
    """Changes after a sequence, in order, and where the next page starts."""

    changes: tuple[Change, ...]
    next_sequence: int


# ------------------------------------------------------------------ governance


class HoldScope(StrEnum):
    """What a legal hold covers."""

    MESSAGE = "message"
    LEAD = "lead"
    EMAIL = "email"
    TENANT = "tenant"


@dataclass(frozen=True)
class LegalHold:
    """A legal hold: value is the storage_key, the lead_id, the normalised address, or ''
    for the whole tenant."""

    hold_id: str
    scope: HoldScope
    value: str
    reason: str
    placed_by: str
    placed_at: datetime
    lifted_at: datetime | None = None


@dataclass(frozen=True)
class LegalHoldInput:
    """A SetLegalHold request: place (hold) or lift a hold on one scope."""

    scope: HoldScope | None
    value: str
    hold: bool
    reason: str = ""
    placed_by: str = ""


@dataclass(frozen=True)
class RetentionPolicy:
    """A tenant's retention (0 days: kept forever); applied: every message stored before the
    last change carries its expiry."""

    retention_days: int
    is_default: bool
    updated_at: datetime | None
    applied: bool


@dataclass(frozen=True)
class PurgeResult:
    """What a purge deleted; more: the limit stopped it."""

    deleted_messages: int = 0
    freed_bytes: int = 0
    more: bool = False


@dataclass(frozen=True)
class EraseSubject:
    """Whom an erasure is about: a lead id, or an email address (normalised)."""

    kind: str  # "lead" | "email"
    value: str


@dataclass(frozen=True)
class EraseResult:
    """What an erasure removed, over every call that worked on it."""

    erasure_id: str
    erased_messages: int = 0
    erased_events: int = 0
    erased_attachments: int = 0
    erased_changes: int = 0
    freed_bytes: int = 0

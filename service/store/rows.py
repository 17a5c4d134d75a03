"""Rows as the store reads and writes them, and the one mapper between rows and models.

Each table's columns are named once, as the fields of its row dataclass: the SQL column lists
of service/store/sql/*.sql are generated from them (see `service.store.queries`), rows come
back through `class_row` into these dataclasses, and rows to insert are these dataclasses
turned into JSON objects for `jsonb_populate_recordset`. Adding a column means: a migration,
a field here (and in the mapping functions below), the model, and the proto conversion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg.types.json import Jsonb

from service.core.ports import ReadyMessage
from service.models import (
    Address,
    Attachment,
    BounceInfo,
    Classification,
    Direction,
    Envelope,
    Header,
    Message,
    MessageStatus,
    MessageType,
    Owner,
    Parse,
    Sizes,
    Thread,
    Timeline,
)

# A header as stored in email_content.headers: [name, value], or [name, value, true] when the
# value was kept raw.
StoredHeader = list[Any]


@dataclass(frozen=True)
class MessageRow:
    """An email_messages row: what every read selects and every insert returns."""

    tenant_id: str
    storage_key: str
    email_account_id: str
    campaign_id: str
    lead_id: str
    direction: str
    message_type: str
    status: str
    from_email: str
    from_name: str
    to_email: str  # the first recipient, for quick filters
    recipients: dict[str, list[list[str]]]  # {"to": [[email, name], ...], "cc", "bcc", "reply_to"}
    subject: str
    message_id_header: str
    in_reply_to: str
    references: list[str]
    thread_id: str
    parent_storage_key: str
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    archived_at: datetime | None
    raw_size_bytes: int
    stored_size_bytes: int
    content_hash: bytes
    attachment_count: int
    labels: dict[str, str]
    request_id: str | None
    request_fingerprint: bytes
    ingest_hash: bytes | None
    parse_status: str
    parse_warnings: list[str] | None
    sequence_step: int
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    replied_at: datetime | None
    bounced_at: datetime | None
    failed_at: datetime | None
    bounce: dict[str, Any] | None  # BounceInfo's fields


# Filled by the database on insert (defaults), never sent.
_MESSAGE_DEFAULTS = {"created_at", "updated_at", "expires_at", "archived_at"}


@dataclass(frozen=True)
class AttachmentRow:
    """An attachments row."""

    storage_key: str
    attachment_id: str
    position: int
    filename: str
    mime_type: str
    size_bytes: int
    sha256: bytes
    disposition: str
    content_id: str
    part_path: str


@dataclass(frozen=True)
class ContentRow:
    """An email_content row as read, with its message's raw size. The skeleton (ingested
    mail: header blocks and boundaries, the bodies left out) is in column raw_sha256, named
    so by migration 0003."""

    storage_key: str
    headers: list[StoredHeader]
    text_sha256: bytes | None
    html_sha256: bytes | None
    skeleton_sha256: bytes | None
    # The leaf bodies in skeleton order: a hex digest (a blob) or a number (a body of the pack).
    raw_parts: list[str | int]
    pack: bytes | None
    pack_size: int
    dictionary_id: int | None
    raw_size_bytes: int
    ingested: bool


@dataclass(frozen=True)
class InsertedRow:
    """What the database assigned to an inserted message."""

    storage_key: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeletedRow:
    """What deleting messages did: messages deleted, blobs left unreferenced, stored bytes
    released, event, attachment and (erasure) earlier change rows deleted with them."""

    deleted: int
    unreferenced: list[bytes]
    freed_bytes: int
    events: int
    attachments: int
    changes: int


@dataclass(frozen=True)
class HeldRow:
    """A message a legal hold covers, with what decides which hold."""

    storage_key: str
    lead_id: str
    addresses: list[str]


@dataclass(frozen=True)
class BlobSizeRow:
    """A blob's digest and sizes."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int


@dataclass(frozen=True)
class ChunkRow:
    """A stored chunk, with its blob's digest and codec (reads of whole blobs)."""

    sha256: bytes
    codec: str
    data: bytes


@dataclass(frozen=True)
class SeqChunkRow:
    """A stored chunk and its number (ranged reads)."""

    seq: int
    data: bytes


@dataclass(frozen=True)
class OpenedBlobRow:
    """A row of emailstore_open_blob: the blob (seq NULL), then its first chunks."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunk_size: int
    seq: int | None
    data: bytes | None


@dataclass(frozen=True)
class BlobRow:
    """A blobs row as a message write adds it (or adds references to it)."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunk_size: int
    chunk_count: int
    refcount: int
    message_refs: int


def column_names(row: type[Any]) -> tuple[str, ...]:
    """The columns of a row dataclass, in order."""
    return tuple(f.name for f in fields(row))


_MESSAGE_ROW_INSERTED = tuple(c for c in column_names(MessageRow) if c not in _MESSAGE_DEFAULTS)
# Written with a new message and never selected (reads must not fetch the search vector):
# what SearchMessages finds it by (migration 0013), taken from the NewMessage.
MESSAGE_SEARCH_COLUMNS = ("search_vector", "search_addresses")
# Columns sent on insert (the rest the database fills in).
MESSAGE_INSERT_COLUMNS = (*_MESSAGE_ROW_INSERTED, *MESSAGE_SEARCH_COLUMNS)


def _column_sql(name: str, alias: str) -> str:
    if name == "tenant_id":
        return f"{alias}tenant_id::text AS tenant_id"
    if name == "skeleton_sha256":
        return f"{alias}raw_sha256 AS skeleton_sha256"
    return f'{alias}"{name}"'


def select_list(row: type[Any], alias: str = "") -> str:
    """The SQL select list of a row dataclass (`alias` with its dot, e.g. "m.")."""
    return ", ".join(_column_sql(name, alias) for name in column_names(row))


def insert_list(columns: Sequence[str]) -> str:
    """A quoted column list for INSERT and the SELECT feeding it."""
    return ", ".join(f'"{"raw_sha256" if c == "skeleton_sha256" else c}"' for c in columns)


# --------------------------------------------------------------- rows -> models


def _addresses(pairs: list[list[str]] | None) -> tuple[Address, ...]:
    return tuple(Address(email=p[0], name=p[1]) for p in pairs or ())


def attachment(row: AttachmentRow) -> Attachment:
    """An attachments row as the model."""
    return Attachment(
        id=row.attachment_id,
        filename=row.filename,
        mime_type=row.mime_type,
        size_bytes=row.size_bytes,
        sha256=bytes(row.sha256).hex(),
        disposition=row.disposition,
        content_id=row.content_id,
    )


def message(
    row: MessageRow,
    attachments: Sequence[AttachmentRow] = (),
    *,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    expires_at: datetime | None = None,
) -> Message:
    """An email_messages row (and its attachments' rows) as the model, METADATA view; a row
    just inserted takes the times the database gave it."""
    recipients = row.recipients
    return Message(
        tenant_id=row.tenant_id,
        storage_key=row.storage_key,
        owner=Owner(row.email_account_id, row.campaign_id, row.lead_id, row.sequence_step),
        kind=Classification(
            Direction(row.direction), MessageType(row.message_type), MessageStatus(row.status)
        ),
        envelope=Envelope(
            from_address=Address(row.from_email, row.from_name) if row.from_email else None,
            to=_addresses(recipients.get("to")),
            cc=_addresses(recipients.get("cc")),
            bcc=_addresses(recipients.get("bcc")),
            reply_to=_addresses(recipients.get("reply_to")),
            subject=row.subject,
            message_id_header=row.message_id_header,
            in_reply_to=row.in_reply_to,
            references=tuple(row.references),
        ),
        thread=Thread(row.thread_id, row.parent_storage_key),
        times=Timeline(
            created_at=created_at or row.created_at,
            updated_at=updated_at or row.updated_at,
            sent_at=row.sent_at,
            expires_at=expires_at or row.expires_at,
            archived_at=row.archived_at,
            delivered_at=row.delivered_at,
            opened_at=row.opened_at,
            clicked_at=row.clicked_at,
            replied_at=row.replied_at,
            bounced_at=row.bounced_at,
            failed_at=row.failed_at,
        ),
        size=Sizes(row.raw_size_bytes, row.stored_size_bytes, bytes(row.content_hash).hex()),
        attachments=tuple(attachment(a) for a in attachments),
        labels=dict(row.labels),
        parse=Parse(row.parse_status, tuple(row.parse_warnings or ())),
        bounce=bounce_info(row.bounce),
    )


def bounce_info(stored: Mapping[str, Any] | None) -> BounceInfo | None:
    """email_messages.bounce as the model (unknown keys ignored, missing ones defaulted)."""
    if not stored:
        return None
    return BounceInfo(
        bounce_class=str(stored.get("bounce_class", "hard")),
        status_code=str(stored.get("status_code", "")),
        reason=str(stored.get("reason", "other")),
        diagnostic=str(stored.get("diagnostic", "")),
        failed_recipient=str(stored.get("failed_recipient", "")),
        original_storage_key=str(stored.get("original_storage_key", "")),
        delayed=bool(stored.get("delayed", False)),
    )


def stored_bounce(bounce: BounceInfo | None) -> dict[str, Any] | None:
    """A BounceInfo as email_messages.bounce stores it."""
    return None if bounce is None else asdict(bounce)


def headers(stored: Sequence[StoredHeader]) -> tuple[Header, ...]:
    """Headers as stored in email_content.headers."""
    return tuple(Header(h[0], h[1], len(h) > 2 and bool(h[2])) for h in stored)


# --------------------------------------------------------------- models -> rows


def stored_headers(items: Sequence[Header]) -> list[StoredHeader]:
    """Headers as email_content.headers stores them."""
    return [[h.name, h.value, True] if h.kept_raw else [h.name, h.value] for h in items]


def _pairs(addresses: Sequence[Address]) -> list[list[str]]:
    return [[a.email, a.name] for a in addresses]


# Stands in for the times the database assigns, until the insert returns them.
_UNSET = datetime(1, 1, 1, tzinfo=UTC)


def new_message_row(ready: ReadyMessage) -> MessageRow:
    """The email_messages row of a new message (created_at and updated_at are the database's:
    `message` takes them from what the insert returns)."""
    new, envelope = ready.new, ready.new.envelope
    sender = envelope.from_address
    return MessageRow(
        tenant_id=new.tenant_id,
        storage_key=new.storage_key,
        email_account_id=new.owner.email_account_id,
        campaign_id=new.owner.campaign_id,
        lead_id=new.owner.lead_id,
        direction=new.kind.direction.value,
        message_type=new.kind.message_type.value,
        status=new.kind.status.value,
        from_email=sender.email if sender else "",
        from_name=sender.name if sender else "",
        to_email=envelope.to[0].email if envelope.to else "",
        recipients={
            "to": _pairs(envelope.to),
            "cc": _pairs(envelope.cc),
            "bcc": _pairs(envelope.bcc),
            "reply_to": _pairs(envelope.reply_to),
        },
        subject=envelope.subject,
        message_id_header=envelope.message_id_header,
        in_reply_to=envelope.in_reply_to,
        references=list(envelope.references),
        thread_id=ready.thread.thread_id,
        parent_storage_key=ready.thread.parent_storage_key,
        created_at=_UNSET,
        updated_at=_UNSET,
        sent_at=new.sent_at,
        expires_at=None,
        archived_at=None,
        raw_size_bytes=ready.sizes.raw_size_bytes,
        stored_size_bytes=ready.sizes.stored_size_bytes,
        content_hash=new.content_hash,
        attachment_count=len(ready.attachments),
        labels=dict(new.labels),
        request_id=new.request_id,
        request_fingerprint=new.fingerprint,
        ingest_hash=new.ingest_hash,
        parse_status=new.parse.status,
        parse_warnings=list(new.parse.warnings) or None,
        sequence_step=new.owner.sequence_step,
        delivered_at=None,
        opened_at=None,
        clicked_at=None,
        replied_at=None,
        bounced_at=None,
        failed_at=None,
        bounce=stored_bounce(ready.bounce),
    )


def new_message_json(row: MessageRow, ready: ReadyMessage) -> dict[str, Any]:
    """A new message's email_messages row for jsonb_populate_recordset: the row's columns
    and the insert-only search columns."""
    return insert_json(row, _MESSAGE_ROW_INSERTED) | {
        "search_vector": ready.new.search_vector,
        "search_addresses": ready.new.search_addresses,
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def jsonb(value: Any) -> Jsonb:
    """A parameter for jsonb_populate_recordset and friends, encoded by orjson: the same
    JSON as the standard library's, in a tenth of the time (rows of 40 columns per message)."""
    return Jsonb(value, dumps=orjson.dumps)


def insert_json(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    """A row's values for jsonb_populate_recordset (bytea as hex with a \\x prefix, times in
    ISO 8601), only the given columns."""
    values = vars(row)
    return {c: _json_value(values[c]) for c in columns}


def bytea(value: bytes | None) -> str | None:
    """A bytea as a JSON value for jsonb_populate_recordset."""
    return None if value is None else "\\x" + value.hex()

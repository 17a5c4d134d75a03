"""The message repository: stores, reads, lists and deletes messages and their blobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import sql
from psycopg.rows import class_row

from service.errors import AlreadyExists, NotFound
from service.models import (
    Address,
    Attachment,
    Direction,
    Header,
    Message,
    MessageFilter,
    MessageStatus,
    MessageType,
    StorageUsage,
)
from service.store import queries
from service.store.database import AsyncConn, Database
from service.store.records import BlobRef, FetchedMessage, NewMessage, RawLayout, StoredBlob
from service.store.writer import Inserted, MessageWriter


@dataclass(frozen=True)
class MessageRow:
    """An email_messages row as selected by queries.MESSAGE_COLUMNS."""

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
    recipients: dict[str, list[list[str]]]
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
    labels: dict[str, str]
    request_fingerprint: bytes
    request_id: str | None
    parse_status: str
    parse_warnings: list[str] | None


@dataclass(frozen=True)
class AttachmentRow:
    """An attachments row."""

    storage_key: str
    attachment_id: str
    filename: str
    mime_type: str
    size_bytes: int
    sha256: bytes
    disposition: str
    content_id: str


@dataclass(frozen=True)
class PageCursor:
    """Where the previous page ended: (created_at, storage_key) of its last message."""

    created_at: datetime
    storage_key: str


def _addresses(pairs: list[list[str]] | None) -> tuple[Address, ...]:
    return tuple(Address(email=p[0], name=p[1]) for p in pairs or ())


def _parties(
    from_email: str, from_name: str, recipients: Mapping[str, list[list[str]]]
) -> dict[str, Any]:
    """Sender and recipients as Message fields, from columns or from a row about to be."""
    return {
        "from_address": Address(from_email, from_name) if from_email else None,
        "to": _addresses(recipients.get("to")),
        "cc": _addresses(recipients.get("cc")),
        "bcc": _addresses(recipients.get("bcc")),
        "reply_to": _addresses(recipients.get("reply_to")),
    }


def _attachment(row: AttachmentRow) -> Attachment:
    return Attachment(
        id=row.attachment_id,
        filename=row.filename,
        mime_type=row.mime_type,
        size_bytes=row.size_bytes,
        sha256=bytes(row.sha256).hex(),
        disposition=row.disposition,
        content_id=row.content_id,
    )


def _message(row: MessageRow, attachments: Sequence[AttachmentRow]) -> Message:
    return Message(
        tenant_id=row.tenant_id,
        storage_key=row.storage_key,
        email_account_id=row.email_account_id,
        campaign_id=row.campaign_id,
        lead_id=row.lead_id,
        direction=Direction(row.direction),
        message_type=MessageType(row.message_type),
        status=MessageStatus(row.status),
        **_parties(row.from_email, row.from_name, row.recipients),
        subject=row.subject,
        message_id_header=row.message_id_header,
        in_reply_to=row.in_reply_to,
        references=tuple(row.references),
        thread_id=row.thread_id,
        parent_storage_key=row.parent_storage_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        expires_at=row.expires_at,
        archived_at=row.archived_at,
        raw_size_bytes=row.raw_size_bytes,
        stored_size_bytes=row.stored_size_bytes,
        content_hash=bytes(row.content_hash).hex(),
        attachments=tuple(_attachment(a) for a in attachments),
        labels=dict(row.labels),
        parse_status=row.parse_status,
        parse_warnings=tuple(row.parse_warnings or ()),
    )


def _inserted_message(new: NewMessage, row: Inserted) -> Message:
    return Message(
        tenant_id=new.tenant_id,
        storage_key=row.storage_key,
        email_account_id=new.email_account_id,
        campaign_id=new.campaign_id,
        lead_id=new.lead_id,
        direction=Direction(new.direction),
        message_type=MessageType(new.message_type),
        status=MessageStatus(new.status),
        **_parties(new.from_email, new.from_name, new.recipients),
        subject=new.subject,
        message_id_header=new.message_id_header,
        in_reply_to=new.in_reply_to,
        references=new.references,
        thread_id=row.thread_id,
        parent_storage_key=row.parent_storage_key,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=new.sent_at,
        expires_at=None,
        archived_at=None,
        raw_size_bytes=row.raw_size_bytes,
        stored_size_bytes=row.stored_size_bytes,
        content_hash=new.content_hash.hex(),
        attachments=tuple(
            Attachment(
                id=a.attachment_id,
                filename=a.filename,
                mime_type=a.mime_type,
                size_bytes=a.size_bytes or 0,
                sha256=a.sha256.hex(),
                disposition=a.disposition,
                content_id=a.content_id,
            )
            for a in row.attachments
        ),
        labels=dict(new.labels),
        parse_status=new.parse_status,
        parse_warnings=new.parse_warnings,
    )


class MessageRepository:
    """Message rows, content, attachments and blob references, one transaction per write."""

    def __init__(self, db: Database, writer: MessageWriter | None = None) -> None:
        self.db = db
        self.writer = writer or MessageWriter(db)

    async def insert_message(self, new: NewMessage) -> tuple[Message, bool]:
        """Stores a message; returns (message, deduplicated).

        A repeat of an earlier request (same request_id, or same caller storage_key, with the
        same fingerprint) returns the stored message and writes nothing; a reuse with a
        different fingerprint raises AlreadyExists.
        """
        for _ in range(2):
            outcome = await self.writer.write(new)
            if isinstance(outcome, Inserted):
                return _inserted_message(new, outcome), False
            existing = await self._find_repeat(new)
            if existing is not None:
                return existing, True
            # The conflicting row vanished (deleted) between the two statements: try again.
        raise AlreadyExists(f"storage_key {new.storage_key!r} is already in use")

    async def _find_repeat(self, new: NewMessage) -> Message | None:
        async with self.db.transaction(new.tenant_id, "find_repeat") as conn:
            if new.ingest_hash is not None:
                # The same raw bytes for the same mailbox (an IMAP re-sync): the same message.
                fetched = await self._select_one(
                    conn,
                    queries.SELECT_MESSAGE_BY_INGEST_HASH,
                    {
                        "tenant_id": new.tenant_id,
                        "email_account_id": new.email_account_id,
                        "ingest_hash": new.ingest_hash,
                    },
                )
                if fetched is not None:
                    return fetched.message
            if new.request_id:
                fetched = await self._select_one(
                    conn,
                    queries.SELECT_MESSAGE_BY_REQUEST_ID,
                    {"tenant_id": new.tenant_id, "request_id": new.request_id},
                )
                if fetched is not None:
                    if fetched.request_fingerprint != new.request_fingerprint:
                        raise AlreadyExists(
                            f"request_id {new.request_id!r} was already used for a different "
                            f"request (message {fetched.message.storage_key!r})"
                        )
                    return fetched.message
            if not new.caller_chose_key:
                return None
            fetched = await self._select_one(
                conn,
                queries.SELECT_MESSAGE_BY_KEY,
                {"tenant_id": new.tenant_id, "storage_key": new.storage_key},
            )
            if fetched is None:
                return None
            if fetched.request_fingerprint != new.request_fingerprint:
                raise AlreadyExists(
                    f"storage_key {new.storage_key!r} already exists with different content"
                )
            return fetched.message

    async def _select_one(
        self, conn: AsyncConn, query: str, params: Mapping[str, Any]
    ) -> FetchedMessage | None:
        cur = conn.cursor(row_factory=class_row(MessageRow))
        await cur.execute(query, params)
        row = await cur.fetchone()
        if row is None:
            return None
        attachments = await self._attachments(conn, row.tenant_id, [row.storage_key])
        return FetchedMessage(
            message=_message(row, attachments.get(row.storage_key, [])),
            request_fingerprint=bytes(row.request_fingerprint),
        )

    async def _attachments(
        self, conn: AsyncConn, tenant_id: str, storage_keys: list[str]
    ) -> dict[str, list[AttachmentRow]]:
        cur = conn.cursor(row_factory=class_row(AttachmentRow))
        await cur.execute(
            queries.SELECT_ATTACHMENTS, {"tenant_id": tenant_id, "storage_keys": storage_keys}
        )
        grouped: dict[str, list[AttachmentRow]] = defaultdict(list)
        for row in await cur.fetchall():
            grouped[row.storage_key].append(row)
        return grouped

    async def get_message(self, tenant_id: str, storage_key: str, *, full: bool) -> FetchedMessage:
        """Reads one message; with full, also its headers and stored bodies."""
        params = {"tenant_id": tenant_id, "storage_key": storage_key}
        async with self.db.transaction(tenant_id, "get_message") as conn:
            fetched = await self._select_one(conn, queries.SELECT_MESSAGE_BY_KEY, params)
            if fetched is None:
                raise NotFound(f"message {storage_key!r} not found")
            if not full:
                return fetched
            cur = await conn.execute(queries.SELECT_CONTENT, params)
            content = await cur.fetchone()
            if content is None:
                return replace(fetched, message=replace(fetched.message, headers=()))
            headers, text_sha, html_sha = content
            wanted = [bytes(s) for s in (text_sha, html_sha) if s is not None]
            blobs = await self._read_blobs(conn, tenant_id, wanted)
        message = replace(
            fetched.message, headers=tuple(Header(h[0], h[1], len(h) > 2) for h in headers)
        )
        return replace(
            fetched,
            message=message,
            text_blob=blobs.get(bytes(text_sha)) if text_sha is not None else None,
            html_blob=blobs.get(bytes(html_sha)) if html_sha is not None else None,
        )

    async def blob_refs(self, tenant_id: str, shas: Sequence[bytes], owner: str) -> list[BlobRef]:
        """The blob of each digest, in order, to be read chunk by chunk; NotFound naming
        `owner` (what references them) when one is gone."""
        if not shas:
            return []
        async with self.db.transaction(tenant_id, "blob_refs", pipeline=False) as conn:
            return await self._blob_refs(conn, tenant_id, shas, owner)

    async def _blob_refs(
        self, conn: AsyncConn, tenant_id: str, shas: Sequence[bytes], owner: str
    ) -> list[BlobRef]:
        cur = await conn.execute(
            queries.SELECT_BLOB_REFS, {"tenant_id": tenant_id, "sha256": list(dict.fromkeys(shas))}
        )
        found = {
            bytes(sha): BlobRef(bytes(sha), codec, count)
            for sha, codec, count in await cur.fetchall()
        }
        missing = [sha.hex() for sha in shas if sha not in found]
        if missing:
            raise NotFound(f"{owner} lost blob(s) {', '.join(missing)}")
        return [found[sha] for sha in shas]

    async def raw_layout(self, tenant_id: str, storage_key: str) -> RawLayout | None:
        """The skeleton (read whole: it is headers and boundaries) and the body blobs of an
        ingested message, whose chunks the caller reads as it goes; None for a structured
        message. NotFound when there is no such message."""
        params = {"tenant_id": tenant_id, "storage_key": storage_key}
        async with self.db.transaction(tenant_id, "get_raw_message", pipeline=False) as conn:
            cur = await conn.execute(queries.SELECT_RAW_PARTS, params)
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"message {storage_key!r} not found")
            raw_sha, parts, raw_size = row
            if raw_sha is None:
                return None
            skeleton_sha = bytes(raw_sha)
            skeleton = (await self._read_blobs(conn, tenant_id, [skeleton_sha]))[skeleton_sha]
            wanted = [bytes.fromhex(p) for p in parts]
            bodies = await self._blob_refs(conn, tenant_id, wanted, f"message {storage_key!r}")
        return RawLayout(skeleton, tuple(bodies), raw_size or 0)

    async def _read_blobs(
        self, conn: AsyncConn, tenant_id: str, shas: list[bytes]
    ) -> dict[bytes, StoredBlob]:
        if not shas:
            return {}
        cur = await conn.execute(
            queries.SELECT_BLOB_CHUNKS, {"tenant_id": tenant_id, "sha256": shas}, binary=True
        )
        chunks: dict[bytes, list[bytes]] = defaultdict(list)
        codecs: dict[bytes, str] = {}
        for sha, codec, data in await cur.fetchall():
            key = bytes(sha)
            codecs[key] = codec
            chunks[key].append(bytes(data))
        result = {sha: StoredBlob(codecs[sha], tuple(chunks[sha])) for sha in codecs}
        # Empty blobs have no chunks at all.
        for sha in shas:
            result.setdefault(sha, StoredBlob("none", ()))
        return result

    async def list_messages(
        self,
        tenant_id: str,
        filter_: MessageFilter,
        after: PageCursor | None,
        limit: int,
    ) -> list[Message]:
        """Messages matching the filter, newest first, starting after the cursor."""
        conditions: list[sql.Composable] = [sql.SQL("m.tenant_id = %(tenant_id)s")]
        params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit}
        for column in ("campaign_id", "lead_id", "email_account_id", "thread_id"):
            value = getattr(filter_, column)
            if value:
                conditions.append(
                    sql.SQL("m.{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
                )
                params[column] = value
        if filter_.direction is not None:
            conditions.append(sql.SQL("m.direction = %(direction)s"))
            params["direction"] = filter_.direction.value
        if filter_.message_type is not None:
            conditions.append(sql.SQL("m.message_type = %(message_type)s"))
            params["message_type"] = filter_.message_type.value
        if filter_.statuses:
            conditions.append(sql.SQL("m.status = ANY(%(statuses)s::text[])"))
            params["statuses"] = [s.value for s in filter_.statuses]
        if filter_.created_after is not None:
            conditions.append(sql.SQL("m.created_at >= %(created_after)s"))
            params["created_after"] = filter_.created_after
        if filter_.created_before is not None:
            conditions.append(sql.SQL("m.created_at < %(created_before)s"))
            params["created_before"] = filter_.created_before
        if not filter_.include_archived:
            conditions.append(sql.SQL("m.archived_at IS NULL"))
        if after is not None:
            conditions.append(
                sql.SQL("(m.created_at, m.storage_key) < (%(after_created)s, %(after_key)s)")
            )
            params["after_created"] = after.created_at
            params["after_key"] = after.storage_key
        query = sql.SQL(
            "SELECT {columns} FROM email_messages m WHERE {where} "
            "ORDER BY m.created_at DESC, m.storage_key DESC LIMIT %(limit)s"
        ).format(columns=sql.SQL(queries.MESSAGE_COLUMNS), where=sql.SQL(" AND ").join(conditions))
        async with self.db.transaction(tenant_id, "list_messages") as conn:
            cur = conn.cursor(row_factory=class_row(MessageRow))
            await cur.execute(query, params)
            rows = await cur.fetchall()
            attachments = (
                await self._attachments(conn, tenant_id, [r.storage_key for r in rows])
                if rows
                else {}
            )
        return [_message(r, attachments.get(r.storage_key, [])) for r in rows]

    async def delete_message(self, tenant_id: str, storage_key: str) -> int:
        """Deletes a message; returns how many blobs it left without references.

        Those blobs are freed by the collector after EMAILSTORE_BLOB_GRACE_S.
        """
        params = {"tenant_id": tenant_id, "storage_key": storage_key}
        async with self.db.transaction(tenant_id, "delete_message") as conn:
            cur = await conn.execute(queries.DELETE_MESSAGE, params)
            row = await cur.fetchone()
            deleted, unreferenced = row if row is not None else (0, [])
            if not deleted:
                raise NotFound(f"message {storage_key!r} not found")
            if unreferenced:
                await conn.execute(queries.MARK_GC_PENDING, {"tenant_id": tenant_id})
            return len(unreferenced)

    async def storage_usage(self, tenant_id: str) -> StorageUsage:
        """Counts and byte totals of a tenant."""
        async with self.db.transaction(tenant_id, "storage_usage") as conn:
            cur = conn.cursor(row_factory=class_row(StorageUsage))
            await cur.execute(queries.STORAGE_USAGE, {"tenant_id": tenant_id})
            usage = await cur.fetchone()
        if usage is None:  # an aggregate always returns a row
            raise RuntimeError("storage usage query returned nothing")
        return usage

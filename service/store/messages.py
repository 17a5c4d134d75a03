"""The message repository: email_messages, email_content and attachments rows of one tenant,
in the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import class_row

from service.codec.blobs import CHUNK_SIZE
from service.core.ports import (
    BlobWrite,
    Deleted,
    HeldMessage,
    HeldValues,
    MessageConflict,
    NewContent,
    ReadyMessage,
    StoredContent,
    StoredMessage,
    Subject,
    ThreadCandidate,
)
from service.models import Message, MessageFilter, StorageUsage
from service.store import rows
from service.store.queries import query
from service.store.rows import AttachmentRow, ContentRow, DeletedRow, HeldRow, MessageRow
from service.store.statements import JoinedRow, record, records

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


_ATTACHMENT_COLUMNS = rows.column_names(AttachmentRow)
_BLOB_COLUMNS = rows.column_names(rows.BlobRow)


def _blob_params(writes: Sequence[BlobWrite]) -> dict[str, Any]:
    """The blobs a group writes: their rows (as JSON), and every chunk as three arrays."""
    blob_rows = [
        rows.BlobRow(
            sha256=w.blob.sha256,
            size_bytes=w.blob.size_bytes,
            stored_size_bytes=w.blob.stored_size_bytes,
            codec=w.blob.codec,
            chunk_size=CHUNK_SIZE,
            chunk_count=len(w.blob.chunks),
            refcount=w.refs,
            message_refs=w.messages,
        )
        for w in writes
    ]
    digests, seqs, data = [], [], []
    for w in writes:
        for seq, chunk in enumerate(w.blob.chunks):
            digests.append(w.blob.sha256)
            seqs.append(seq)
            data.append(chunk)
    return {
        "blobs": rows.jsonb([rows.insert_json(r, _BLOB_COLUMNS) for r in blob_rows]),
        "chunk_sha256": digests,
        "chunk_seq": seqs,
        "chunk_data": data,
    }


def _q(name: str) -> str:
    return query("messages", name)


def _content_values(tenant_id: str, ready: ReadyMessage) -> dict[str, Any]:
    content = ready.new.content
    pack = content.pack
    return {
        "tenant_id": tenant_id,
        "storage_key": ready.new.storage_key,
        "headers": [],  # in the pack
        "text_sha256": rows.bytea(content.text_sha256),
        "html_sha256": rows.bytea(content.html_sha256),
        "raw_sha256": rows.bytea(content.skeleton_sha256),
        "raw_parts": [p.hex() if isinstance(p, bytes) else p for p in content.parts],
        "pack": rows.bytea(pack.stored) if pack else None,
        "pack_size": pack.raw_size if pack else 0,
        "dictionary_id": pack.dictionary_id if pack else None,
    }


# select_full's rows: the message's columns, then its content row's named content__*.
_MESSAGE_AND_CONTENT = JoinedRow(MessageRow, ContentRow, "content__")


def _stored_content(row: ContentRow) -> StoredContent:
    return StoredContent(
        headers=rows.headers(row.headers),
        text_sha256=row.text_sha256,
        html_sha256=row.html_sha256,
        skeleton_sha256=row.skeleton_sha256,
        parts=tuple(bytes.fromhex(p) if isinstance(p, str) else p for p in row.raw_parts),
        pack=row.pack,
        pack_size=row.pack_size,
        dictionary_id=row.dictionary_id,
        raw_size_bytes=row.raw_size_bytes or 0,
        ingested=row.ingested,
    )


def _attachment_rows(ready: ReadyMessage) -> list[AttachmentRow]:
    """The attachment rows of a new message, as inserted (the database adds nothing)."""
    return [
        AttachmentRow(
            storage_key=ready.new.storage_key,
            attachment_id=a.attachment_id,
            position=a.position,
            filename=a.filename,
            mime_type=a.mime_type,
            size_bytes=a.size_bytes or 0,
            sha256=a.sha256,
            disposition=a.disposition,
            content_id=a.content_id,
            part_path=a.part_path,
        )
        for a in ready.attachments
    ]


class MessageRepository:
    """Messages of one tenant in one transaction (the connection is the unit of work's)."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def insert(
        self, messages: Sequence[ReadyMessage], blobs: Sequence[BlobWrite]
    ) -> list[Message]:
        """Inserts new messages, with the blobs they reference (bytes and references), in one
        statement; MessageConflict when one is taken already."""
        tenant = self._tenant
        ready = {m.new.storage_key: m for m in messages}
        new_rows = {key: rows.new_message_row(m) for key, m in ready.items()}
        attachments = {m.new.storage_key: _attachment_rows(m) for m in messages}
        params = _blob_params(blobs) | {
            "tenant_id": tenant,
            "messages": rows.jsonb(
                [rows.new_message_json(r, ready[key]) for key, r in new_rows.items()]
            ),
            "contents": rows.jsonb([_content_values(tenant, m) for m in messages]),
            "attachments": rows.jsonb(
                [
                    rows.insert_json(row, _ATTACHMENT_COLUMNS) | {"tenant_id": tenant}
                    for of_one in attachments.values()
                    for row in of_one
                ]
            ),
        }
        try:
            cur = await self._conn.execute(_q("insert_messages"), params)
            times = await cur.fetchall()
        except pg_errors.UniqueViolation as exc:
            raise MessageConflict(exc.diag.constraint_name or "unique") from exc
        return [
            rows.message(
                new_rows[key],
                attachments[key],
                created_at=created,
                updated_at=updated,
                expires_at=expires,
            )
            for key, created, updated, expires in times
        ]

    async def _one(self, name: str, params: Mapping[str, Any]) -> StoredMessage | None:
        cur = self._conn.cursor(row_factory=class_row(MessageRow))
        await cur.execute(_q(name), {"tenant_id": self._tenant, **params})
        row = await cur.fetchone()
        if row is None:
            return None
        attachments = await self._attachments([row.storage_key]) if row.attachment_count else {}
        message = rows.message(row, attachments.get(row.storage_key, ()))
        return StoredMessage(message, bytes(row.request_fingerprint))

    async def by_key(self, storage_key: str) -> StoredMessage | None:
        """The message with this key."""
        return await self._one("select_by_key", {"storage_key": storage_key})

    async def by_request_id(self, request_id: str) -> StoredMessage | None:
        """The message stored by the request with this id."""
        return await self._one("select_by_request_id", {"request_id": request_id})

    async def by_ingest_hash(self, email_account_id: str, digest: bytes) -> StoredMessage | None:
        """The message ingested from these raw bytes for this mailbox."""
        return await self._one(
            "select_by_ingest_hash", {"email_account_id": email_account_id, "ingest_hash": digest}
        )

    async def thread_candidates(self, message_ids: Sequence[str]) -> list[ThreadCandidate]:
        """Stored messages with one of these Message-IDs."""
        cur = self._conn.cursor(row_factory=class_row(ThreadCandidate))
        await cur.execute(
            _q("thread_candidates"), {"tenant_id": self._tenant, "message_ids": list(message_ids)}
        )
        found: list[ThreadCandidate] = await cur.fetchall()
        return found

    async def thread(self, thread_id: str, limit: int) -> list[Message]:
        """A conversation's messages, oldest first (at most `limit`)."""
        found = await records(
            self._conn,
            MessageRow,
            _q("select_thread"),
            {"tenant_id": self._tenant, "thread_id": thread_id, "limit": limit},
        )
        return await self.with_attachments(found)

    async def with_attachments(self, found: Sequence[MessageRow]) -> list[Message]:
        """Message rows as models, with the attachments of those that have some."""
        keys = [r.storage_key for r in found if r.attachment_count]
        attachments = await self._attachments(keys) if keys else {}
        return [rows.message(r, attachments.get(r.storage_key, ())) for r in found]

    async def _attachments(self, storage_keys: list[str]) -> dict[str, list[AttachmentRow]]:
        cur = self._conn.cursor(row_factory=class_row(AttachmentRow))
        await cur.execute(
            _q("select_attachments"), {"tenant_id": self._tenant, "storage_keys": storage_keys}
        )
        grouped: dict[str, list[AttachmentRow]] = defaultdict(list)
        for row in await cur.fetchall():
            grouped[row.storage_key].append(row)
        return grouped

    async def full(self, storage_key: str) -> tuple[Message, StoredContent | None] | None:
        """The message with this key and its content row, in one statement."""
        cur = self._conn.cursor(row_factory=_MESSAGE_AND_CONTENT)
        await cur.execute(
            _q("select_full"), {"tenant_id": self._tenant, "storage_key": storage_key}
        )
        found = await cur.fetchone()
        if found is None:
            return None
        row, content = found
        attachments = await self._attachments([row.storage_key]) if row.attachment_count else {}
        message = rows.message(row, attachments.get(row.storage_key, ()))
        return message, _stored_content(content) if content is not None else None

    async def content(self, storage_key: str) -> StoredContent | None:
        """The content row of a message, with the message's raw size."""
        row = await record(
            self._conn,
            ContentRow,
            _q("select_content"),
            {"tenant_id": self._tenant, "storage_key": storage_key},
        )
        if row is None:
            return None
        return _stored_content(row)

    async def to_recompress(
        self, after: str, limit: int, dictionary_id: int | None
    ) -> list[tuple[str, StoredContent, list[bytes]]]:
        """A batch of content rows not packed with the dictionary (or not packed at all, with
        none), locked, with the digests of each message's attachments."""
        found = await records(
            self._conn,
            ContentRow,
            _q("content_to_recompress"),
            {
                "tenant_id": self._tenant,
                "after": after,
                "limit": limit,
                "dictionary_id": dictionary_id,
            },
        )
        attachments = await self._attachments([r.storage_key for r in found]) if found else {}
        return [
            (
                r.storage_key,
                _stored_content(r),
                [a.sha256 for a in attachments.get(r.storage_key, [])],
            )
            for r in found
        ]

    async def rewrite_content(self, key: str, content: NewContent, stored_delta: int) -> None:
        """Gives a content row a new layout (and its message the stored size that goes
        with it); sent with what follows (pipeline mode)."""
        pack = content.pack
        await self._conn.execute(
            _q("rewrite_content"),
            {
                "tenant_id": self._tenant,
                "storage_key": key,
                "text_sha256": content.text_sha256,
                "html_sha256": content.html_sha256,
                "skeleton_sha256": content.skeleton_sha256,
                "raw_parts": rows.jsonb(
                    [p.hex() if isinstance(p, bytes) else p for p in content.parts]
                ),
                "pack": pack.stored if pack else None,
                "pack_size": pack.raw_size if pack else 0,
                "dictionary_id": pack.dictionary_id if pack else None,
                "stored_delta": stored_delta,
            },
        )

    async def list(
        self, filter_: MessageFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[Message]:
        """Messages matching the filter, newest first, after (created_at, storage_key)."""
        where, params = _conditions(self._tenant, filter_, after)
        statement = sql.SQL(_q("select_page")).format(where=where)
        cur = self._conn.cursor(row_factory=class_row(MessageRow))
        await cur.execute(statement, params | {"limit": limit})
        return await self.with_attachments(await cur.fetchall())

    async def set_archived(self, storage_key: str, archived: bool) -> Message | None:
        """Archives or unarchives the message, appending a change; None when it is missing
        or already so."""
        found = await records(
            self._conn,
            MessageRow,
            _q("set_archived"),
            {"tenant_id": self._tenant, "storage_key": storage_key, "archived": archived},
        )
        return (await self.with_attachments(found))[0] if found else None

    async def delete_many(self, keys: Sequence[str], *, erase_changes: bool = False) -> Deleted:
        """Deletes messages, releasing their blob references (blobs locked first, in digest
        order); with erase_changes, their earlier change-feed entries go too."""
        params = {"tenant_id": self._tenant, "keys": list(keys)}
        await self._conn.execute(_q("lock_message_blobs"), params)
        found = await record(
            self._conn,
            DeletedRow,
            _q("delete_messages"),
            params | {"erase_changes": erase_changes},
        )
        if found is None:  # an aggregate always returns a row
            raise RuntimeError("delete_messages returned nothing")
        return Deleted(
            messages=found.deleted,
            unreferenced=tuple(found.unreferenced),
            freed_bytes=found.freed_bytes,
            events=found.events,
            attachments=found.attachments,
            changes=found.changes,
        )

    async def drop_unreferenced(self, digests: Sequence[bytes]) -> None:
        """Deletes these blobs (and their chunks) if still unreferenced."""
        if digests:
            await self._conn.execute(
                _q("drop_unreferenced_blobs"), {"tenant_id": self._tenant, "digests": list(digests)}
            )

    async def held(
        self, subject: Subject, holds: HeldValues, limit: int = 1
    ) -> tuple[HeldMessage, ...]:
        """Messages of the subject that a hold of these covers."""
        condition, params = subject_condition(subject)
        statement = sql.SQL(_q("held_messages")).format(subject=condition)
        cur = self._conn.cursor(row_factory=class_row(HeldRow))
        await cur.execute(
            statement,
            params
            | {
                "tenant_id": self._tenant,
                "held_keys": list(holds.keys),
                "held_leads": list(holds.leads),
                "held_emails": list(holds.emails),
                "limit": limit,
            },
        )
        found: list[HeldRow] = await cur.fetchall()
        return tuple(HeldMessage(r.storage_key, r.lead_id, tuple(r.addresses)) for r in found)

    async def usage(self) -> StorageUsage:
        """Counts and byte totals of the tenant."""
        cur = self._conn.cursor(row_factory=class_row(StorageUsage))
        await cur.execute(_q("storage_usage"), {"tenant_id": self._tenant})
        usage: StorageUsage | None = await cur.fetchone()
        if usage is None:  # an aggregate always returns a row
            raise RuntimeError("storage usage query returned nothing")
        return usage


def subject_condition(subject: Subject) -> tuple[sql.Composable, dict[str, Any]]:
    """The condition choosing a subject's messages: by keys, a lead, or a named address."""
    if subject.keys is not None:
        return sql.SQL("m.storage_key = ANY(%(keys)s::text[])"), {"keys": list(subject.keys)}
    if subject.lead_id:
        return sql.SQL("m.lead_id = %(lead_id)s"), {"lead_id": subject.lead_id}
    return (
        sql.SQL(
            "emailstore_address_keys(m.from_email, m.recipients, m.bounce) "
            "@> ARRAY[emailstore_address_key(%(email)s)]"
        ),
        {"email": subject.email},
    )


def _conditions(
    tenant_id: str, f: MessageFilter, after: tuple[datetime, str] | None
) -> tuple[sql.Composable, dict[str, Any]]:
    """The WHERE clause of a page of ListMessages: fixed conditions, every value bound."""
    conditions: list[sql.Composable] = [sql.SQL("m.tenant_id = %(tenant_id)s")]
    params: dict[str, Any] = {"tenant_id": tenant_id}
    equal = {
        "campaign_id": f.campaign_id,
        "lead_id": f.lead_id,
        "email_account_id": f.email_account_id,
        "thread_id": f.thread_id,
        "direction": f.direction.value if f.direction else "",
        "message_type": f.message_type.value if f.message_type else "",
    }
    for column, value in equal.items():
        if value:
            conditions.append(
                sql.SQL("m.{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            )
            params[column] = value
    if f.statuses:
        conditions.append(sql.SQL("m.status = ANY(%(statuses)s::text[])"))
        params["statuses"] = [s.value for s in f.statuses]
    if f.created_after is not None:
        conditions.append(sql.SQL("m.created_at >= %(created_after)s"))
        params["created_after"] = f.created_after
    if f.created_before is not None:
        conditions.append(sql.SQL("m.created_at < %(created_before)s"))
        params["created_before"] = f.created_before
    if not f.include_archived:
        conditions.append(sql.SQL("m.archived_at IS NULL"))
    if after is not None:
        conditions.append(
            sql.SQL("(m.created_at, m.storage_key) < (%(after_created)s, %(after_key)s)")
        )
        params["after_created"], params["after_key"] = after
    return sql.SQL(" AND ").join(conditions), params

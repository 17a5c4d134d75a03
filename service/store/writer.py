"""Group commit for message writes.

Concurrent stores of one tenant are written together: one transaction, one statement
(queries.INSERT_MESSAGES) for the whole group. Under light load a group is one message and
nothing waits; under heavy load groups grow by themselves while the previous ones are in
flight, so the database commits (and the driver encodes) once per group instead of once per
message. Each message stays all-or-nothing. When a group fails for a reason that might belong to
one of its messages, its messages are retried one by one, so a bad message fails alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from opentelemetry import trace
from psycopg.types.json import Jsonb

from service import deadlines
from service.codec.blobs import CHUNK_SIZE
from service.errors import FailedPrecondition, Unavailable
from service.store import queries
from service.store.database import AsyncConn, Database, TransientConflict
from service.store.records import NewAttachment, NewMessage

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.store")


@dataclass(frozen=True)
class Inserted:
    """What the database assigned to an inserted message."""

    storage_key: str
    thread_id: str
    parent_storage_key: str
    created_at: datetime
    updated_at: datetime
    raw_size_bytes: int
    stored_size_bytes: int
    attachments: tuple[NewAttachment, ...]


class Conflict:
    """The message's storage_key or request_id is already taken; nothing was written."""


CONFLICT = Conflict()

Outcome = Inserted | Conflict


# A message this large is written in a transaction of its own, right away: it would make the
# messages grouped with it wait for its bytes.
SOLO_BYTES = 256 * 1024


@dataclass
class _Pending:
    new: NewMessage
    future: asyncio.Future[Outcome] = field(repr=False)
    # The caller's span: the group's database span links to every caller it writes for.
    span_context: trace.SpanContext = field(repr=False)
    # The caller's deadline (time.monotonic()), None when it set none.
    deadline: float | None = None


def _sizes_and_refs(
    new: NewMessage, existing: Mapping[bytes, tuple[int, int]]
) -> tuple[int, int, list[NewAttachment], list[bytes]]:
    """raw and stored size, attachments with sizes filled, and every blob reference."""
    sizes = {b.sha256: (b.size_bytes, b.stored_size_bytes) for b in new.new_blobs} | dict(existing)
    attachments = [
        replace(a, size_bytes=sizes[a.sha256][0]) if a.size_bytes is None else a
        for a in new.attachments
    ]
    refs = [sha for sha in (new.text_sha256, new.html_sha256) if sha is not None]
    refs.extend(a.sha256 for a in attachments)
    content_refs = list(refs)
    if new.raw_sha256 is not None:
        refs.append(new.raw_sha256)
        refs.extend(new.raw_parts)
    raw = sum(sizes[sha][0] for sha in content_refs)
    if new.raw_size_bytes is not None:
        raw = new.raw_size_bytes
    stored = sum(sizes[sha][1] for sha in refs)
    return raw, stored, attachments, refs


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


def batch_params(
    batch: Sequence[NewMessage], existing: Mapping[bytes, tuple[int, int]]
) -> tuple[dict[str, Any], dict[str, tuple[int, int, list[NewAttachment]]]]:
    """Bind parameters of INSERT_MESSAGES, and per storage key its sizes and attachments."""
    messages: list[dict[str, Any]] = []
    refs: list[dict[str, str]] = []
    blobs: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    seen_blobs: set[bytes] = set()
    per_key: dict[str, tuple[int, int, list[NewAttachment]]] = {}
    for ord_, new in enumerate(batch):
        raw, stored, filled, message_refs = _sizes_and_refs(new, existing)
        per_key[new.storage_key] = (raw, stored, filled)
        to = new.recipients.get("to") or []
        messages.append(
            {
                "ord": ord_,
                "storage_key": new.storage_key,
                "request_id": new.request_id,
                "fingerprint": new.request_fingerprint.hex(),
                "email_account_id": new.email_account_id,
                "campaign_id": new.campaign_id,
                "lead_id": new.lead_id,
                "direction": new.direction,
                "message_type": new.message_type,
                "status": new.status,
                "from_email": new.from_email,
                "from_name": new.from_name,
                "to_email": to[0][0] if to else "",
                "recipients": new.recipients,
                "subject": new.subject,
                "message_id_header": new.message_id_header,
                "in_reply_to": new.in_reply_to,
                "references": list(new.references),
                "thread_refs": [
                    r for r in (new.in_reply_to, *new.references, new.thread_hint) if r
                ],
                "new_thread_id": new.new_thread_id,
                "labels": dict(new.labels),
                "raw_size_bytes": raw,
                "stored_size_bytes": stored,
                "content_hash": new.content_hash.hex(),
                "attachment_count": len(filled),
                "sent_at": new.sent_at.isoformat() if new.sent_at else None,
                "headers": new.headers,
                "text_sha256": _hex(new.text_sha256),
                "html_sha256": _hex(new.html_sha256),
                "ingest_hash": _hex(new.ingest_hash),
                "parse_status": new.parse_status,
                "parse_warnings": list(new.parse_warnings),
                "raw_sha256": _hex(new.raw_sha256),
                "raw_parts": [sha.hex() for sha in new.raw_parts],
            }
        )
        refs.extend({"storage_key": new.storage_key, "sha256": sha.hex()} for sha in message_refs)
        for blob in new.new_blobs:
            if blob.sha256 in seen_blobs:
                continue
            seen_blobs.add(blob.sha256)
            blobs.append(
                {
                    "sha256": blob.sha256_hex,
                    "size_bytes": blob.size_bytes,
                    "stored_size_bytes": blob.stored_size_bytes,
                    "codec": blob.codec,
                    "chunk_count": len(blob.chunks),
                    "first_chunk": len(chunks),
                }
            )
            chunks.extend(blob.chunks)
        attachments.extend(
            {
                "storage_key": new.storage_key,
                "attachment_id": a.attachment_id,
                "position": a.position,
                "filename": a.filename,
                "mime_type": a.mime_type,
                "size_bytes": a.size_bytes,
                "sha256": a.sha256.hex(),
                "disposition": a.disposition,
                "content_id": a.content_id,
                "part_path": a.part_path,
            }
            for a in filled
        )
    params = {
        "tenant_id": batch[0].tenant_id,
        "messages": Jsonb(messages),
        "refs": Jsonb(refs),
        "blobs": Jsonb(blobs),
        "attachments": Jsonb(attachments),
        "chunks": chunks,
        "chunk_size": CHUNK_SIZE,
    }
    return params, per_key


class MessageWriter:
    """Writes messages in per-tenant groups, at most `concurrency` transactions at a time."""

    def __init__(self, db: Database, *, max_batch: int = 64, concurrency: int = 4) -> None:
        self.db = db
        self.max_batch = max_batch
        self.concurrency = concurrency
        self._queue: deque[_Pending] = deque()
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def write(self, new: NewMessage) -> Outcome:
        """Stores one message (possibly together with others); its outcome."""
        size = sum(len(c) for b in new.new_blobs for c in b.chunks)
        if new.existing_blob_refs or size >= SOLO_BYTES:
            # References to blobs the tenant must already have are checked first, in the same
            # transaction; such a message is written on its own so a failed check touches no
            # other. Large messages go alone too.
            return (await self._write_group([new]))[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        span = trace.get_current_span().get_span_context()
        self._queue.append(_Pending(new, future, span, deadlines.current()))
        if self._flushers < self.concurrency:
            self._flushers += 1
            # A fresh context: the flusher serves many callers, not the one that woke it.
            task = loop.create_task(self._flush(), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take_group(self) -> list[_Pending]:
        """The oldest message and the queued ones that can share its transaction."""
        first = self._queue[0]
        tenant = first.new.tenant_id
        keys: set[str] = set()
        request_ids: set[str] = set()
        group: list[_Pending] = []
        rest: deque[_Pending] = deque()
        while self._queue:
            pending = self._queue.popleft()
            new = pending.new
            # One transaction per tenant (RLS); repeats of one key go to separate groups so
            # that the later one sees the earlier one as an existing row.
            if (
                len(group) < self.max_batch
                and new.tenant_id == tenant
                and new.storage_key not in keys
                and (new.request_id is None or new.request_id not in request_ids)
            ):
                group.append(pending)
                keys.add(new.storage_key)
                if new.request_id is not None:
                    request_ids.add(new.request_id)
            else:
                rest.append(pending)
        self._queue = rest
        return group

    async def _flush(self) -> None:
        try:
            while self._queue:
                group = self._take_group()
                await self._settle(group)
        finally:
            self._flushers -= 1

    async def _settle(self, group: list[_Pending]) -> None:
        links = [trace.Link(p.span_context) for p in group if p.span_context.is_valid]
        # The group waits for a connection as long as its most patient caller would.
        waits = [p.deadline for p in group]
        deadlines.set_deadline(None if None in waits else max(w for w in waits if w is not None))
        parent = trace.set_span_in_context(trace.NonRecordingSpan(group[0].span_context))
        try:
            with tracer.start_as_current_span(
                "write group",
                context=parent,
                links=links,
                attributes={"emailstore.group_size": len(group)},
            ):
                outcomes = await self._write_group([p.new for p in group])
        except Exception as exc:
            if len(group) == 1 or (
                isinstance(exc, Unavailable) and not isinstance(exc, TransientConflict)
            ):
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                return
            log.info("group of %d failed (%s); writing one by one", len(group), type(exc).__name__)
            for pending in group:
                await self._settle([pending])
            return
        for pending, outcome in zip(group, outcomes, strict=True):
            if not pending.future.done():
                pending.future.set_result(outcome)

    async def _write_group(self, batch: list[NewMessage]) -> list[Outcome]:
        try:
            return await self._write_group_once(batch)
        except _Rollback:
            return [CONFLICT]

    async def _write_group_once(self, batch: list[NewMessage]) -> list[Outcome]:
        name = "insert_message" if len(batch) == 1 else "insert_messages"
        async with self.db.transaction(batch[0].tenant_id, name) as conn:
            existing: dict[bytes, tuple[int, int]] = {}
            if len(batch) == 1 and batch[0].existing_blob_refs:
                existing = await _reference_existing_blobs(conn, batch[0])
            params, per_key = batch_params(batch, existing)
            cur = await conn.execute(queries.INSERT_MESSAGES, params)
            rows = {row[0]: row for row in await cur.fetchall()}
            if existing and not rows:
                # The message was a repeat: undo the references the check just added.
                raise _Rollback
        outcomes: list[Outcome] = []
        for new in batch:
            row = rows.get(new.storage_key)
            if row is None:
                outcomes.append(CONFLICT)
                continue
            raw, stored, attachments = per_key[new.storage_key]
            outcomes.append(
                Inserted(row[0], row[1], row[2], row[3], row[4], raw, stored, tuple(attachments))
            )
        return outcomes


class _Rollback(Exception):
    """Internal: abandon a transaction whose only message turned out to be a repeat."""


async def _reference_existing_blobs(
    conn: AsyncConn, new: NewMessage
) -> dict[bytes, tuple[int, int]]:
    shas = sorted(new.existing_blob_refs)
    cur = await conn.execute(
        queries.REFERENCE_EXISTING_BLOBS,
        {
            "tenant_id": new.tenant_id,
            "sha256": shas,
            "refs": [new.existing_blob_refs[s] for s in shas],
        },
    )
    found = {bytes(sha): (size, stored) for sha, size, stored in await cur.fetchall()}
    missing = [s.hex() for s in shas if s not in found]
    if missing:
        raise FailedPrecondition(
            f"unknown blob_sha256 {', '.join(missing)}: upload it with UploadBlob first"
        )
    return found

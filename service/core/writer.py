"""Writing new messages: group commit, idempotent repeats, and what a write decides.

Concurrent stores of one tenant are written together: one unit of work for the whole group.
Under light load a group is one message and nothing waits; under heavy load a tenant's next
messages queue while its group is in flight (one at a time per tenant, up to `concurrency`
tenants at once) and make the next group, so the database commits (and the driver encodes)
once per group instead of once per message; a transaction's fixed cost (some hundreds of
microseconds of driver CPU here) is shared by the group. Each message stays all-or-nothing: when a
group fails for a reason that might belong to one of its messages, its messages are written
one by one, so a bad message fails alone.

In the transaction of a group, the writer decides what only it can know then: which thread
each message joins, the sizes of blobs given by digest (and that they exist), each blob's new
references. `on_inserted` hooks run in the same transaction, for whatever must be written
atomically with the messages.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from opentelemetry import trace

from service import deadlines
from service.codec.blobs import EncodedBlob
from service.core import idempotency, threading
from service.core.ports import (
    BlobSize,
    BlobWrite,
    MessageConflict,
    NewMessage,
    ReadyMessage,
    Transactions,
    UnitOfWork,
)
from service.errors import AlreadyExists, FailedPrecondition, TransientConflict, Unavailable
from service.models import Caller, Message, Sizes, StoreResult, Thread

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.core")


class Conflict:
    """The message's storage_key, request_id or raw bytes are taken; nothing was written."""


CONFLICT = Conflict()
Outcome = Message | Conflict
InsertHook = Callable[[UnitOfWork, Sequence[Message]], Awaitable[None]]

# A message this large is written in a transaction of its own, right away: it would make the
# messages grouped with it wait for its bytes.
SOLO_BYTES = 256 * 1024


@dataclass
class _Pending:
    new: NewMessage
    future: asyncio.Future[Outcome] = field(repr=False)
    # The caller's span: the group's span links to every caller it writes for.
    span_context: trace.SpanContext = field(repr=False)
    # The caller's deadline (time.monotonic()), None when it set none.
    deadline: float | None = None


def ready(new: NewMessage, existing: Mapping[bytes, BlobSize], thread: Thread) -> ReadyMessage:
    """A message completed in its transaction: attachment sizes of blobs given by digest,
    raw size (its bodies and attachments, counted once per reference; or the raw message's)
    and stored size (its pack, and every referenced blob's stored bytes)."""
    sizes = {b.sha256: BlobSize(b.size_bytes, b.stored_size_bytes) for b in new.blobs}
    sizes.update(existing)
    attachments = tuple(
        replace(a, size_bytes=sizes[a.sha256].size_bytes) if a.size_bytes is None else a
        for a in new.attachments
    )
    content_refs = [s for s in (new.content.text_sha256, new.content.html_sha256) if s]
    content_refs.extend(a.sha256 for a in attachments)
    every_ref = new.content.references() + [a.sha256 for a in attachments]
    raw = new.raw_size_bytes
    if raw is None:
        raw = new.content.inline_bytes + sum(sizes[sha].size_bytes for sha in content_refs)
    stored = sum(sizes[sha].stored_size_bytes for sha in every_ref)
    if new.content.pack is not None:
        stored += len(new.content.pack.stored)
    return ReadyMessage(new, thread, attachments, Sizes(raw, stored, new.content_hash.hex()))


def blob_writes(batch: Sequence[NewMessage]) -> list[BlobWrite]:
    """The blobs a group writes, each once, with the references and messages it gains;
    sorted by digest, the lock order."""
    blobs: dict[bytes, EncodedBlob] = {}
    refs: dict[bytes, int] = {}
    messages: dict[bytes, int] = {}
    for new in batch:
        for blob in new.blobs:
            blobs.setdefault(blob.sha256, blob)
            refs[blob.sha256] = refs.get(blob.sha256, 0) + new.blob_refs[blob.sha256]
            messages[blob.sha256] = messages.get(blob.sha256, 0) + 1
    return [BlobWrite(blobs[sha], refs[sha], messages[sha]) for sha in sorted(blobs)]


class MessageWriter:
    """Writes messages in per-tenant groups, at most `concurrency` units of work at a time."""

    def __init__(
        self,
        db: Transactions,
        *,
        max_batch: int = 64,
        concurrency: int = 4,
        on_inserted: Sequence[InsertHook] = (),
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.on_inserted = tuple(on_inserted)
        self._queue: deque[_Pending] = deque()
        # Tenants this process has registered as having mail (once each).
        self._registered: set[str] = set()
        # Tenants a flusher is writing a group for: one transaction per tenant at a time, so
        # that its next messages wait and make one larger group, not many small ones.
        self._writing: set[str] = set()
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def store(self, new: NewMessage) -> StoreResult:
        """Stores a message; a repeat of an earlier request returns the stored message,
        deduplicated, and a reuse of its key or request id raises AlreadyExists."""
        for _ in range(2):
            outcome = await self.write(new)
            if isinstance(outcome, Message):
                return StoreResult(outcome, deduplicated=False)
            async with self.db.statement(Caller(new.tenant_id), "find_repeat") as tx:
                existing = await idempotency.find_repeat(tx.messages, new)
            if existing is not None:
                return StoreResult(existing, deduplicated=True)
            # The conflicting message vanished (deleted) between the two: try again.
        raise AlreadyExists(f"storage_key {new.storage_key!r} is already in use")

    async def write(self, new: NewMessage) -> Outcome:
        """Writes one message (possibly together with others): the stored message, or
        CONFLICT when its key, request id or raw bytes were taken."""
        if new.existing_refs or new.encoded_bytes >= SOLO_BYTES:
            # References to blobs the tenant must already have are checked first, in the same
            # transaction; such a message is written on its own so a failed check touches no
            # other. Large messages go alone too.
            return (await self._write_group([new]))[0]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        span = trace.get_current_span().get_span_context()
        self._queue.append(_Pending(new, future, span, deadlines.current()))
        if self._flushers < self.concurrency and new.tenant_id not in self._writing:
            self._flushers += 1
            # A fresh context: the flusher serves many callers, not the one that woke it.
            task = loop.create_task(self._flush(), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take_group(self) -> list[_Pending]:
        """The oldest message of a tenant no other flusher is writing for, and the queued ones
        that can share its transaction (none when every queued tenant is being written)."""
        tenant = next(
            (p.new.tenant_id for p in self._queue if p.new.tenant_id not in self._writing), None
        )
        if tenant is None:
            return []
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
                if not group:
                    return  # the tenants queued have their flusher: it takes them next
                tenant = group[0].new.tenant_id
                self._writing.add(tenant)
                try:
                    await self._settle(group)
                finally:
                    self._writing.discard(tenant)
        finally:
            self._flushers -= 1

    async def _settle(self, group: list[_Pending]) -> None:
        links = [trace.Link(p.span_context) for p in group if p.span_context.is_valid]
        parent = trace.set_span_in_context(trace.NonRecordingSpan(group[0].span_context))
        # The group waits for a connection as long as its most patient caller would.
        waits = [p.deadline for p in group]
        deadlines.set_deadline(None if None in waits else max(w for w in waits if w is not None))
        try:
            with tracer.start_as_current_span(
                "write group",
                context=parent,
                links=links,
                attributes={"emailstore.group_size": len(group)},
            ):
                outcomes = await self._write_group([p.new for p in group])
        except Exception as exc:
            # The database is unreachable: every message would fail the same way.
            unreachable = isinstance(exc, Unavailable) and not isinstance(exc, TransientConflict)
            if len(group) == 1 or unreachable:
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
        name = "insert_message" if len(batch) == 1 else "insert_messages"
        caller = Caller(batch[0].tenant_id)
        # Most groups are one INSERT whole (new mail of a known tenant): that statement is
        # its own transaction, without BEGIN and COMMIT to send and parse. The thread lookup
        # before it, for mail that answers some, is a read of its own: in one transaction
        # (READ COMMITTED) it would see no more and no less.
        whole = (
            not self.on_inserted
            and caller.tenant_id in self._registered
            and not any(new.existing_refs for new in batch)
        )
        unit = self.db.statement(caller, name) if whole else self.db.tenant(caller, name)
        try:
            async with unit as tx:
                existing: dict[bytes, BlobSize] = {}
                if len(batch) == 1 and batch[0].existing_refs:
                    existing = await _reference_existing(tx, batch[0])
                threads = await _threads(tx, batch)
                rows = [ready(new, existing, threads[new.storage_key]) for new in batch]
                inserted = await tx.messages.insert(rows, blob_writes(batch))
                tenant = batch[0].tenant_id
                if tenant not in self._registered:
                    await tx.tenants.register()
                for hook in self.on_inserted:
                    await hook(tx, inserted)
        except MessageConflict:
            if len(batch) == 1:
                return [CONFLICT]
            raise  # written one by one, so that only the taken ones answer CONFLICT
        self._registered.add(batch[0].tenant_id)
        by_key = {m.storage_key: m for m in inserted}
        return [by_key[new.storage_key] for new in batch]


async def _reference_existing(tx: UnitOfWork, new: NewMessage) -> dict[bytes, BlobSize]:
    """Adds the message's references to blobs given by digest; FailedPrecondition naming the
    ones the tenant does not have (they must be uploaded first)."""
    found = await tx.blobs.reference_existing(new.existing_refs)
    missing = [sha.hex() for sha in sorted(new.existing_refs) if sha not in found]
    if missing:
        raise FailedPrecondition(
            f"unknown blob_sha256 {', '.join(missing)}: upload it with UploadBlob first"
        )
    return found


async def _threads(tx: UnitOfWork, batch: Sequence[NewMessage]) -> dict[str, Thread]:
    """The thread each message of the group joins (see core.threading)."""
    wanted = sorted({ref for new in batch for ref in new.thread_refs})
    candidates = await tx.messages.thread_candidates(wanted) if wanted else []
    threads = {}
    for new in batch:
        chosen = threading.choose(new.thread_refs, new.envelope.in_reply_to, candidates)
        threads[new.storage_key] = chosen or Thread(new.new_thread_id)
    return threads

"""Writing new messages: group commit, idempotent repeats, and what a write decides.

Concurrent stores of one tenant are written together, one unit of work for the whole group
(`core.batching`); each message stays all-or-nothing.

In the unit of work of a group, the writer decides what only it can know then: which thread
each message joins, the sizes of blobs given by digest (and that they exist), each blob's new
references. `on_inserted` hooks run in the same transaction, for whatever must be written
atomically with the messages (core/linking.py: what a reply or bounce does to its original).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from service.codec.blobs import EncodedBlob
from service.core import idempotency, linking, threading
from service.core.batching import GroupCommit
from service.core.ports import (
    BlobSize,
    BlobWrite,
    MessageConflict,
    NewMessage,
    ReadyMessage,
    ThreadCandidate,
    Transactions,
    UnitOfWork,
)
from service.errors import AlreadyExists, FailedPrecondition
from service.models import Caller, Message, Sizes, StoreResult, Thread

log = logging.getLogger(__name__)


class Conflict:
    """The message's storage_key, request_id or raw bytes are taken; nothing was written."""


CONFLICT = Conflict()
Outcome = Message | Conflict


@dataclass(frozen=True)
class InsertHook:
    """What must be written with some messages, in their transaction: `run` is given the
    inserted messages of every group in which `concerns` says one may need it (the other
    groups go without a transaction around their one statement)."""

    concerns: Callable[[NewMessage], bool]
    run: Callable[[UnitOfWork, Sequence[Message]], Awaitable[None]]


# A message this large is written in a transaction of its own, right away: it would make the
# messages grouped with it wait for its bytes.
SOLO_BYTES = 256 * 1024


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
        self.on_inserted = tuple(on_inserted)
        self.groups: GroupCommit[NewMessage, Outcome] = GroupCommit(
            lambda _tenant, batch: self._write_group(batch),
            name="write group",
            max_batch=max_batch,
            concurrency=concurrency,
            fits=_fits,
        )
        # Tenants this process has registered as having mail (once each).
        self._registered: set[str] = set()

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
        return await self.groups.submit(new.tenant_id, new)

    async def _write_group(self, batch: list[NewMessage]) -> list[Outcome]:
        name = "insert_message" if len(batch) == 1 else "insert_messages"
        caller = Caller(batch[0].tenant_id)
        # Most groups are one INSERT whole (new mail of a known tenant): that statement is
        # its own transaction, without BEGIN and COMMIT to send and parse. The thread lookup
        # before it, for mail that answers some, is a read of its own: in one transaction
        # (READ COMMITTED) it would see no more and no less.
        whole = caller.tenant_id in self._registered and not any(
            new.existing_refs or any(h.concerns(new) for h in self.on_inserted) for new in batch
        )
        unit = self.db.statement(caller, name) if whole else self.db.tenant(caller, name)
        try:
            async with unit as tx:
                existing: dict[bytes, BlobSize] = {}
                if len(batch) == 1 and batch[0].existing_refs:
                    existing = await _reference_existing(tx, batch[0])
                parents = await _parents(tx, batch)
                rows = [_ready(new, existing, parents[new.storage_key]) for new in batch]
                inserted = await tx.messages.insert(rows, blob_writes(batch))
                tenant = batch[0].tenant_id
                if tenant not in self._registered:
                    await tx.tenants.register()
                for hook in self.on_inserted:
                    if any(hook.concerns(new) for new in batch):
                        await hook.run(tx, inserted)
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


async def _parents(
    tx: UnitOfWork, batch: Sequence[NewMessage]
) -> dict[str, ThreadCandidate | None]:
    """The stored message each message of the group answers (see core.threading)."""
    wanted = sorted({ref for new in batch for ref in new.thread_refs})
    candidates = await tx.messages.thread_candidates(wanted) if wanted else []
    return {
        new.storage_key: threading.parent(new.thread_refs, new.envelope.in_reply_to, candidates)
        for new in batch
    }


def _ready(
    new: NewMessage, existing: Mapping[bytes, BlobSize], parent: ThreadCandidate | None
) -> ReadyMessage:
    """The message with its thread (its parent's, or one of its own), what it inherits from
    its parent, and, for a bounce, the message it reports on."""
    new = linking.inherit(new, parent)
    thread = Thread(parent.thread_id, parent.storage_key) if parent else Thread(new.new_thread_id)
    message = ready(new, existing, thread)
    if new.bounce is not None and parent is not None:
        message = replace(
            message, bounce=replace(new.bounce, original_storage_key=parent.storage_key)
        )
    elif new.bounce is not None:
        message = replace(message, bounce=new.bounce)
    return message


def _fits(group: Sequence[NewMessage], new: NewMessage) -> bool:
    """Repeats of one key or request id go to separate groups, so that the later one sees the
    earlier one as an existing row."""
    return all(
        new.storage_key != other.storage_key
        and (new.request_id is None or new.request_id != other.request_id)
        for other in group
    )

"""Message use cases: store (one or many), read, list, delete, storage usage."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace

from opentelemetry import trace

from service.config import Config
from service.core import content, drafts, governance, validation
from service.core.dictionaries import DictionaryBook
from service.core.page_tokens import PagePosition, PageTokens
from service.core.ports import Subject, Transactions
from service.core.validation import ValidStoreMessage
from service.core.writer import MessageWriter
from service.errors import NotFound
from service.models import (
    Caller,
    Classification,
    Content,
    ListMessagesInput,
    Message,
    MessagePage,
    MessageType,
    StorageUsage,
    StoreMessageInput,
    StoreResult,
    View,
)

# Below this many bytes, hashing and compressing on the event loop is cheaper than a hop to a
# thread (both release the GIL, so big messages go to one).
INLINE_ENCODE_BYTES = 256 * 1024


def draft(caller: Caller, valid: ValidStoreMessage) -> drafts.Draft:
    """A validated StoreMessage request as a draft."""
    r = valid.request
    direction = r.direction
    if direction is None:  # validation refuses it; this keeps the type checker informed
        raise ValueError("direction is required")
    status = r.status or drafts.default_status(direction, sent=r.sent_at is not None)
    return drafts.Draft(
        caller=caller,
        storage_key=r.storage_key,
        request_id=r.request_id,
        owner=r.owner,
        kind=Classification(direction, r.message_type or MessageType.EMAIL, status),
        envelope=valid.envelope,
        labels=dict(r.labels),
        sent_at=r.sent_at,
        content=r.content,
        attachments=valid.attachments,
    )


class MessageService:
    """The message use cases, over units of work of the store."""

    def __init__(
        self,
        config: Config,
        db: Transactions,
        writer: MessageWriter,
        tokens: PageTokens,
        dictionaries: DictionaryBook,
    ) -> None:
        self.config = config
        self.db = db
        self.writer = writer
        self.tokens = tokens
        self.dictionaries = dictionaries

    async def store_message(self, caller: Caller, request: StoreMessageInput) -> StoreResult:
        """Validates, encodes and stores one message in one transaction."""
        valid = validation.store_message(request, self.config)
        result = await self.store_draft(draft(caller, valid))
        span = trace.get_current_span()
        span.set_attribute("emailstore.raw_size_bytes", result.message.size.raw_size_bytes)
        span.set_attribute("emailstore.stored_size_bytes", result.message.size.stored_size_bytes)
        return result

    async def store_draft(self, new_draft: drafts.Draft) -> StoreResult:
        """Encodes (in a thread when large) and stores a draft, ingested or structured."""
        cfg = self.config
        packing = drafts.Packing(
            cfg.zstd_level,
            cfg.inline_max_bytes,
            await self.dictionaries.current(new_draft.caller),
        )
        if new_draft.payload_bytes > INLINE_ENCODE_BYTES:
            new = await asyncio.to_thread(drafts.build, new_draft, packing, cfg.message_id_domain)
        else:
            new = drafts.build(new_draft, packing, cfg.message_id_domain)
        result = await self.writer.store(new)
        if not result.deduplicated and new.content.pack is not None:
            self.dictionaries.wrote(new_draft.caller, new.content.pack)
        span = trace.get_current_span()
        span.set_attribute("emailstore.storage_key", result.message.storage_key)
        span.set_attribute("emailstore.deduplicated", result.deduplicated)
        return result

    async def get_message(self, caller: Caller, storage_key: str, view: View) -> Message:
        """One message in the METADATA or FULL view."""
        key = validation.storage_key(storage_key)
        async with self.db.statement(caller, "get_message") as tx:
            if view is not View.FULL:
                found = await tx.messages.by_key(key)
                if found is None:
                    raise NotFound(f"message {key!r} not found")
                return found.message
            with_content = await tx.messages.full(key)
            if with_content is None:
                raise NotFound(f"message {key!r} not found")
            message, stored = with_content
            if stored is None:
                return replace(message, content=Content())
            body = await content.full(self.dictionaries, caller, tx, key, stored)
        return replace(message, content=body)

    async def list_messages(self, caller: Caller, request: ListMessagesInput) -> MessagePage:
        """A page of messages, newest first."""
        size = validation.list_messages(request)
        # The page token is bound to the filters it was made for.
        scope = hashlib.sha256(repr(request.filter).encode()).hexdigest()[:32]
        after = None
        if request.page_token:
            position = self.tokens.decode(request.page_token, caller.tenant_id, scope)
            after = (position.created_at, position.storage_key)
        async with self.db.statement(caller, "list_messages") as tx:
            found = await tx.messages.list(request.filter, after, size + 1)
        messages = tuple(found[:size])
        token = ""
        if len(found) > size:
            last = messages[-1]
            token = self.tokens.encode(
                caller.tenant_id, scope, PagePosition(last.times.created_at, last.storage_key)
            )
        return MessagePage(messages=messages, next_page_token=token)

    async def archive_message(self, caller: Caller, storage_key: str, archived: bool) -> Message:
        """Archives (hidden from default listings and search) or unarchives a message; the
        message as it stands. Asking for the state it is in changes nothing."""
        key = validation.storage_key(storage_key)
        async with self.db.statement(caller, "archive_message") as tx:
            changed = await tx.messages.set_archived(key, archived)
            if changed is not None:
                return changed
            found = await tx.messages.by_key(key)
        if found is None:
            raise NotFound(f"message {key!r} not found")
        return found.message

    async def delete_message(self, caller: Caller, storage_key: str) -> None:
        """Deletes a message (FailedPrecondition under a legal hold); blobs nothing else
        references are freed by the collector."""
        key = validation.storage_key(storage_key)
        async with self.db.tenant(caller, "delete_message") as tx:
            await governance.guard(tx, Subject(keys=(key,)), f"message {key!r}")
            gone = await tx.messages.delete_many([key])
            if not gone.messages:
                raise NotFound(f"message {key!r} not found")
            if gone.unreferenced:
                await tx.blobs.mark_gc_pending()
        span = trace.get_current_span()
        span.set_attribute("emailstore.unreferenced_blobs", len(gone.unreferenced))

    async def storage_usage(self, caller: Caller) -> StorageUsage:
        """Counts and bytes stored for a tenant."""
        async with self.db.statement(caller, "storage_usage") as tx:
            return await tx.messages.usage()

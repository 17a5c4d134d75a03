"""Repeats and reuses (pure decisions over what the store finds).

A write whose storage_key, request_id or raw bytes are taken already is either a repeat of
the request that stored the message (the caller retried: answer with the stored message,
deduplicated) or a reuse for something else (ALREADY_EXISTS). The fingerprint of the request
decides; an IMAP re-sync of the same raw bytes for the same mailbox is always a repeat.
"""

from __future__ import annotations

from service.core.ports import MessageStore, NewMessage, StoredMessage
from service.errors import AlreadyExists
from service.models import Message


def repeat_of(
    new: NewMessage,
    by_ingest_hash: StoredMessage | None,
    by_request_id: StoredMessage | None,
    by_key: StoredMessage | None,
) -> Message | None:
    """The stored message `new` repeats; AlreadyExists when its request id or key is reused
    for other content; None when nothing conflicts (any more)."""
    if by_ingest_hash is not None:
        return by_ingest_hash.message
    if by_request_id is not None:
        if by_request_id.fingerprint != new.fingerprint:
            raise AlreadyExists(
                f"request_id {new.request_id!r} was already used for a different request "
                f"(message {by_request_id.message.storage_key!r})"
            )
        return by_request_id.message
    if by_key is None or not new.caller_chose_key:
        return None
    if by_key.fingerprint != new.fingerprint:
        raise AlreadyExists(
            f"storage_key {new.storage_key!r} already exists with different content"
        )
    return by_key.message


async def find_repeat(messages: MessageStore, new: NewMessage) -> Message | None:
    """Looks up what `new` conflicts with and decides (see repeat_of)."""
    by_hash = by_request = by_key = None
    if new.ingest_hash is not None:
        by_hash = await messages.by_ingest_hash(new.owner.email_account_id, new.ingest_hash)
    if by_hash is None and new.request_id:
        by_request = await messages.by_request_id(new.request_id)
    if by_hash is None and by_request is None and new.caller_chose_key:
        by_key = await messages.by_key(new.storage_key)
    return repeat_of(new, by_hash, by_request, by_key)

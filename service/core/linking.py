"""What inbound mail does to the message it answers (at ingest, in the same transaction).

A human reply (an inbound EMAIL message whose thread parent is outbound) marks its original
REPLIED, at the time the reply was sent; a bounce marks it BOUNCED, with what the bounce says
(class, code, reason, diagnostic, failed recipient) in the event's detail; a delay notice (a
soft bounce that will be retried) and an automatic reply leave it as it is. An answer also
inherits its original's campaign, lead and sequence step when the caller gave none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

from service.core.events import EventRequest, apply_events
from service.core.ports import NewMessage, ThreadCandidate, UnitOfWork
from service.models import (
    Direction,
    Message,
    MessageStatus,
    MessageType,
    Owner,
    StatusEventInput,
)


def inherit(new: NewMessage, parent: ThreadCandidate | None) -> NewMessage:
    """An inbound message answering one of ours takes its campaign, lead and step where its
    caller gave none."""
    if (
        parent is None
        or new.kind.direction is not Direction.INBOUND
        or parent.direction != Direction.OUTBOUND.value
    ):
        return new
    o = new.owner
    owner = Owner(
        email_account_id=o.email_account_id,
        campaign_id=o.campaign_id or parent.campaign_id,
        lead_id=o.lead_id or parent.lead_id,
        sequence_step=o.sequence_step or parent.sequence_step,
    )
    return new if owner == o else replace(new, owner=owner)


def concerns(new: NewMessage) -> bool:
    """Whether a new message may answer one of ours (then its group needs a transaction)."""
    return new.kind.direction is Direction.INBOUND and bool(new.thread_refs)


def _request(answer: Message) -> EventRequest | None:
    parent = answer.thread.parent_storage_key
    if answer.kind.direction is not Direction.INBOUND or not parent:
        return None
    at = answer.times.sent_at or answer.times.created_at
    kind = answer.kind.message_type
    if kind is MessageType.EMAIL:
        return EventRequest(
            StatusEventInput(MessageStatus.REPLIED, storage_key=parent),
            at,
            source="ingest",
            detail={"reply_storage_key": answer.storage_key},
        )
    bounce = answer.bounce
    if kind is MessageType.BOUNCE and bounce is not None and not bounce.delayed:
        bounce = replace(bounce, original_storage_key=parent)
        detail = {k: str(v) for k, v in asdict(bounce).items() if k != "delayed" and v}
        return EventRequest(
            StatusEventInput(MessageStatus.BOUNCED, storage_key=parent),
            at,
            source="ingest",
            bounce=bounce,
            detail=detail | {"bounce_storage_key": answer.storage_key},
        )
    return None


async def mark_originals(tx: UnitOfWork, inserted: Sequence[Message]) -> None:
    """Records what each inserted reply or bounce does to the message it answers. An answer
    to inbound mail (a conversation among others) marks nothing: apply_events refuses
    outbound statuses on inbound messages, and the refusal is the answer here."""
    requests = [r for m in inserted if (r := _request(m)) is not None]
    if requests:
        await apply_events(tx, requests)

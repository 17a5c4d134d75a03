"""Status events: UpdateMessageStatus, RecordMessageEvents, ListMessageEvents.

An event names its message by storage key or by Message-ID header, and is written together
with the events of the same tenant that arrive meanwhile (`core.batching`): in one unit of
work the messages are locked, the events already recorded under their ids found, each new
event applied to its message's lifecycle (`core.lifecycle`), and the events and the changed
lifecycles stored by one statement. A repeated event id with the same content changes nothing
and answers the message again; with other content it is ALREADY_EXISTS. Events that fail (an
unknown message, a status that does not apply) fail alone; the rest of the group is written.

`apply_events` is also what ingest runs, in the transaction that stores a reply or a bounce,
to mark the message it answers (core/linking.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from service.config import Config
from service.core import lifecycle, validation
from service.core.batching import GroupCommit
from service.core.drafts import sha256_json
from service.core.ports import (
    EventIdTaken,
    MessageState,
    NewEvent,
    StateChange,
    Transactions,
    UnitOfWork,
)
from service.errors import AlreadyExists, EmailStoreError, NotFound, TransientConflict
from service.models import (
    BounceInfo,
    Caller,
    Direction,
    EventResult,
    Message,
    MessageEvent,
    MessageStatus,
    StatusEventInput,
)


@dataclass(frozen=True)
class EventRequest:
    """An event to apply: what was reported, by whom, when it occurred (resolved), the bounce
    it describes (BOUNCED), and the fingerprint that tells a repeat from a reuse."""

    event: StatusEventInput
    occurred_at: datetime
    source: str = "caller"
    bounce: BounceInfo | None = None
    fingerprint: bytes | None = None
    detail: dict[str, str] = field(default_factory=dict)


Outcome = EventResult | EmailStoreError


def fingerprint(event: StatusEventInput) -> bytes:
    """What identifies a reported event: its message, status, time (when given) and detail."""
    return sha256_json(
        {
            "message": event.storage_key or event.message_id_header,
            "status": event.status.value,
            "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
            "detail": dict(event.detail),
        }
    )


def _resolve(
    event: StatusEventInput, by_key: dict[str, MessageState], states: Sequence[MessageState]
) -> MessageState:
    if event.storage_key:
        state = by_key.get(event.storage_key)
        if state is None:
            raise NotFound(f"message {event.storage_key!r} not found")
        return state
    # By Message-ID: the outbound message stored first (webhooks report on what was sent).
    named = [s for s in states if s.message_id_header == event.message_id_header]
    if not named:
        raise NotFound(f"no message with Message-ID {event.message_id_header!r}")
    named.sort(
        key=lambda s: (s.lifecycle.direction is not Direction.OUTBOUND, s.created_at, s.storage_key)
    )
    return named[0]


async def apply_events(tx: UnitOfWork, requests: Sequence[EventRequest]) -> list[Outcome]:
    """Applies events in one unit of work: one outcome per request, in order (an error for
    those that fail); EventIdTaken when another transaction recorded one of the event ids
    meanwhile (nothing is then written)."""
    keys = sorted({r.event.storage_key for r in requests if r.event.storage_key})
    mids = sorted({r.event.message_id_header for r in requests if not r.event.storage_key})
    states = await tx.events.lock(keys, mids)
    by_key = {s.storage_key: s for s in states}
    ids = sorted({r.event.event_id for r in requests if r.event.event_id})
    seen = {k.event_id: (k.storage_key, k.fingerprint) for k in await tx.events.known(ids)}
    lives = {s.storage_key: s.lifecycle for s in states}
    resolved: list[tuple[str, bool] | EmailStoreError] = []
    rows: list[NewEvent] = []
    for request in requests:
        event = request.event
        try:
            state = _resolve(event, by_key, states)
            key = state.storage_key
            lifecycle.check_event(state.lifecycle.direction, event.status, key)
            if event.event_id and event.event_id in seen:
                earlier_key, earlier = seen[event.event_id]
                if earlier_key != key or earlier != request.fingerprint:
                    raise AlreadyExists(
                        f"event_id {event.event_id!r} was recorded before with other content"
                    )
                resolved.append((key, True))
                continue
        except EmailStoreError as exc:
            resolved.append(exc)
            continue
        lives[key] = lifecycle.apply(lives[key], event.status, request.occurred_at, request.bounce)
        rows.append(
            NewEvent(
                storage_key=key,
                status=event.status,
                occurred_at=request.occurred_at,
                source=request.source,
                detail=request.detail or dict(event.detail),
                event_id=event.event_id or None,
                fingerprint=request.fingerprint,
            )
        )
        if event.event_id:
            seen[event.event_id] = (key, request.fingerprint)
        resolved.append((key, False))
    changes = [StateChange(k, life) for k, life in lives.items() if life != by_key[k].lifecycle]
    changed = {c.storage_key for c in changes}
    unchanged = sorted({r[0] for r in resolved if isinstance(r, tuple) and r[0] not in changed})
    messages: dict[str, Message] = {}
    if rows or changes or unchanged:
        found = await tx.events.record(rows, changes, unchanged)
        messages = {m.storage_key: m for m in found}
    outcomes: list[Outcome] = []
    for r in resolved:
        if isinstance(r, EmailStoreError):
            outcomes.append(r)
        elif r[0] in messages:
            outcomes.append(EventResult(messages[r[0]], deduplicated=r[1]))
        else:  # deleted between the lock and the read: impossible while the lock is held
            outcomes.append(NotFound(f"message {r[0]!r} not found"))
    return outcomes


class EventService:
    """Records status events with group commit, and reads a message's history."""

    def __init__(self, config: Config, db: Transactions) -> None:
        self.db = db
        self.groups: GroupCommit[EventRequest, Outcome] = GroupCommit(
            self._write_group,
            name="event group",
            max_batch=config.write_batch_max,
            concurrency=config.write_concurrency,
        )

    async def record(self, caller: Caller, event: StatusEventInput) -> EventResult:
        """Records one event (possibly together with others of the tenant); the message as it
        stands after it."""
        validation.status_event(event)
        request = EventRequest(
            event=event,
            occurred_at=event.occurred_at or datetime.now(UTC),
            bounce=lifecycle.bounce_from_detail(event.detail)
            if event.status is MessageStatus.BOUNCED
            else None,
            fingerprint=fingerprint(event),
        )
        for attempt in range(2):
            try:
                outcome = await self.groups.submit(caller.tenant_id, request)
            except TransientConflict:
                if attempt:
                    raise
                continue  # an event id recorded meanwhile elsewhere: now it is known
            if isinstance(outcome, EmailStoreError):
                raise outcome
            return outcome
        raise TransientConflict("event could not be recorded; retry")  # unreachable

    async def _write_group(self, tenant_id: str, items: list[EventRequest]) -> list[Outcome]:
        name = "record_event" if len(items) == 1 else "record_events"
        try:
            async with self.db.tenant(Caller(tenant_id), name) as tx:
                return await apply_events(tx, items)
        except EventIdTaken as exc:
            raise TransientConflict("an event id was recorded concurrently; retry") from exc

    async def history(self, caller: Caller, storage_key: str) -> list[MessageEvent]:
        """A message's events in the order they occurred; NotFound for an unknown message."""
        key = validation.storage_key(storage_key)
        async with self.db.statement(caller, "list_message_events") as tx:
            if await tx.messages.by_key(key) is None:
                raise NotFound(f"message {key!r} not found")
            return await tx.events.history(key)

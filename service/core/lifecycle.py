"""The lifecycle of a message (pure): what a status event does to its status and times.

An outbound message moves along QUEUED < SENT < DELIVERED < OPENED < CLICKED < REPLIED as the
sender, the ESP's webhooks, the tracking pixel and the replies report it. Events arrive late,
twice and out of order, so nothing here depends on their order:

* every status has a time, the earliest reported for it; a status also implies the ones before
  it that it proves (`IMPLIES`): a delivery proves the send, an open the delivery, a click the
  open; a reply proves the message was delivered and read (an open), not that a link was
  clicked; a bounce proves the send;
* the status is the furthest status of the progression with a time (or the one the message
  was stored with, if further), so it never moves back;
* BOUNCED and FAILED end the progression: a message with a bounce or failure time is BOUNCED
  (or FAILED, whichever came first) unless it has a reply that occurred after it, which
  proves the delivery the bounce denied.

Folding the same events in any order, any number of times, gives the same lifecycle
(tests/unit/test_lifecycle.py holds it to that). Inbound mail has one status, RECEIVED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from service.errors import FailedPrecondition, InvalidArgument
from service.models import BounceInfo, Direction, MessageStatus, Timeline

S = MessageStatus

PROGRESSION = (S.QUEUED, S.SENT, S.DELIVERED, S.OPENED, S.CLICKED, S.REPLIED)
_RANK = {status: rank for rank, status in enumerate(PROGRESSION)}
TERMINAL = (S.BOUNCED, S.FAILED)
# The statuses an event proves besides its own.
IMPLIES: Mapping[MessageStatus, tuple[MessageStatus, ...]] = {
    S.SENT: (),
    S.DELIVERED: (S.SENT,),
    S.OPENED: (S.DELIVERED, S.SENT),
    S.CLICKED: (S.OPENED, S.DELIVERED, S.SENT),
    S.REPLIED: (S.OPENED, S.DELIVERED, S.SENT),
    S.BOUNCED: (S.SENT,),
    S.FAILED: (),
}
# The statuses with a time of their own, as Timeline names it.
TIMED = (S.SENT, S.DELIVERED, S.OPENED, S.CLICKED, S.REPLIED, S.BOUNCED, S.FAILED)
OUTBOUND_EVENTS = frozenset(TIMED)
REASONS = ("unknown_recipient", "mailbox_full", "policy", "dns", "other")


def time_field(status: MessageStatus) -> str:
    """The Timeline field of a status's time: sent_at, delivered_at, ..."""
    return f"{status.value}_at"


@dataclass(frozen=True)
class Lifecycle:
    """A message's status, the time it first reached each status, and the bounce that
    bounced it (the earliest)."""

    direction: Direction
    status: MessageStatus
    times: Mapping[MessageStatus, datetime] = field(default_factory=dict)
    bounce: BounceInfo | None = None

    @classmethod
    def of(
        cls,
        direction: Direction,
        status: MessageStatus,
        timeline: Timeline,
        bounce: BounceInfo | None = None,
    ) -> Lifecycle:
        """The lifecycle of a stored message."""
        times = {s: t for s in TIMED if (t := getattr(timeline, time_field(s))) is not None}
        return cls(direction, status, times, bounce)

    def timeline_fields(self) -> dict[str, datetime | None]:
        """The per-status times, by Timeline field name (None for never)."""
        return {time_field(s): self.times.get(s) for s in TIMED}


def check_event(direction: Direction, status: MessageStatus, storage_key: str) -> None:
    """Refuses a status that does not apply to the message's direction."""
    if status not in OUTBOUND_EVENTS and status is not S.RECEIVED:
        raise InvalidArgument.field(
            "status", f"must be one of {', '.join(s.name for s in (*TIMED, S.RECEIVED))}"
        )
    if direction is Direction.INBOUND and status is not S.RECEIVED:
        raise FailedPrecondition(
            f"message {storage_key!r} is inbound: only RECEIVED applies to it, not {status.name}"
        )
    if direction is Direction.OUTBOUND and status is S.RECEIVED:
        raise FailedPrecondition(
            f"message {storage_key!r} is outbound: RECEIVED applies to inbound mail only"
        )


def _status(
    direction: Direction, stored: MessageStatus, times: Mapping[MessageStatus, datetime]
) -> MessageStatus:
    """The status the times say, `stored` a floor of the progression (or, with no end time,
    an end all the same)."""
    if direction is Direction.INBOUND:
        return stored
    ends = sorted((t, s.value, s) for s in TERMINAL if (t := times.get(s)) is not None)
    replied = times.get(S.REPLIED)
    if ends:
        first_end, _, ending = ends[0]
        if replied is None or replied <= first_end:
            return ending
    elif stored in TERMINAL and replied is None:
        return stored  # stored as bounced or failed, with no time: final all the same
    reached = max((_RANK[s] for s in PROGRESSION if s in times), default=0)
    if stored in _RANK:
        reached = max(reached, _RANK[stored])
    return PROGRESSION[reached]


def apply(
    state: Lifecycle, status: MessageStatus, at: datetime, bounce: BounceInfo | None = None
) -> Lifecycle:
    """The lifecycle after an event (RECEIVED, on inbound mail, changes nothing)."""
    if status is S.RECEIVED:
        return state
    times = dict(state.times)
    for reached in (status, *IMPLIES[status]):
        known = times.get(reached)
        if known is None or at < known:
            times[reached] = at
    kept = state.bounce
    if status is S.BOUNCED:
        # The earliest bounce says why; of two at the same time, the same one whatever their
        # order.
        offered = bounce or BounceInfo("hard")
        first = state.times.get(S.BOUNCED)
        if kept is None or first is None or at < first or (at == first and offered > kept):
            kept = offered
    # The current status is a floor of the progression: it is at least what the message was
    # stored with (a caller may store one as DELIVERED), and the times give the rest.
    return Lifecycle(state.direction, _status(state.direction, state.status, times), times, kept)


def fold(
    state: Lifecycle, events: Iterable[tuple[MessageStatus, datetime, BounceInfo | None]]
) -> Lifecycle:
    """The lifecycle after every event, in whatever order they come."""
    for status, at, bounce in events:
        state = apply(state, status, at, bounce)
    return state


def bounce_from_detail(detail: Mapping[str, str]) -> BounceInfo:
    """The bounce a caller's BOUNCED event describes, from its detail keys (BounceInfo's field
    names); class from the code when it gave one and no class (5.x.x hard, 4.x.x soft)."""
    code = detail.get("status_code", "").strip()
    bounce_class = detail.get("bounce_class", "").strip().lower()
    if bounce_class not in ("hard", "soft"):
        bounce_class = "soft" if code.startswith("4") else "hard"
    reason = detail.get("reason", "").strip().lower()
    if reason not in REASONS:
        reason = "other"
    return BounceInfo(
        bounce_class=bounce_class,
        status_code=code,
        reason=reason,
        diagnostic=detail.get("diagnostic", ""),
        failed_recipient=detail.get("failed_recipient", ""),
    )

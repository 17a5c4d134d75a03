"""The lifecycle rules (pure): status and times from events in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.core import lifecycle
from service.core.lifecycle import Lifecycle
from service.errors import FailedPrecondition, InvalidArgument
from service.models import BounceInfo, Direction, MessageStatus

S = MessageStatus
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _run(*events: tuple[MessageStatus, int], stored: MessageStatus = S.QUEUED) -> Lifecycle:
    state = Lifecycle(Direction.OUTBOUND, stored)
    return lifecycle.fold(state, ((s, _at(m), None) for s, m in events))


def test_an_open_before_its_delivery_implies_the_delivery() -> None:
    """An open that arrives before any delivery event delivers the message at the open's
    time; the delivery reported later, earlier in time, moves delivered_at back."""
    state = _run((S.OPENED, 10))
    assert state.status is S.OPENED
    assert state.times[S.DELIVERED] == _at(10)
    assert state.times[S.SENT] == _at(10)
    state = lifecycle.apply(state, S.DELIVERED, _at(2))
    assert state.status is S.OPENED
    assert state.times[S.DELIVERED] == _at(2)


def test_the_status_never_moves_back_and_times_are_the_earliest() -> None:
    """A late delivery after a click leaves CLICKED; a second open keeps the first's time."""
    state = _run((S.CLICKED, 30), (S.DELIVERED, 5), (S.OPENED, 20), (S.OPENED, 40))
    assert state.status is S.CLICKED
    assert state.times[S.OPENED] == _at(20)
    assert state.times[S.CLICKED] == _at(30)


def test_a_reply_proves_delivery_and_reading_not_a_click() -> None:
    """REPLIED implies SENT, DELIVERED and OPENED, not CLICKED."""
    state = _run((S.REPLIED, 60))
    assert state.status is S.REPLIED
    assert set(state.times) == {S.SENT, S.DELIVERED, S.OPENED, S.REPLIED}


@pytest.mark.parametrize("ending", [S.BOUNCED, S.FAILED])
def test_bounced_and_failed_are_final(ending: MessageStatus) -> None:
    """Later opens and clicks (a tracking pixel fetched by a scanner) do not revive it."""
    state = _run((S.SENT, 0), (ending, 5), (S.OPENED, 10), (S.CLICKED, 11))
    assert state.status is ending


def test_a_reply_that_occurred_later_proves_the_bounce_wrong() -> None:
    """A reply after the bounce makes the message REPLIED; one before it does not."""
    assert _run((S.BOUNCED, 5), (S.REPLIED, 50)).status is S.REPLIED
    assert _run((S.REPLIED, 2), (S.BOUNCED, 5)).status is S.BOUNCED


def test_a_bounce_proves_the_send_and_keeps_the_earliest_bounce() -> None:
    """BOUNCED implies SENT; the bounce details kept are the earliest bounce's."""
    soft = BounceInfo("soft", "4.2.2", "mailbox_full")
    hard = BounceInfo("hard", "5.1.1", "unknown_recipient")
    state = Lifecycle(Direction.OUTBOUND, S.QUEUED)
    state = lifecycle.apply(state, S.BOUNCED, _at(9), hard)
    state = lifecycle.apply(state, S.BOUNCED, _at(3), soft)
    assert state.times[S.SENT] == _at(3)
    assert state.bounce == soft


def test_the_stored_status_is_a_floor() -> None:
    """A message stored as DELIVERED stays at least DELIVERED after a SENT event."""
    assert _run((S.SENT, 1), stored=S.DELIVERED).status is S.DELIVERED


def test_statuses_that_do_not_apply_are_refused() -> None:
    """Outbound statuses on inbound mail, RECEIVED on outbound mail, QUEUED and UNSPECIFIED."""
    with pytest.raises(FailedPrecondition, match="inbound"):
        lifecycle.check_event(Direction.INBOUND, S.OPENED, "k")
    with pytest.raises(FailedPrecondition, match="outbound"):
        lifecycle.check_event(Direction.OUTBOUND, S.RECEIVED, "k")
    with pytest.raises(InvalidArgument):
        lifecycle.check_event(Direction.OUTBOUND, S.QUEUED, "k")
    lifecycle.check_event(Direction.INBOUND, S.RECEIVED, "k")


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(lifecycle.TIMED),
        st.integers(0, 100),
        st.sampled_from(
            [None, BounceInfo("hard", "5.1.1", "unknown_recipient"), BounceInfo("soft", "4.2.2")]
        ),
    ),
    max_size=12,
)


@settings(max_examples=400)
@given(_EVENTS, st.randoms())
def test_any_order_and_any_repeats_give_the_same_lifecycle(
    events: list[tuple[MessageStatus, int, BounceInfo | None]], rng: object
) -> None:
    """Events folded in any order, some twice, give the same status, times and bounce."""
    import random

    assert isinstance(rng, random.Random)
    timed = [(s, _at(m), b) for s, m, b in events]
    shuffled = timed + rng.sample(timed, k=len(timed) // 2)
    rng.shuffle(shuffled)
    start = Lifecycle(Direction.OUTBOUND, S.QUEUED)
    first, second = lifecycle.fold(start, timed), lifecycle.fold(start, shuffled)
    assert (first.status, dict(first.times), first.bounce) == (
        second.status,
        dict(second.times),
        second.bounce,
    )

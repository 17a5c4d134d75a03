"""Campaign statistics agree exactly with a brute-force recount.

Random event streams (duplicates, reordering, events racing in one group, bounces and replies
arriving through ingest) are applied through the service; then every outbound message's
recorded history is folded again from scratch in Python and counted, and the counts must equal
what GetCampaignStats computes in SQL, per campaign, per sequence step and per day. The stored
lifecycle of each message must equal the fold of its history (incremental == from scratch).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.app import App
from service.core import lifecycle
from service.core.lifecycle import Lifecycle
from service.models import (
    BounceInfo,
    Caller,
    CampaignStatsInput,
    Direction,
    ListMessagesInput,
    MessageFilter,
    MessageStatus,
    MessageType,
    RawMessageInput,
    StatusCounts,
    StatusEventInput,
    View,
)
from tests.factories import store_input
from tests.mime_corpus import bounce_for

S = MessageStatus
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CAMPAIGN = "camp-exact"


def _reply(message_id: str, at: datetime, auto: bool = False) -> bytes:
    marks = "Auto-Submitted: auto-replied\r\n" if auto else ""
    subject = "Automatic reply: away" if auto else "Re: Quick question"
    return (
        f"From: Jane Doe <jane@example.com>\r\nTo: sam@acme.io\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(at)}\r\nMessage-ID: <{uuid.uuid4().hex}@example.com>\r\n"
        f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n{marks}\r\n"
        "Sounds good, let's talk Tuesday.\r\n"
    ).encode()


@dataclass(frozen=True)
class Event:
    """One reported event of the stream: message index, status, minute, id, bounce."""

    message: int
    status: MessageStatus
    minute: int
    event_id: str
    bounce: tuple[str, str, str] | None = None  # class, code, reason


_BOUNCES = st.sampled_from(
    [
        ("hard", "5.1.1", "unknown_recipient"),
        ("soft", "4.2.2", "mailbox_full"),
        ("hard", "5.7.1", "policy"),
    ]
)


@st.composite
def _streams(draw: Any) -> tuple[list[tuple[str, int]], list[Event], list[tuple[str, int, int]]]:
    count = draw(st.integers(3, 7))
    messages = [
        (
            draw(st.sampled_from(["lead-a", "lead-b", "lead-c", "lead-d", ""])),
            draw(st.integers(0, 3)),
        )
        for _ in range(count)
    ]
    events = []
    for n in range(draw(st.integers(0, 14))):
        status = draw(st.sampled_from(lifecycle.TIMED))
        bounce = draw(_BOUNCES) if status is S.BOUNCED else None
        events.append(
            Event(
                draw(st.integers(0, count - 1)),
                status,
                draw(st.integers(0, 4000)),
                f"ev-{n}",
                bounce,
            )
        )
    # Repeats of some events (the same id and content), anywhere in the stream.
    events += draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    events = draw(st.permutations(events))
    # Mail arriving through ingest: ("reply" | "auto" | "bounce", message index, minute).
    ingested = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["reply", "auto", "bounce"]),
                st.integers(0, count - 1),
                st.integers(0, 4000),
            ),
            max_size=2,
        )
    )
    return messages, events, ingested


def _bounce_of(status: MessageStatus, detail: dict[str, str], source: str) -> BounceInfo | None:
    if status is not S.BOUNCED:
        return None
    if source == "ingest":
        return BounceInfo(
            bounce_class=detail.get("bounce_class", "hard"),
            status_code=detail.get("status_code", ""),
            reason=detail.get("reason", "other"),
            diagnostic=detail.get("diagnostic", ""),
            failed_recipient=detail.get("failed_recipient", ""),
            original_storage_key=detail.get("original_storage_key", ""),
        )
    return lifecycle.bounce_from_detail(detail)


def _recount(
    lives: dict[str, Lifecycle],
    owners: dict[str, tuple[str, int]],
    answers: dict[str, Counter[str]],
) -> tuple[dict[int, StatusCounts], dict[str, Counter[str]]]:
    """Counts per step (-1: the campaign) and per day, from folded lifecycles."""
    per: dict[int, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    leads: dict[int, set[str]] = defaultdict(set)
    replied_leads: dict[int, set[str]] = defaultdict(set)
    reasons: dict[int, Counter[str]] = defaultdict(Counter)
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for key, life in lives.items():
        lead, step = owners[key]
        for group in (-1, step):
            c = per[group]
            c["total_messages"] += 1
            for status in (S.SENT, S.DELIVERED, S.OPENED, S.CLICKED, S.REPLIED):
                c[status.value] += status in life.times
            c["bounced"] += life.status is S.BOUNCED
            c["failed"] += life.status is S.FAILED
            if life.status is S.BOUNCED:
                bounce = life.bounce or BounceInfo("hard")
                c["hard_bounces"] += bounce.bounce_class == "hard"
                c["soft_bounces"] += bounce.bounce_class == "soft"
                reasons[group][bounce.reason] += 1
            if lead:
                leads[group].add(lead)
                if S.REPLIED in life.times:
                    replied_leads[group].add(lead)
            c["inbound_replies"] += answers[key]["email"]
            c["auto_replies"] += answers[key]["auto_reply"]
        for status, at in life.times.items():
            if status is S.FAILED or (status is S.BOUNCED and life.status is not S.BOUNCED):
                continue
            days[at.astimezone(UTC).strftime("%Y-%m-%d")][status.value] += 1
    counts = {
        group: StatusCounts(
            sequence_step=max(group, 0),
            unique_leads=len(leads[group]),
            unique_leads_replied=len(replied_leads[group]),
            bounces_by_reason=dict(reasons[group]),
            **values,
        )
        for group, values in per.items()
    }
    return counts, days


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stream=_streams())
async def test_stats_agree_exactly_with_a_brute_force_recount(app: App, stream: Any) -> None:
    """GetCampaignStats == counting the folded histories, per campaign, step and day."""
    messages, events, ingested = stream
    caller = Caller(str(uuid.uuid4()))
    keys, mids, owners = [], [], {}
    for lead, step in messages:
        stored = await app.messages.store_message(
            caller, store_input(campaign_id=CAMPAIGN, lead_id=lead, sequence_step=step)
        )
        keys.append(stored.message.storage_key)
        mids.append(stored.message.envelope.message_id_header)
        owners[stored.message.storage_key] = (lead, step)

    async def report(e: Event) -> None:
        detail = (
            dict(zip(("bounce_class", "status_code", "reason"), e.bounce, strict=True))
            if e.bounce
            else {}
        )
        event = StatusEventInput(
            e.status,
            storage_key=keys[e.message],
            occurred_at=T0 + timedelta(minutes=e.minute),
            event_id=e.event_id,
            detail=detail,
        )
        await app.events.record(caller, event)

    # Concurrently, so that events (and repeats of them) share groups.
    await asyncio.gather(*(report(e) for e in events))
    for kind, index, minute in ingested:
        at = T0 + timedelta(minutes=minute)
        raw = (
            bounce_for(mids[index]) if kind == "bounce" else _reply(mids[index], at, kind == "auto")
        )
        meta = RawMessageInput(direction=Direction.INBOUND)
        await app.ingest.ingest(caller, meta, raw)

    lives: dict[str, Lifecycle] = {}
    for key in keys:
        history = await app.events.history(caller, key)
        life = lifecycle.fold(
            Lifecycle(Direction.OUTBOUND, S.QUEUED),
            (
                (e.status, e.occurred_at, _bounce_of(e.status, dict(e.detail), e.source))
                for e in history
            ),
        )
        lives[key] = life
        stored = await app.messages.get_message(caller, key, View.METADATA)
        assert stored.kind.status is life.status, key
        assert (
            Lifecycle.of(Direction.OUTBOUND, stored.kind.status, stored.times).times == life.times
        )
    answers: dict[str, Counter[str]] = defaultdict(Counter)
    inbound = await app.messages.list_messages(
        caller, ListMessagesInput(MessageFilter(direction=Direction.INBOUND), page_size=1000)
    )
    for m in inbound.messages:
        if m.thread.parent_storage_key in owners and m.owner.campaign_id == CAMPAIGN:
            answers[m.thread.parent_storage_key][m.kind.message_type.value] += 1
            assert (
                m.owner.lead_id == owners[m.thread.parent_storage_key][0]
                or not owners[m.thread.parent_storage_key][0]
            )
            assert m.kind.message_type in (
                MessageType.EMAIL,
                MessageType.AUTO_REPLY,
                MessageType.BOUNCE,
            )

    expected, days = _recount(lives, owners, answers)
    stats = await app.analytics.campaign_stats(caller, CampaignStatsInput(CAMPAIGN))
    assert stats.total == expected[-1]
    assert {s.sequence_step: s for s in stats.steps} == {
        step: counts for step, counts in expected.items() if step >= 0
    }
    assert {d.day: {k: v for k, v in vars(d).items() if k != "day" and v} for d in stats.days} == {
        day: {k: v for k, v in c.items() if v} for day, c in days.items()
    }

"""Replies, bounces and auto-replies linked to what they answer (at ingest), GetThread and
GetCampaignStats, over a real gRPC channel to a real server on a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tests.factories import store_request
from tests.mime_corpus import bounce_for

Stub = pb_grpc.EmailStoreStub
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


async def _ingest(stub: Stub, tenant: str, raw: bytes, **meta: object) -> pb.StoreMessageResponse:
    async def requests() -> AsyncIterator[pb.IngestRawMessageRequest]:
        yield pb.IngestRawMessageRequest(
            metadata=pb.RawMessageMetadata(tenant_id=tenant, direction=pb.INBOUND, **meta)  # type: ignore[arg-type]
        )
        yield pb.IngestRawMessageRequest(chunk=raw)

    return await stub.IngestRawMessage(requests())


def _reply(message_id: str, at: datetime, *, auto: bool = False) -> bytes:
    marks = "Auto-Submitted: auto-replied\r\n" if auto else ""
    subject = "Automatic reply: Quick question" if auto else "Re: Quick question"
    return (
        f"From: Jane Doe <jane@example.com>\r\nTo: Sam Seller <sam@acme.io>\r\n"
        f"Subject: {subject}\r\nDate: {format_datetime(at)}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.com>\r\nIn-Reply-To: {message_id}\r\n"
        f"References: {message_id}\r\n{marks}\r\nThanks Sam, Tuesday works.\r\n"
    ).encode()


async def _get(stub: Stub, tenant: str, key: str) -> pb.Message:
    return await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=key, view=pb.METADATA)
    )


async def test_a_human_reply_marks_its_original_replied_and_inherits_it(
    stub: Stub, tenant: str
) -> None:
    """The reply joins the thread, takes the campaign, lead and step of the message it answers,
    and the original becomes REPLIED at the reply's time, with an ingest event naming it."""
    original = await stub.StoreMessage(
        store_request(tenant, campaign_id="c-7", lead_id="lead-9", sequence_step=2)
    )
    mid = original.message.message_id_header
    reply = await _ingest(stub, tenant, _reply(mid, T0 + timedelta(hours=5)))
    assert reply.message.message_type == pb.EMAIL
    assert reply.message.parent_storage_key == original.storage_key
    assert (reply.message.campaign_id, reply.message.lead_id) == ("c-7", "lead-9")
    assert reply.message.sequence_step == 2
    got = await _get(stub, tenant, original.storage_key)
    assert got.status == pb.REPLIED
    assert got.replied_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(hours=5)
    events = (
        await stub.ListMessageEvents(
            pb.ListMessageEventsRequest(tenant_id=tenant, storage_key=original.storage_key)
        )
    ).events
    assert [(e.status, e.source) for e in events] == [(pb.REPLIED, "ingest")]
    assert events[0].detail["reply_storage_key"] == reply.storage_key
    thread = await stub.GetThread(
        pb.GetThreadRequest(tenant_id=tenant, thread_id=original.message.thread_id)
    )
    assert [m.storage_key for m in thread.messages] == [original.storage_key, reply.storage_key]


async def test_an_auto_reply_is_linked_but_does_not_count_as_replied(
    stub: Stub, tenant: str
) -> None:
    """An out-of-office answer joins the thread; its original stays as it was."""
    original = await stub.StoreMessage(store_request(tenant, campaign_id="c-8"))
    auto = await _ingest(stub, tenant, _reply(original.message.message_id_header, T0, auto=True))
    assert auto.message.message_type == pb.AUTO_REPLY
    assert auto.message.parent_storage_key == original.storage_key
    got = await _get(stub, tenant, original.storage_key)
    assert got.status == pb.QUEUED
    assert not got.HasField("replied_at")


async def test_a_bounce_marks_its_original_bounced_with_what_it_says(
    stub: Stub, tenant: str
) -> None:
    """A DSN for an outbound message: the BOUNCE message says class, code, reason and the
    failed recipient and names the original, which becomes BOUNCED with the same details."""
    original = await stub.StoreMessage(store_request(tenant, campaign_id="c-9"))
    bounce = await _ingest(stub, tenant, bounce_for(original.message.message_id_header))
    assert bounce.message.message_type == pb.BOUNCE
    info = bounce.message.bounce
    assert (info.bounce_class, info.status_code, info.reason) == (
        "hard",
        "5.1.1",
        "unknown_recipient",
    )
    assert info.failed_recipient == "jane@example.com"
    assert info.original_storage_key == original.storage_key
    got = await _get(stub, tenant, original.storage_key)
    assert got.status == pb.BOUNCED
    assert got.bounce.status_code == "5.1.1"
    events = (
        await stub.ListMessageEvents(
            pb.ListMessageEventsRequest(tenant_id=tenant, storage_key=original.storage_key)
        )
    ).events
    assert events[0].detail["bounce_storage_key"] == bounce.storage_key
    assert events[0].detail["reason"] == "unknown_recipient"


async def test_campaign_stats_count_each_status_step_and_day(stub: Stub, tenant: str) -> None:
    """Four messages over two steps: sends, deliveries, opens, a click, a reply (through
    ingest), a hard bounce; counts, rates, bounces by reason, unique leads, steps and days."""
    keys = []
    for lead, step in (("a", 1), ("b", 1), ("c", 2), ("a", 2)):
        stored = await stub.StoreMessage(
            store_request(tenant, campaign_id="camp-s", lead_id=lead, sequence_step=step)
        )
        keys.append(stored)
    day1, day2 = T0, T0 + timedelta(days=1)

    async def event(i: int, status: int, at: datetime, **detail: str) -> None:
        await stub.UpdateMessageStatus(
            pb.UpdateMessageStatusRequest(
                tenant_id=tenant,
                storage_key=keys[i].storage_key,
                status=status,
                occurred_at=_ts(at),
                detail=detail,
            )
        )

    for i in range(4):
        await event(i, pb.SENT, day1)
    await event(0, pb.DELIVERED, day1)
    await event(1, pb.CLICKED, day2)
    await event(2, pb.BOUNCED, day1, status_code="5.1.1", reason="unknown_recipient")
    await event(3, pb.OPENED, day2)
    await _ingest(stub, tenant, _reply(keys[0].message.message_id_header, day2))
    stats = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id="camp-s")
    )
    assert (stats.total_messages, stats.sent, stats.delivered) == (4, 4, 3)
    assert (stats.opened, stats.clicked, stats.replied, stats.bounced) == (3, 1, 1, 1)
    assert (stats.inbound_replies, stats.auto_replies, stats.hard_bounces) == (1, 0, 1)
    assert dict(stats.bounces_by_reason) == {"unknown_recipient": 1}
    assert (stats.unique_leads, stats.unique_leads_replied) == (3, 1)
    assert stats.delivery_rate == pytest.approx(3 / 4)
    assert stats.click_rate == pytest.approx(1 / 3)
    assert stats.reply_rate == pytest.approx(1 / 3)
    assert stats.bounce_rate == pytest.approx(1 / 4)
    steps = {s.sequence_step: s for s in stats.steps}
    assert (steps[1].total_messages, steps[1].replied, steps[1].clicked) == (2, 1, 1)
    assert (steps[2].bounced, steps[2].opened, steps[2].unique_leads) == (1, 1, 2)
    days = {d.day: d for d in stats.days}
    first, second = day1.strftime("%Y-%m-%d"), day2.strftime("%Y-%m-%d")
    assert (days[first].sent, days[first].delivered, days[first].bounced) == (4, 1, 0 + 1)
    assert (days[second].clicked, days[second].opened, days[second].replied) == (1, 3, 1)


async def test_campaign_stats_window_and_errors(stub: Stub, tenant: str) -> None:
    """The window selects messages by created_at; an unknown campaign is all zeros; a missing
    campaign_id or an empty window is INVALID_ARGUMENT."""
    await stub.StoreMessage(store_request(tenant, campaign_id="camp-w"))
    now = datetime.now(UTC)
    later = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(
            tenant_id=tenant, campaign_id="camp-w", created_after=_ts(now + timedelta(hours=1))
        )
    )
    assert later.total_messages == 0
    everything = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id="camp-w")
    )
    assert everything.total_messages == 1
    none = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id="nobody")
    )
    assert (none.total_messages, none.delivery_rate, len(none.steps)) == (0, 0.0, 0)
    for request in (
        pb.GetCampaignStatsRequest(tenant_id=tenant),
        pb.GetCampaignStatsRequest(
            tenant_id=tenant, campaign_id="x", created_after=_ts(now), created_before=_ts(now)
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetCampaignStats(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_get_thread_of_an_unknown_thread_is_not_found(stub: Stub, tenant: str) -> None:
    """GetThread names what it could not find; another tenant's thread is unknown too."""
    other = str(uuid.uuid4())
    stored = await stub.StoreMessage(store_request(other))
    for thread_id in ("thread_nope", stored.message.thread_id):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetThread(pb.GetThreadRequest(tenant_id=tenant, thread_id=thread_id))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND

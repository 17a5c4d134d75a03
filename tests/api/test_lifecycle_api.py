"""UpdateMessageStatus, RecordMessageEvents, ListMessageEvents over a real gRPC channel to a
real server on a real PostgreSQL: the lifecycle rules as a caller sees them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ts(minutes: float) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(T0 + timedelta(minutes=minutes))
    return ts


def _event(
    tenant: str, key: str, status: int, minutes: float, **fields: object
) -> pb.UpdateMessageStatusRequest:
    return pb.UpdateMessageStatusRequest(
        tenant_id=tenant,
        storage_key=key,
        status=status,
        occurred_at=_ts(minutes),
        **fields,  # type: ignore[arg-type]
    )


async def _stored(stub: Stub, tenant: str, **fields: object) -> pb.StoreMessageResponse:
    return await stub.StoreMessage(store_request(tenant, **fields))


async def _events(stub: Stub, tenant: str, key: str) -> list[pb.MessageEvent]:
    found = await stub.ListMessageEvents(
        pb.ListMessageEventsRequest(tenant_id=tenant, storage_key=key)
    )
    return list(found.events)


async def test_events_move_the_status_forward_whatever_their_order(stub: Stub, tenant: str) -> None:
    """An open before its delivery implies the delivery; the late delivery moves delivered_at
    back to when it happened and leaves OPENED; a late SENT does not move the status back."""
    key = (await _stored(stub, tenant)).storage_key
    opened = await stub.UpdateMessageStatus(_event(tenant, key, pb.OPENED, 30, event_id="o1"))
    assert opened.status == pb.OPENED
    assert opened.delivered_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=30)
    late = await stub.UpdateMessageStatus(_event(tenant, key, pb.DELIVERED, 5, event_id="d1"))
    assert late.status == pb.OPENED
    assert late.delivered_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=5)
    assert late.opened_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=30)
    assert late.sent_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(minutes=5)
    back = await stub.UpdateMessageStatus(_event(tenant, key, pb.SENT, 1, event_id="s1"))
    assert back.status == pb.OPENED
    # The history is in the order the events occurred, not the order they arrived.
    history = await _events(stub, tenant, key)
    assert [e.event_id for e in history] == ["s1", "d1", "o1"]
    assert all(e.source == "caller" for e in history)


async def test_bounced_is_final_unless_a_later_reply_proves_delivery(
    stub: Stub, tenant: str
) -> None:
    """Opens after a bounce do not revive it; a reply that occurred after it does."""
    key = (await _stored(stub, tenant)).storage_key
    detail = {"bounce_class": "hard", "status_code": "5.1.1", "reason": "unknown_recipient"}
    bounced = await stub.UpdateMessageStatus(_event(tenant, key, pb.BOUNCED, 2, detail=detail))
    assert bounced.status == pb.BOUNCED
    assert (bounced.bounce.bounce_class, bounced.bounce.status_code) == ("hard", "5.1.1")
    assert bounced.bounce.reason == "unknown_recipient"
    opened = await stub.UpdateMessageStatus(_event(tenant, key, pb.OPENED, 9))
    assert opened.status == pb.BOUNCED
    replied = await stub.UpdateMessageStatus(_event(tenant, key, pb.REPLIED, 60))
    assert replied.status == pb.REPLIED


async def test_a_repeated_event_changes_nothing_and_a_reused_id_is_refused(
    stub: Stub, tenant: str
) -> None:
    """The same event_id with the same content answers as the first did and records nothing;
    with other content it is ALREADY_EXISTS."""
    key = (await _stored(stub, tenant)).storage_key
    first = await stub.UpdateMessageStatus(_event(tenant, key, pb.DELIVERED, 3, event_id="esp-1"))
    again = await stub.UpdateMessageStatus(_event(tenant, key, pb.DELIVERED, 3, event_id="esp-1"))
    assert again.delivered_at == first.delivered_at
    assert again.status == first.status
    assert len(await _events(stub, tenant, key)) == 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateMessageStatus(_event(tenant, key, pb.OPENED, 4, event_id="esp-1"))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert len(await _events(stub, tenant, key)) == 1


async def test_an_event_may_name_its_message_by_message_id(stub: Stub, tenant: str) -> None:
    """ESP webhooks know the Message-ID only."""
    stored = await _stored(stub, tenant)
    mid = stored.message.message_id_header
    assert mid
    updated = await stub.UpdateMessageStatus(
        pb.UpdateMessageStatusRequest(
            tenant_id=tenant, message_id_header=mid, status=pb.DELIVERED, event_id="w-1"
        )
    )
    assert updated.storage_key == stored.storage_key
    assert updated.status == pb.DELIVERED


@pytest.mark.parametrize(
    ("inbound", "status", "code"),
    [
        (False, pb.RECEIVED, grpc.StatusCode.FAILED_PRECONDITION),
        (True, pb.OPENED, grpc.StatusCode.FAILED_PRECONDITION),
        (False, pb.MESSAGE_STATUS_UNSPECIFIED, grpc.StatusCode.INVALID_ARGUMENT),
        (False, pb.QUEUED, grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_statuses_that_do_not_apply_are_refused_and_record_nothing(
    stub: Stub, tenant: str, inbound: bool, status: int, code: grpc.StatusCode
) -> None:
    """Outbound statuses on inbound mail, RECEIVED on outbound mail, QUEUED, UNSPECIFIED."""
    fields = {"direction": pb.INBOUND} if inbound else {}
    key = (await _stored(stub, tenant, **fields)).storage_key
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateMessageStatus(_event(tenant, key, status, 1, event_id="x"))
    assert caught.value.code() == code
    assert await _events(stub, tenant, key) == []


async def test_unknown_messages_and_bad_requests_are_clear_errors(stub: Stub, tenant: str) -> None:
    """An unknown key or Message-ID is NOT_FOUND; neither given, a bad event id or a bad
    Message-ID is INVALID_ARGUMENT naming the field; another tenant's message is NOT_FOUND."""
    cases = [
        (_event(tenant, "email_nope", pb.SENT, 0), grpc.StatusCode.NOT_FOUND, "not found"),
        (
            pb.UpdateMessageStatusRequest(
                tenant_id=tenant, message_id_header="<no@x>", status=pb.SENT
            ),
            grpc.StatusCode.NOT_FOUND,
            "Message-ID",
        ),
        (
            pb.UpdateMessageStatusRequest(tenant_id=tenant, status=pb.SENT),
            grpc.StatusCode.INVALID_ARGUMENT,
            "storage_key",
        ),
        (
            _event(tenant, "k", pb.SENT, 0, event_id="has space"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "event_id",
        ),
        (
            pb.UpdateMessageStatusRequest(
                tenant_id=tenant, message_id_header="nobrackets", status=pb.SENT
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "message_id_header",
        ),
    ]
    for request, code, words in cases:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.UpdateMessageStatus(request)
        assert caught.value.code() == code, request
        assert words in (caught.value.details() or "")
    other = "7b0c1d1e-0000-4000-8000-0000000000aa"
    key = (await _stored(stub, other)).storage_key
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateMessageStatus(_event(tenant, key, pb.SENT, 0))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_record_message_events_answers_in_order_and_bad_events_fail_alone(
    stub: Stub, tenant: str
) -> None:
    """A stream of events: one response per request, in order; an unknown message and a
    refused status answer with their error; a repeat says deduplicated."""
    keys = [(await _stored(stub, tenant)).storage_key for _ in range(3)]
    requests = [
        _event(tenant, keys[0], pb.DELIVERED, 1, event_id="a"),
        _event(tenant, "email_missing", pb.DELIVERED, 1, event_id="b"),
        _event(tenant, keys[1], pb.OPENED, 2, event_id="c"),
        _event(tenant, keys[2], pb.RECEIVED, 2, event_id="d"),
        _event(tenant, keys[0], pb.DELIVERED, 1, event_id="a"),
        _event(tenant, keys[0], pb.CLICKED, 5, event_id="e"),
    ]

    async def send() -> AsyncIterator[pb.UpdateMessageStatusRequest]:
        for r in requests:
            yield r

    responses = [r async for r in stub.RecordMessageEvents(send())]
    assert len(responses) == len(requests)
    assert [r.HasField("error") for r in responses] == [False, True, False, True, False, False]
    assert responses[1].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert responses[3].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert responses[4].deduplicated
    assert not responses[0].deduplicated
    assert responses[2].message.status == pb.OPENED
    assert responses[5].message.status == pb.CLICKED
    assert [e.event_id for e in await _events(stub, tenant, keys[0])] == ["a", "e"]


async def test_sequence_step_is_stored_and_validated(stub: Stub, tenant: str) -> None:
    """sequence_step goes in and comes back; out of range is INVALID_ARGUMENT."""
    stored = await _stored(stub, tenant, sequence_step=3)
    assert stored.message.sequence_step == 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _stored(stub, tenant, sequence_step=1001)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "sequence_step" in (caught.value.details() or "")


async def test_list_message_events_of_an_unknown_message_is_not_found(
    stub: Stub, tenant: str
) -> None:
    """ListMessageEvents names the message it could not find."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _events(stub, tenant, "email_nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

"""StoreMessage, StoreMessages, GetMessage, ListMessages, DeleteMessage, GetStorageUsage over
a real gRPC channel to a real server on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub


async def test_store_then_get_full_round_trip(stub: Stub, tenant: str) -> None:
    """A stored message reads back with bodies, headers, addresses and attachment metadata."""
    request = store_request(
        tenant,
        attachments=[
            pb.AttachmentInput(
                filename="deck.pdf", mime_type="application/pdf", content=b"%PDF-1.7"
            )
        ],
        labels={"sequence": "step-1"},
    )
    response = await stub.StoreMessage(request)
    assert response.storage_key.startswith("email_")
    assert not response.deduplicated
    assert response.message.text_body == ""  # METADATA view in the store response
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    assert got.html_body == request.html_body
    assert got.text_body == request.text_body
    assert [(h.name, h.value) for h in got.headers] == [("X-Campaign", "camp-1")]
    assert got.from_address == request.from_address
    assert list(got.to) == list(request.to)
    assert got.direction == pb.OUTBOUND
    assert got.status == pb.QUEUED
    assert got.attachments[0].filename == "deck.pdf"
    assert got.attachments[0].size_bytes == 8
    assert dict(got.labels) == {"sequence": "step-1"}
    assert got.created_at.seconds > 0
    meta = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key, view=pb.METADATA)
    )
    assert meta.html_body == ""
    assert len(meta.headers) == 0
    assert meta.subject == request.subject


async def test_bounce_gets_a_bounce_key(stub: Stub, tenant: str) -> None:
    """Server-made keys are prefixed by message type."""
    response = await stub.StoreMessage(store_request(tenant, message_type=pb.BOUNCE))
    assert response.storage_key.startswith("bounce_")


async def test_idempotent_request_id_over_grpc(stub: Stub, tenant: str) -> None:
    """A retried StoreMessage with the same request_id answers deduplicated=true."""
    request = store_request(tenant, request_id=str(uuid.uuid4()))
    first = await stub.StoreMessage(request)
    second = await stub.StoreMessage(request)
    assert second.deduplicated
    assert second.storage_key == first.storage_key
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.message_count == 1


async def test_storage_key_reuse_with_other_content_is_already_exists(
    stub: Stub, tenant: str
) -> None:
    """A caller storage_key reused with different content answers ALREADY_EXISTS."""
    await stub.StoreMessage(store_request(tenant, storage_key="crm-1"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.StoreMessage(store_request(tenant, storage_key="crm-1", subject="different"))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def _requests(items: list[pb.StoreMessageRequest]) -> AsyncIterator[pb.StoreMessageRequest]:
    for item in items:
        yield item


async def test_store_messages_answers_in_order_and_fails_items_alone(
    stub: Stub, tenant: str
) -> None:
    """A batch with bad items: responses in request order, bad ones carry an error, others store."""
    items = [store_request(tenant, storage_key=f"batch-{i}", subject=f"s{i}") for i in range(40)]
    items[3] = store_request("not-a-uuid")
    items[17] = store_request(tenant, to=[pb.Address(email="broken")])
    responses = [r async for r in stub.StoreMessages(_requests(items))]
    assert len(responses) == 40
    for i, response in enumerate(responses):
        if i in (3, 17):
            assert response.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
            assert response.storage_key == ""
        else:
            assert not response.HasField("error")
            assert response.storage_key == f"batch-{i}"
            assert response.message.subject == f"s{i}"
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.message_count == 38


async def test_list_messages_filters_newest_first(stub: Stub, tenant: str) -> None:
    """Filters combine; results are newest first; archived filtering defaults on."""
    for i in range(6):
        await stub.StoreMessage(
            store_request(
                tenant,
                campaign_id="camp-a" if i % 2 else "camp-b",
                lead_id=f"lead-{i}",
                status=pb.SENT if i < 3 else pb.DELIVERED,
                storage_key=f"k-{i}",
            )
        )
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, campaign_id="camp-a"))
    assert [m.storage_key for m in page.messages] == ["k-5", "k-3", "k-1"]
    assert page.next_page_token == ""
    page = await stub.ListMessages(
        pb.ListMessagesRequest(tenant_id=tenant, status=[pb.DELIVERED], campaign_id="camp-b")
    )
    assert [m.storage_key for m in page.messages] == ["k-4"]
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, direction=pb.INBOUND))
    assert list(page.messages) == []
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, lead_id="lead-2"))
    assert [m.storage_key for m in page.messages] == ["k-2"]
    assert page.messages[0].html_body == ""  # METADATA view


async def test_list_messages_time_window(stub: Stub, tenant: str) -> None:
    """created_after / created_before bound the creation time (the database's clock: the cut
    is the second message's creation time as stored)."""
    old = await stub.StoreMessage(store_request(tenant, storage_key="old"))
    await asyncio.sleep(0.01)
    new = await stub.StoreMessage(store_request(tenant, storage_key="new"))
    cut = new.message.created_at
    assert old.message.created_at.ToDatetime() < cut.ToDatetime()
    after = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, created_after=cut))
    before = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, created_before=cut))
    assert [m.storage_key for m in after.messages] == ["new"]
    assert [m.storage_key for m in before.messages] == ["old"]


async def test_pagination_walks_every_message_once(stub: Stub, tenant: str) -> None:
    """Keyset pages of 7 over 30 messages visit each exactly once, newest first."""
    items = [store_request(tenant, storage_key=f"p-{i:02d}") for i in range(30)]
    async for _ in stub.StoreMessages(_requests(items)):
        pass
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        page = await stub.ListMessages(
            pb.ListMessagesRequest(tenant_id=tenant, page_size=7, page_token=token)
        )
        pages += 1
        seen.extend(m.storage_key for m in page.messages)
        token = page.next_page_token
        if not token:
            break
    assert pages == 5
    assert sorted(seen) == sorted(f"p-{i:02d}" for i in range(30))
    assert len(seen) == len(set(seen))
    full = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, page_size=1000))
    assert [m.storage_key for m in full.messages] == seen


async def test_page_token_is_tamper_proof_and_bound_to_filters(stub: Stub, tenant: str) -> None:
    """An altered token, or one reused with other filters or another tenant, is INVALID_ARGUMENT."""
    for i in range(3):
        await stub.StoreMessage(store_request(tenant, storage_key=f"t-{i}"))
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, page_size=1))
    token = page.next_page_token
    payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[-3] ^= 1
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=") + "." + signature
    bad_requests = [
        pb.ListMessagesRequest(tenant_id=tenant, page_token=forged),
        pb.ListMessagesRequest(tenant_id=tenant, page_token="garbage"),
        pb.ListMessagesRequest(tenant_id=tenant, page_token=token, campaign_id="other"),
        pb.ListMessagesRequest(tenant_id=str(uuid.uuid4()), page_token=token),
        pb.ListMessagesRequest(tenant_id=tenant, page_size=-1),
    ]
    for request in bad_requests:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.ListMessages(request)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request


async def test_delete_then_get_is_not_found_and_usage_drops(stub: Stub, tenant: str) -> None:
    """DeleteMessage removes the message and frees its bytes."""
    response = await stub.StoreMessage(store_request(tenant))
    before = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert before.stored_bytes > 0
    await stub.DeleteMessage(
        pb.DeleteMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMessage(
            pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    after = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert (after.message_count, after.stored_bytes, after.blob_count) == (0, 0, 0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.DeleteMessage(
            pb.DeleteMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_other_tenant_gets_not_found(stub: Stub, tenant: str) -> None:
    """Another tenant asking for an existing key gets NOT_FOUND, and its list is empty."""
    response = await stub.StoreMessage(store_request(tenant))
    other = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMessage(
            pb.GetMessageRequest(tenant_id=other, storage_key=response.storage_key)
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=other))
    assert len(page.messages) == 0


async def test_usage_reports_dedup_and_compression(stub: Stub, tenant: str) -> None:
    """Ten messages sharing one large HTML body (a blob, past EMAILSTORE_INLINE_MAX_BYTES):
    dedup and compression savings add up."""
    html = "<p>" + "We help SDR teams book more meetings. " * 2000 + "</p>"
    for i in range(10):
        await stub.StoreMessage(store_request(tenant, html_body=html, text_body=f"text {i}"))
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.saved_by_dedup_bytes == 9 * len(html)
    assert usage.saved_by_compression_bytes > len(html) // 2
    assert usage.raw_bytes == (
        usage.stored_bytes + usage.saved_by_dedup_bytes + usage.saved_by_compression_bytes
    )

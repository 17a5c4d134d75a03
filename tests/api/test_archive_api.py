"""ArchiveMessage over a real gRPC channel to a real server on a real PostgreSQL: hidden from
default listings and search and back, idempotent, in the change feed, errors."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub


async def _listed(stub: Stub, tenant: str, *, include_archived: bool = False) -> list[str]:
    page = await stub.ListMessages(
        pb.ListMessagesRequest(tenant_id=tenant, include_archived=include_archived)
    )
    return [m.storage_key for m in page.messages]


async def _found(stub: Stub, tenant: str, query: str) -> list[str]:
    page = await stub.SearchMessages(pb.SearchMessagesRequest(tenant_id=tenant, query=query))
    return [m.storage_key for m in page.messages]


async def _archive(stub: Stub, tenant: str, key: str, archived: bool) -> pb.Message:
    return await stub.ArchiveMessage(
        pb.ArchiveMessageRequest(tenant_id=tenant, storage_key=key, archived=archived)
    )


async def test_archived_mail_leaves_listings_and_search_and_comes_back(
    stub: Stub, tenant: str
) -> None:
    """Archived: gone from ListMessages and SearchMessages, there with include_archived and
    by key (archived_at set); unarchived: back everywhere."""
    await stub.StoreMessage(store_request(tenant, storage_key="keep", subject="walrus notes"))
    await stub.StoreMessage(store_request(tenant, storage_key="old", subject="walrus minutes"))
    archived = await _archive(stub, tenant, "old", True)
    assert archived.HasField("archived_at")
    assert await _listed(stub, tenant) == ["keep"]
    assert set(await _listed(stub, tenant, include_archived=True)) == {"keep", "old"}
    assert await _found(stub, tenant, "walrus") == ["keep"]
    got = await stub.GetMessage(pb.GetMessageRequest(tenant_id=tenant, storage_key="old"))
    assert got.archived_at == archived.archived_at
    back = await _archive(stub, tenant, "old", False)
    assert not back.HasField("archived_at")
    assert set(await _listed(stub, tenant)) == {"keep", "old"}
    assert set(await _found(stub, tenant, "walrus")) == {"keep", "old"}


async def test_archiving_twice_changes_nothing_and_each_change_is_in_the_feed(
    stub: Stub, tenant: str
) -> None:
    """Archive, archive again (a no-op: same time), unarchive: two UPDATED changes after
    the CREATED one."""
    await stub.StoreMessage(store_request(tenant, storage_key="m"))
    first = await _archive(stub, tenant, "m", True)
    again = await _archive(stub, tenant, "m", True)
    assert again.archived_at == first.archived_at
    await _archive(stub, tenant, "m", False)
    for _ in range(100):
        page = await stub.ListChanges(pb.ListChangesRequest(tenant_id=tenant))
        if len(page.changes) >= 3:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    page = await stub.ListChanges(pb.ListChangesRequest(tenant_id=tenant))
    assert [c.kind for c in page.changes] == [pb.CREATED, pb.UPDATED, pb.UPDATED]


@pytest.mark.parametrize(
    ("key", "code"),
    [("missing", grpc.StatusCode.NOT_FOUND), ("bad key!", grpc.StatusCode.INVALID_ARGUMENT)],
)
async def test_archive_errors(stub: Stub, tenant: str, key: str, code: grpc.StatusCode) -> None:
    """An unknown key, another tenant's message, a malformed key: clear errors."""
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await _archive(stub, tenant, key, True)
    assert failed.value.code() == code


async def test_another_tenants_message_cannot_be_archived(stub: Stub, tenant: str) -> None:
    """NOT_FOUND, and it stays listed for its owner."""
    await stub.StoreMessage(store_request(tenant, storage_key="mine"))
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await _archive(stub, str(uuid.uuid4()), "mine", True)
    assert failed.value.code() == grpc.StatusCode.NOT_FOUND
    assert await _listed(stub, tenant) == ["mine"]

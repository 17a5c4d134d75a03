"""Internationalised addresses (RFC 6531/6532) through StoreMessage, reads and rendering."""

from __future__ import annotations

import email
import email.policy

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub

SENDER = pb.Address(email="søren@acme.dk", name="Søren Ærø")
RECIPIENTS = [
    pb.Address(email="用户@例子.广告", name="用户"),
    pb.Address(email="jane@bücher.example", name="Jane"),
    pb.Address(email="jane@xn--bcher-kva.example", name=""),
]


async def test_stored_read_listed_and_rendered_exactly(stub: Stub, tenant: str) -> None:
    """UTF-8 local parts and IDN domains (Unicode or punycode) are stored and returned as
    given, and GetRawMessage writes them as RFC 6532 UTF-8 headers."""
    stored = await stub.StoreMessage(
        store_request(tenant, from_address=SENDER, to=RECIPIENTS, subject="Hej Søren")
    )
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=stored.storage_key)
    )
    assert got.from_address == SENDER
    assert list(got.to) == RECIPIENTS
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))
    assert list(page.messages[0].to) == RECIPIENTS

    request = pb.GetRawMessageRequest(tenant_id=tenant, storage_key=stored.storage_key)
    raw = b"".join([chunk.data async for chunk in stub.GetRawMessage(request)])
    assert "søren@acme.dk".encode() in raw  # UTF-8 as is, not an encoded word
    assert "用户@例子.广告".encode() in raw
    # RFC 6532 headers are UTF-8 (the bytes parser would keep them as surrogate escapes).
    parsed = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert [a.addr_spec for a in parsed["To"].addresses] == [a.email for a in RECIPIENTS]
    assert parsed["From"].addresses[0].display_name == "Søren Ærø"


@pytest.mark.parametrize(
    "address",
    ["søren@acme", "a..b@ü.de", "ü@-x.dk", "søren@", "@例子.广告", "sø ren@acme.dk"],
)
async def test_malformed_international_address_is_refused(
    stub: Stub, tenant: str, address: str
) -> None:
    """A non-ASCII address that is not a well-formed RFC 6531 address: INVALID_ARGUMENT."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.StoreMessage(store_request(tenant, to=[pb.Address(email=address)]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "to[0].email" in (info.value.details() or "")

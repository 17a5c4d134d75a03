"""Every error path of StoreMessage and the reads: the right status code, and nothing written."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from service.config import MIB, Config
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.fixture
def config() -> Config:
    """Small limits, so the limit paths are cheap to reach."""
    return Config(
        listen="127.0.0.1:0",
        max_attachment_bytes=1000,
        max_message_bytes=20_000,
        max_recipients=5,
        max_attachments=3,
        max_header_bytes=2000,
        max_grpc_message_bytes=1 * MIB,
    )


def _att(**kwargs: object) -> pb.AttachmentInput:
    return pb.AttachmentInput(**kwargs)  # type: ignore[arg-type]


CASES: dict[str, tuple[Callable[[str], pb.StoreMessageRequest], grpc.StatusCode, str]] = {
    "empty tenant": (lambda t: store_request(""), INVALID, "tenant_id"),
    "tenant not a uuid": (lambda t: store_request("acme"), INVALID, "tenant_id"),
    "direction unspecified": (
        lambda t: store_request(t, direction=pb.DIRECTION_UNSPECIFIED),
        INVALID,
        "direction",
    ),
    "direction out of range": (lambda t: store_request(t, direction=42), INVALID, "direction"),
    "status out of range": (lambda t: store_request(t, status=99), INVALID, "status"),
    "from missing": (lambda t: _without(store_request(t), "from_address"), INVALID, "from_address"),
    "from not an address": (
        lambda t: store_request(t, from_address=pb.Address(email="sam at acme")),
        INVALID,
        "from_address.email",
    ),
    "to not an address": (
        lambda t: store_request(t, to=[pb.Address(email="jane@")]),
        INVALID,
        "to[0].email",
    ),
    "no recipients": (lambda t: store_request(t, to=[]), INVALID, "to"),
    "name with newline": (
        lambda t: store_request(t, to=[pb.Address(email="a@b.co", name="A\r\nBcc: x@y.z")]),
        INVALID,
        "to[0].name",
    ),
    "subject with newline": (
        lambda t: store_request(t, subject="Hi\r\nBcc: victim@x.com"),
        INVALID,
        "subject",
    ),
    "subject too long": (lambda t: store_request(t, subject="x" * 2001), INVALID, "subject"),
    "header name with colon": (
        lambda t: store_request(t, headers=[pb.Header(name="X:Y", value="1")]),
        INVALID,
        "headers[0].name",
    ),
    "header value with CRLF": (
        lambda t: store_request(t, headers=[pb.Header(name="X-Y", value="1\r\nX-Z: 2")]),
        INVALID,
        "headers[0].value",
    ),
    "message id without brackets": (
        lambda t: store_request(t, message_id_header="abc@x"),
        INVALID,
        "message_id_header",
    ),
    "bad storage key": (
        lambda t: store_request(t, storage_key="has spaces"),
        INVALID,
        "storage_key",
    ),
    "bad request id": (lambda t: store_request(t, request_id="a b"), INVALID, "request_id"),
    "campaign id too long": (
        lambda t: store_request(t, campaign_id="c" * 201),
        INVALID,
        "campaign_id",
    ),
    "bad label key": (lambda t: store_request(t, labels={"": "x"}), INVALID, "labels['']"),
    "attachment without source": (
        lambda t: store_request(t, attachments=[_att(filename="a")]),
        INVALID,
        "attachments[0]",
    ),
    "attachment digest not hex": (
        lambda t: store_request(t, attachments=[_att(filename="a", blob_sha256="xyz")]),
        INVALID,
        "attachments[0].blob_sha256",
    ),
    "attachment disposition": (
        lambda t: store_request(t, attachments=[_att(content=b"a", disposition="sideways")]),
        INVALID,
        "attachments[0].disposition",
    ),
    "attachment mime type": (
        lambda t: store_request(t, attachments=[_att(content=b"a", mime_type="pdf")]),
        INVALID,
        "attachments[0].mime_type",
    ),
    "too many recipients": (
        lambda t: store_request(t, to=[pb.Address(email=f"l{i}@x.co") for i in range(6)]),
        EXHAUSTED,
        "",
    ),
    "too many attachments": (
        lambda t: store_request(t, attachments=[_att(content=bytes([i])) for i in range(4)]),
        EXHAUSTED,
        "",
    ),
    "attachment too large": (
        lambda t: store_request(t, attachments=[_att(content=b"x" * 1001)]),
        EXHAUSTED,
        "",
    ),
    "message too large": (lambda t: store_request(t, html_body="x" * 20_001), EXHAUSTED, ""),
    "header block too large": (
        lambda t: store_request(t, headers=[pb.Header(name="X-Pad", value="v" * 2100)]),
        EXHAUSTED,
        "",
    ),
    "request over the gRPC message limit": (
        lambda t: store_request(t, html_body="x" * (MIB + 10)),
        EXHAUSTED,
        "",
    ),
    "unknown blob digest": (
        lambda t: store_request(t, attachments=[_att(filename="a", blob_sha256="ab" * 32)]),
        grpc.StatusCode.FAILED_PRECONDITION,
        "",
    ),
}


def _without(request: pb.StoreMessageRequest, field: str) -> pb.StoreMessageRequest:
    request.ClearField(field)  # type: ignore[arg-type]
    return request


@pytest.mark.parametrize("case", list(CASES))
async def test_bad_store_request_is_refused_and_writes_nothing(
    stub: Stub, tenant: str, case: str
) -> None:
    """Each bad request gets its status code, a field violation where useful, and no rows."""
    build, code, field = CASES[case]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.StoreMessage(build(tenant))
    error = info.value
    assert error.code() == code, error.details()
    assert error.details()
    if field:
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
        assert status is not None
        bad_request = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(bad_request)
        assert field in [v.field for v in bad_request.field_violations]
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert (usage.message_count, usage.blob_count, usage.stored_bytes) == (0, 0, 0)


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (pb.GetMessageRequest(tenant_id="x", storage_key="k"), INVALID),
        (pb.GetMessageRequest(tenant_id=str(uuid.uuid4()), storage_key=""), INVALID),
        (pb.GetMessageRequest(tenant_id=str(uuid.uuid4()), storage_key="a b"), INVALID),
        (pb.GetMessageRequest(tenant_id=str(uuid.uuid4()), storage_key="k", view=7), INVALID),
        (
            pb.GetMessageRequest(tenant_id=str(uuid.uuid4()), storage_key="nope"),
            grpc.StatusCode.NOT_FOUND,
        ),
    ],
)
async def test_bad_get_request(
    stub: Stub, request_: pb.GetMessageRequest, code: grpc.StatusCode
) -> None:
    """GetMessage validates tenant, key and view; an unknown key is NOT_FOUND."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetMessage(request_)
    assert info.value.code() == code


@pytest.mark.parametrize(
    "request_",
    [
        pb.ListMessagesRequest(tenant_id=""),
        pb.ListMessagesRequest(tenant_id=str(uuid.uuid4()), status=[77]),
        pb.ListMessagesRequest(tenant_id=str(uuid.uuid4()), message_type=9),
        pb.ListMessagesRequest(tenant_id=str(uuid.uuid4()), campaign_id="c" * 300),
    ],
)
async def test_bad_list_request(stub: Stub, request_: pb.ListMessagesRequest) -> None:
    """ListMessages validates its tenant and filters."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.ListMessages(request_)
    assert info.value.code() == INVALID


async def test_bad_delete_and_usage_requests(stub: Stub) -> None:
    """DeleteMessage and GetStorageUsage validate the tenant too."""
    for call in (
        stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id="x", storage_key="k")),
        stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id="x")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call
        assert info.value.code() == INVALID

"""OpenTelemetry: one server span per RPC with child spans for database work, no content."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from opentelemetry.sdk.trace import ReadableSpan

from tests.conftest import SPANS
from tests.factories import store_request

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_store_message_span_tree(stub: pb_grpc.EmailStoreStub, tenant: str) -> None:
    """StoreMessage: a SERVER span under the caller's trace, a db child span, sizes, no body."""
    SPANS.clear()
    request = store_request(tenant, subject="Secret subject", text_body="secret text body")
    response = await stub.StoreMessage(
        request, metadata=(("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"),)
    )
    spans = SPANS.get_finished_spans()
    [server] = _by_name(spans, "emailstore.v1.EmailStore/StoreMessage")
    assert server.kind.name == "SERVER"
    assert f"{server.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None
    assert server.parent.span_id == 0x00F067AA0BA902B7
    attributes = dict(server.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.method"] == "StoreMessage"
    assert attributes["emailstore.tenant_id"] == tenant
    assert attributes["emailstore.storage_key"] == response.storage_key
    assert attributes["emailstore.raw_size_bytes"] == response.message.raw_size_bytes
    assert attributes["rpc.grpc.status_code"] == 0
    # The write goes through group commit: a "write group" span under the RPC, linked to
    # every RPC whose message it writes, with the database transaction inside it.
    [group] = _by_name(spans, "write group")
    assert group.parent is not None
    assert group.parent.span_id == server.context.span_id
    assert [link.context.span_id for link in group.links] == [server.context.span_id]
    assert (group.attributes or {})["emailstore.group_size"] == 1
    [db] = _by_name(spans, "db insert_message")
    assert db.parent is not None
    assert db.parent.span_id == group.context.span_id
    assert db.kind.name == "CLIENT"
    for span in spans:
        for value in (span.attributes or {}).values():
            assert "secret" not in str(value).lower(), span.name


async def test_failed_rpc_span_records_status(stub: pb_grpc.EmailStoreStub) -> None:
    """A refused request still produces a server span carrying its status code."""
    SPANS.clear()
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.StoreMessage(store_request("bad-tenant"))
    # The status reaches the client as the server unwinds: wait for the span to end.
    for _ in range(200):
        spans = _by_name(SPANS.get_finished_spans(), "emailstore.v1.EmailStore/StoreMessage")
        if spans:
            break
        await asyncio.sleep(0.01)
    [server] = spans
    assert (server.attributes or {})["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT

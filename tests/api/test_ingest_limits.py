"""Ingest limits: what is too big is refused, what is too complex is kept whole.

(That parsing runs in worker processes under a time limit is tested in
tests/unit/test_parser_pool.py.)"""

from __future__ import annotations

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.config import Config
from tests.api.test_ingest_api import ingest, raw_of

Stub = pb_grpc.EmailStoreStub


@pytest.fixture
def config() -> Config:
    """Small limits: 3 parts at most, 1 MiB per message."""
    return Config(listen="127.0.0.1:0", max_attachments=3, max_message_bytes=1024 * 1024)


async def test_unparseable_message_is_kept_whole(stub: Stub, tenant: str) -> None:
    """Too many parts for the limit: stored anyway, unparsed, and returned exactly."""
    raw = (
        b"From: a@b.co\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n"
        + b"".join(b"--m\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(6))
        + b"--m--\r\n"
    )
    response = await ingest(stub, tenant, raw)
    assert response.message.parse_status.startswith("unparsed: more than 3 MIME parts")
    assert await raw_of(stub, tenant, response.storage_key) == raw


async def test_size_limit_refuses_and_writes_nothing(stub: Stub, tenant: str) -> None:
    """Over EMAILSTORE_MAX_MESSAGE_BYTES: RESOURCE_EXHAUSTED, nothing stored."""
    raw = b"From: a@b.co\r\n\r\n" + b"x" * (1024 * 1024)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await ingest(stub, tenant, raw)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert (usage.message_count, usage.blob_count) == (0, 0)

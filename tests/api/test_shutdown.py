"""Graceful shutdown: NOT_SERVING first, in-flight RPCs finish, new ones are refused."""

from __future__ import annotations

import asyncio

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.config import Config
from service.server import EmailStoreServer
from tests.factories import store_request


async def test_in_flight_stream_finishes_during_grace(database_url: str, tenant: str) -> None:
    """A StoreMessages stream open at SIGTERM time still stores and answers its next request."""
    server = EmailStoreServer(Config(listen="127.0.0.1:0", shutdown_grace_s=10), database_url)
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    stub = pb_grpc.EmailStoreStub(channel)
    health = health_pb2_grpc.HealthStub(channel)
    # Health is watched from before the shutdown: an open stream hears NOT_SERVING even once
    # new calls are refused.
    watch = health.Watch(health_pb2.HealthCheckRequest(service=""))
    assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
    call = stub.StoreMessages()
    await call.write(store_request(tenant, storage_key="before"))
    first = await call.read()
    assert first.storage_key == "before"

    stopping = asyncio.create_task(server.stop())
    update = await asyncio.wait_for(watch.read(), timeout=5)
    assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
    watch.cancel()  # or the grace period would wait for it
    await call.write(store_request(tenant, storage_key="during-grace"))
    second = await call.read()
    assert second.storage_key == "during-grace"
    assert not second.HasField("error")
    await call.done_writing()
    assert await call.code() == grpc.StatusCode.OK
    await asyncio.wait_for(stopping, timeout=15)
    await channel.close()

    # The messages written during the grace period are really stored.
    again = EmailStoreServer(Config(listen="127.0.0.1:0"), database_url)
    await again.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.port}") as ch:
            page = await pb_grpc.EmailStoreStub(ch).ListMessages(
                pb.ListMessagesRequest(tenant_id=tenant)
            )
        assert sorted(m.storage_key for m in page.messages) == ["before", "during-grace"]
    finally:
        await again.stop(grace_s=0)

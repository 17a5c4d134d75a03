"""Health follows the database: NOT_SERVING while it is down, SERVING again once it is back."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.config import Config
from service.server import LIVENESS_SERVICE, SERVICE_NAME, EmailStoreServer
from service.store.embedded import EmbeddedPostgres
from tests.factories import store_request

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def _wait_for(health: health_pb2_grpc.HealthStub, service: str, status: int) -> None:
    for _ in range(150):
        response = await health.Check(health_pb2.HealthCheckRequest(service=service))
        if response.status == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"health of {service!r} never became {status}")


@pytest.mark.slow
async def test_health_follows_database_outage(own_postgres: EmbeddedPostgres, tenant: str) -> None:
    """Stop PostgreSQL: NOT_SERVING and UNAVAILABLE; start it: SERVING and writes work again."""
    config = Config(
        listen="127.0.0.1:0", health_interval_s=0.2, db_pool_timeout_s=1.0, db_pool_min_size=2
    )
    server = EmailStoreServer(config, own_postgres.url())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            stub = pb_grpc.EmailStoreStub(channel)
            for service in ("", SERVICE_NAME):
                await _wait_for(health, service, SERVING)
            await stub.StoreMessage(store_request(tenant))

            await asyncio.to_thread(own_postgres.stop)
            for service in ("", SERVICE_NAME):
                await _wait_for(health, service, NOT_SERVING)
            # The process itself is alive: a liveness probe must not restart it.
            await _wait_for(health, LIVENESS_SERVICE, SERVING)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.StoreMessage(store_request(tenant))
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE

            await asyncio.to_thread(own_postgres.start)
            for service in ("", SERVICE_NAME):
                await _wait_for(health, service, SERVING)
            await stub.StoreMessage(store_request(tenant, subject="after the outage"))
            usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
            assert usage.message_count == 2
    finally:
        await server.stop(grace_s=0)

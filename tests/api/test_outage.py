"""A database outage: every call answers UNAVAILABLE fast, and service resumes by itself.

With the database gone, a call must not wait out the pool timeout (5 s by default) or its own
deadline: it answers UNAVAILABLE within a second, whether it finds a broken pooled connection
or waits for one. When the database is back, calls work again without a restart. And however
busy the pool, a wait for a connection never outlives the caller's deadline.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from service.config import Config
from service.server import SERVICE_NAME, EmailStoreServer
from service.store.embedded import EmbeddedPostgres
from tests.factories import store_request

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


async def _timed_code(call: object) -> tuple[grpc.StatusCode, float]:
    start = time.monotonic()
    try:
        await call  # type: ignore[misc]  # a grpc.aio call object is awaitable
    except grpc.aio.AioRpcError as exc:
        return exc.code(), time.monotonic() - start
    return grpc.StatusCode.OK, time.monotonic() - start


def _calls(stub: pb_grpc.EmailStoreStub, tenant: str, n: int) -> list[object]:
    """n calls of several kinds, each with a deadline longer than the pool timeout."""
    kinds = [
        lambda i: stub.StoreMessage(store_request(tenant, subject=f"outage {i}"), timeout=10),
        lambda i: stub.GetMessage(
            pb.GetMessageRequest(tenant_id=tenant, storage_key="first"), timeout=10
        ),
        lambda i: stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant), timeout=10),
        lambda i: stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant), timeout=10),
    ]
    return [kinds[i % len(kinds)](i) for i in range(n)]


@pytest.mark.slow
async def test_outage_answers_unavailable_fast_and_recovers(
    own_postgres: EmbeddedPostgres, tenant: str
) -> None:
    """Database stopped: 40 concurrent calls and then 10 more all answer UNAVAILABLE, each
    within a second (pool timeout 5 s, deadlines 10 s); started again: service resumes."""
    config = Config(listen="127.0.0.1:0", db_pool_timeout_s=5.0, db_pool_min_size=4)
    server = EmailStoreServer(config, own_postgres.url())
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            await stub.StoreMessage(store_request(tenant, storage_key="first"))

            await asyncio.to_thread(own_postgres.stop)
            results = await asyncio.gather(*(_timed_code(c) for c in _calls(stub, tenant, 40)))
            assert {code for code, _ in results} == {UNAVAILABLE}
            slowest = max(seconds for _, seconds in results)
            assert slowest < 1.0, f"slowest UNAVAILABLE took {slowest:.2f}s"

            check = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
            results = await asyncio.gather(*(_timed_code(c) for c in _calls(stub, tenant, 10)))
            assert {code for code, _ in results} == {UNAVAILABLE}
            assert max(seconds for _, seconds in results) < 1.0

            await asyncio.to_thread(own_postgres.start)
            for _ in range(100):
                check = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
                if check.status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("health never became SERVING again")
            await stub.StoreMessage(store_request(tenant, subject="after the outage"))
            fetched = await stub.GetMessage(
                pb.GetMessageRequest(tenant_id=tenant, storage_key="first")
            )
            assert fetched.storage_key == "first"
    finally:
        await server.stop(grace_s=0)


async def test_pool_wait_never_outlives_the_deadline(database_url: str, tenant: str) -> None:
    """Every connection busy, pool timeout 30 s: a call with a 0.5 s deadline answers
    UNAVAILABLE (nothing ran) before its deadline, not DEADLINE_EXCEEDED after it."""
    config = Config(
        listen="127.0.0.1:0",
        db_pool_timeout_s=30.0,
        db_pool_min_size=2,
        db_pool_max_size=2,
        write_concurrency=1,
    )
    server = EmailStoreServer(config, database_url)
    await server.start()
    held = [await server.db.pool.getconn() for _ in range(2)]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            read = stub.GetMessage(
                pb.GetMessageRequest(tenant_id=tenant, storage_key="k"), timeout=0.5
            )
            write = stub.StoreMessage(store_request(tenant), timeout=0.5)
            for code, seconds in await asyncio.gather(_timed_code(read), _timed_code(write)):
                assert code == UNAVAILABLE
                assert seconds < 0.5
    finally:
        for conn in held:
            await server.db.pool.putconn(conn)
        await server.stop(grace_s=0)
    # Nothing was written by the refused store.
    again = EmailStoreServer(Config(listen="127.0.0.1:0"), database_url)
    await again.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{again.port}") as channel:
            usage = await pb_grpc.EmailStoreStub(channel).GetStorageUsage(
                pb.GetStorageUsageRequest(tenant_id=tenant)
            )
        assert usage.message_count == 0
    finally:
        await again.stop(grace_s=0)

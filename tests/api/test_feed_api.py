"""ListChanges and WatchChanges over a real gRPC channel to a real server on a real
PostgreSQL: what each write appends, paging, tenants, retention, live watch, and the feed's
order under many concurrent writers and a long transaction."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.config import Config
from service.server import EmailStoreServer
from service.store.database import APP_ROLE
from service.store.embedded import EmbeddedPostgres
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub


async def _all_changes(stub: Stub, tenant: str, since: int = 0) -> list[pb.Change]:
    found: list[pb.Change] = []
    while True:
        page = await stub.ListChanges(
            pb.ListChangesRequest(tenant_id=tenant, since_sequence=since, page_size=7)
        )
        found += page.changes
        if not page.changes:
            assert page.next_sequence == since
            return found
        assert page.next_sequence == page.changes[-1].sequence
        since = page.next_sequence


async def _settled(stub: Stub, tenant: str, count: int) -> list[pb.Change]:
    """The tenant's changes once `count` of them are numbered (the sequencer runs apart)."""
    for _ in range(200):
        found = await _all_changes(stub, tenant)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(found)} of {count} changes numbered")


async def test_each_write_appends_a_change_with_what_a_consumer_needs(
    stub: Stub, tenant: str
) -> None:
    """Store, a status event, a repeat of it, delete: CREATED (queued), UPDATED (delivered),
    nothing for the repeat, DELETED (key only), in order, each with its time."""
    stored = await stub.StoreMessage(store_request(tenant, campaign_id="c-9", lead_id="l-9"))
    key = stored.storage_key
    event = pb.UpdateMessageStatusRequest(
        tenant_id=tenant, storage_key=key, status=pb.DELIVERED, event_id="esp-1"
    )
    await stub.UpdateMessageStatus(event)
    await stub.UpdateMessageStatus(event)  # a webhook retry changes nothing
    await stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id=tenant, storage_key=key))
    created, updated, deleted = await _settled(stub, tenant, 3)
    assert [c.kind for c in (created, updated, deleted)] == [pb.CREATED, pb.UPDATED, pb.DELETED]
    assert created.sequence < updated.sequence < deleted.sequence
    assert {c.storage_key for c in (created, updated, deleted)} == {key}
    assert (created.status, created.campaign_id, created.lead_id) == (pb.QUEUED, "c-9", "l-9")
    assert (updated.status, updated.campaign_id, updated.lead_id) == (pb.DELIVERED, "c-9", "l-9")
    assert (deleted.status, deleted.campaign_id, deleted.lead_id) == (0, "", "")
    assert created.at.ToDatetime() <= updated.at.ToDatetime() <= deleted.at.ToDatetime()
    assert len(await _all_changes(stub, tenant)) == 3  # the repeat appended nothing


async def test_a_failed_write_appends_nothing_and_tenants_see_only_their_own(
    stub: Stub, tenant: str
) -> None:
    """A store refused (the key taken with other content) leaves no change; another tenant's
    feed shows none of this tenant's changes."""
    await stub.StoreMessage(store_request(tenant, storage_key="k-1"))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.StoreMessage(store_request(tenant, storage_key="k-1", subject="other"))
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    other = str(uuid.uuid4())
    await stub.StoreMessage(store_request(other, storage_key="k-1"))
    mine = await _settled(stub, tenant, 1)
    await asyncio.sleep(0.3)  # anything else would be numbered by now
    assert [c.storage_key for c in await _all_changes(stub, tenant)] == ["k-1"]
    assert len(mine) == 1
    theirs = await _settled(stub, other, 1)
    assert theirs[0].sequence != mine[0].sequence


@pytest.mark.parametrize(
    ("since", "size", "field"),
    [(-1, 10, "since_sequence"), (0, -1, "page_size")],
)
async def test_bad_paging_is_invalid_argument(
    stub: Stub, tenant: str, since: int, size: int, field: str
) -> None:
    """Negative positions and sizes are refused, naming the field."""
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await stub.ListChanges(
            pb.ListChangesRequest(tenant_id=tenant, since_sequence=since, page_size=size)
        )
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in (bad.value.details() or "")


async def test_watch_replays_then_streams_new_changes_live(stub: Stub, tenant: str) -> None:
    """A watch from 0 first gives the changes made before it, then each new one as it
    commits."""
    first = (await stub.StoreMessage(store_request(tenant, storage_key="before"))).storage_key
    call = stub.WatchChanges(pb.WatchChangesRequest(tenant_id=tenant, since_sequence=0))
    stream = call.__aiter__()
    replayed = await asyncio.wait_for(stream.__anext__(), timeout=10)
    assert (replayed.storage_key, replayed.kind) == (first, pb.CREATED)
    await stub.StoreMessage(store_request(tenant, storage_key="after"))
    live = await asyncio.wait_for(stream.__anext__(), timeout=10)
    assert (live.storage_key, live.kind) == ("after", pb.CREATED)
    assert live.sequence > replayed.sequence
    call.cancel()


async def test_watch_ends_with_unavailable_when_the_server_stops(
    config: Config, database_url: str, tenant: str
) -> None:
    """A stopping server ends its watches with UNAVAILABLE: the caller resumes elsewhere."""
    server = EmailStoreServer(config, database_url)
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        call = stub.WatchChanges(pb.WatchChangesRequest(tenant_id=tenant))
        reading = asyncio.ensure_future(call.__aiter__().__anext__())
        await asyncio.sleep(0.3)
        await server.stop(grace_s=2)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await asyncio.wait_for(reading, timeout=10)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_pruned_position_is_failed_precondition(
    server: EmailStoreServer, stub: Stub, tenant: str
) -> None:
    """Once changes are pruned, asking for the changes after an older sequence says to
    resync; 0 (from the oldest kept) and the newest sequence still work."""
    for i in range(3):
        await stub.StoreMessage(store_request(tenant, storage_key=f"p-{i}"))
    found = await _settled(stub, tenant, 3)
    await server.app.feed.prune(now=datetime.now(UTC) + timedelta(days=8))
    await stub.StoreMessage(store_request(tenant, storage_key="p-new"))
    kept = await _settled(stub, tenant, 1)
    assert [c.storage_key for c in kept] == ["p-new"]
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await stub.ListChanges(
            pb.ListChangesRequest(tenant_id=tenant, since_sequence=found[0].sequence)
        )
    assert old.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "resync" in (old.value.details() or "")
    watch = stub.WatchChanges(
        pb.WatchChangesRequest(tenant_id=tenant, since_sequence=found[0].sequence)
    )
    with pytest.raises(grpc.aio.AioRpcError) as watched:
        await asyncio.wait_for(watch.__aiter__().__anext__(), timeout=10)
    assert watched.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    newest = found[-1].sequence
    assert [c.storage_key for c in await _all_changes(stub, tenant, newest)] == ["p-new"]


async def _long_transaction(database_url: str, tenant: str, key: str, hold_s: float) -> None:
    """A write transaction that takes its xid, writes a change, and commits only after
    `hold_s`: changes committed meanwhile by others must not get past it in the feed."""
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        await conn.execute(f"SET ROLE {APP_ROLE}")
        await conn.execute("SELECT set_config('app.tenant_id', %s, true)", (tenant,))
        await conn.execute(
            "INSERT INTO changes (tenant_id, storage_key, kind) VALUES (%s, %s, 'updated')",
            (tenant, key),
        )
        await asyncio.sleep(hold_s)
        await conn.commit()


async def _follow(stub: Stub, tenant: str, stop: asyncio.Event, seen: list[int]) -> None:
    """A reader following the feed page by page, as an ETL does."""
    since = 0
    while True:
        done = stop.is_set()
        page = await stub.ListChanges(
            pb.ListChangesRequest(tenant_id=tenant, since_sequence=since, page_size=50)
        )
        seen += [c.sequence for c in page.changes]
        since = page.next_sequence
        if done and not page.changes:
            return
        await asyncio.sleep(0.01)


async def _watch(stub: Stub, tenant: str, stop: asyncio.Event, seen: list[int]) -> None:
    call = stub.WatchChanges(pb.WatchChangesRequest(tenant_id=tenant))
    stream: AsyncIterator[pb.Change] = call.__aiter__()
    while True:
        try:
            change = await asyncio.wait_for(stream.__anext__(), timeout=1.5)
        except TimeoutError:
            if stop.is_set():
                call.cancel()
                return
            continue
        seen.append(change.sequence)


@pytest.mark.parametrize("seed", [1, 2])
async def test_every_reader_sees_every_committed_change_once_in_order(
    stub: Stub, database_url: str, tenant: str, seed: int
) -> None:
    """Concurrent writers (unary and streamed stores, status events, deletes, long
    transactions) on a seeded random schedule, while readers page through the feed and watch
    it: each reader ends with exactly the committed changes, each once, in increasing order."""
    rng = random.Random(seed)
    stop = asyncio.Event()
    readers: list[list[int]] = [[] for _ in range(4)]
    tasks = [asyncio.ensure_future(_follow(stub, tenant, stop, readers[i])) for i in range(2)]
    tasks += [asyncio.ensure_future(_watch(stub, tenant, stop, readers[i])) for i in (2, 3)]
    keys: list[str] = []

    async def writer(w: int) -> None:
        for n in range(12):
            await asyncio.sleep(rng.random() * 0.02)
            choice = rng.random()
            if choice < 0.1:
                await _long_transaction(database_url, tenant, f"long-{w}-{n}", rng.random() * 0.6)
            elif choice < 0.3 and keys:
                event = pb.UpdateMessageStatusRequest(
                    tenant_id=tenant, storage_key=rng.choice(keys), status=pb.SENT
                )
                try:
                    await stub.UpdateMessageStatus(event)
                except grpc.aio.AioRpcError as raced:  # another writer deleted it meanwhile
                    if raced.code() != grpc.StatusCode.NOT_FOUND:
                        raise
            elif choice < 0.4 and keys:
                key = keys.pop(rng.randrange(len(keys)))
                await stub.DeleteMessage(pb.DeleteMessageRequest(tenant_id=tenant, storage_key=key))
            elif choice < 0.6:

                async def batch(n: int = n) -> AsyncIterator[pb.StoreMessageRequest]:
                    for i in range(3):
                        yield store_request(tenant, storage_key=f"s-{w}-{n}-{i}")

                async for answer in stub.StoreMessages(batch()):
                    keys.append(answer.storage_key)
            else:
                stored = await stub.StoreMessage(store_request(tenant, storage_key=f"u-{w}-{n}"))
                keys.append(stored.storage_key)

    await asyncio.gather(*(writer(w) for w in range(8)))
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for _ in range(200):
            cur = await conn.execute(
                "SELECT count(*) FILTER (WHERE sequence IS NULL), "
                "array_agg(sequence ORDER BY sequence) FILTER (WHERE sequence IS NOT NULL) "
                "FROM changes WHERE tenant_id = %s",
                (tenant,),
            )
            row = await cur.fetchone()
            assert row is not None
            if row[0] == 0:
                break
            await asyncio.sleep(0.05)
        committed: list[int] = row[1]
    stop.set()
    await asyncio.gather(*tasks)
    assert len(committed) > 50
    for seen in readers:
        assert seen == committed


@pytest.mark.slow
async def test_watch_survives_a_database_restart_by_resuming(
    own_postgres: EmbeddedPostgres, tenant: str
) -> None:
    """The database goes away under a watch: the stream ends with UNAVAILABLE. Once it is
    back, a watch from the last sequence received gets what was written since, and nothing
    twice."""
    server = EmailStoreServer(
        Config(listen="127.0.0.1:0", health_interval_s=0.3), own_postgres.url()
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            await stub.StoreMessage(store_request(tenant, storage_key="before"))
            call = stub.WatchChanges(pb.WatchChangesRequest(tenant_id=tenant))
            stream = call.__aiter__()
            first = await asyncio.wait_for(stream.__anext__(), timeout=10)
            assert first.storage_key == "before"
            await asyncio.to_thread(own_postgres.stop)
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await asyncio.wait_for(stream.__anext__(), timeout=20)
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.to_thread(own_postgres.start)
            for _ in range(200):
                try:
                    await stub.StoreMessage(store_request(tenant, storage_key="after"))
                    break
                except grpc.aio.AioRpcError as down:
                    if down.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    await asyncio.sleep(0.1)
            resumed = stub.WatchChanges(
                pb.WatchChangesRequest(tenant_id=tenant, since_sequence=first.sequence)
            )
            again = await asyncio.wait_for(resumed.__aiter__().__anext__(), timeout=20)
            assert (again.storage_key, again.kind) == ("after", pb.CREATED)
            assert again.sequence > first.sequence
            resumed.cancel()
    finally:
        await server.stop(grace_s=0)

"""A database outage under load, measured: `python -m benchmarks.outage`.

Starts a private embedded PostgreSQL and the real `emailstore serve` process on it, then runs
32 concurrent callers (StoreMessage with request ids, GetMessage, ListMessages; 10 s deadlines)
and, while they run, stops PostgreSQL for a few seconds and starts it again. It prints:

* how every call ended while the database was down, and how long the failed calls took;
* how long health took to say NOT_SERVING, and to say SERVING again once PostgreSQL was back;
* how long after the restart writes succeeded again;
* whether retrying every failed store with its request id stored each message exactly once.

Nothing here is a pass/fail check (the tests do that); these are the figures in
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks.__main__ import _start_server
from service.store.embedded import EmbeddedPostgres
from service.store.migrations import apply_migrations

SERVICE = "emailstore.v1.EmailStore"


@dataclass
class Phase:
    """What the calls of one phase (before, during, after the outage) ended with."""

    codes: collections.Counter[str] = field(default_factory=collections.Counter)
    failed_seconds: list[float] = field(default_factory=list)
    first_ok_at: float | None = None


def _store(tenant: str, n: int) -> pb.StoreMessageRequest:
    return pb.StoreMessageRequest(
        tenant_id=tenant,
        request_id=f"drill-{n}",
        storage_key=f"drill-{n}",
        direction=pb.OUTBOUND,
        campaign_id="drill",
        from_address=pb.Address(email="sam@acme.io"),
        to=[pb.Address(email=f"lead{n}@example.com")],
        subject=f"Quick question #{n}",
        text_body="Hi, worth a quick chat next week?",
    )


async def _caller(
    stub: pb_grpc.EmailStoreStub,
    tenant: str,
    worker: int,
    phase: list[Phase],
    stop: asyncio.Event,
    unstored: set[int],
    counter: list[int],
) -> None:
    while not stop.is_set():
        n = counter[0]
        counter[0] += 1
        kind = n % 3
        start = time.monotonic()
        current = phase[0]
        try:
            if kind == 0:
                await stub.StoreMessage(_store(tenant, n), timeout=10)
            elif kind == 1:
                await stub.GetMessage(
                    pb.GetMessageRequest(tenant_id=tenant, storage_key="drill-0"), timeout=10
                )
            else:
                await stub.ListMessages(
                    pb.ListMessagesRequest(tenant_id=tenant, page_size=10), timeout=10
                )
            current.codes["OK"] += 1
            if current.first_ok_at is None:
                current.first_ok_at = time.monotonic()
        except grpc.aio.AioRpcError as exc:
            current.codes[exc.code().name] += 1
            current.failed_seconds.append(time.monotonic() - start)
            if kind == 0:
                unstored.add(n)
            await asyncio.sleep(0.01)


async def _wait_health(health: health_pb2_grpc.HealthStub, wanted: int) -> float:
    start = time.monotonic()
    while True:
        response = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
        if response.status == wanted:
            return time.monotonic() - start
        await asyncio.sleep(0.02)


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> int:
    """Runs the drill and prints its figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.outage", description=__doc__)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--down-seconds", type=float, default=5.0)
    parser.add_argument("--pool", type=int, default=16)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="emailstore-outage-"))
    embedded = EmbeddedPostgres(folder / "pg")
    url = await asyncio.to_thread(embedded.start)
    await asyncio.to_thread(apply_migrations, url)
    process, port = await _start_server(url, args)
    tenant = str(uuid.uuid4())
    phases = {name: Phase() for name in ("before", "down", "restarting", "after")}
    phase = [phases["before"]]
    stop = asyncio.Event()
    unstored: set[int] = set()
    counter = [0]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            await stub.StoreMessage(_store(tenant, 0))
            counter[0] = 1
            callers = [
                asyncio.create_task(_caller(stub, tenant, i, phase, stop, unstored, counter))
                for i in range(args.callers)
            ]
            await asyncio.sleep(2.0)

            phase[0] = phases["down"]
            stopped_at = time.monotonic()
            await asyncio.to_thread(embedded.stop)
            not_serving_after = await _wait_health(
                health, health_pb2.HealthCheckResponse.NOT_SERVING
            )
            await asyncio.sleep(max(0.0, args.down_seconds - (time.monotonic() - stopped_at)))

            phase[0] = phases["restarting"]
            await asyncio.to_thread(embedded.start)
            started_at = time.monotonic()
            serving_after = await _wait_health(health, health_pb2.HealthCheckResponse.SERVING)
            phase[0] = phases["after"]
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*callers)

            # Every store that failed is retried with its request id: stored exactly once.
            for n in sorted(unstored):
                await stub.StoreMessage(_store(tenant, n), timeout=10)
            usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
            stores = len(range(0, counter[0], 3))
    finally:
        process.terminate()
        await process.wait()
        await asyncio.to_thread(embedded.stop)
        shutil.rmtree(folder, ignore_errors=True)

    down = phases["down"]
    after = phases["restarting"]
    print(f"{args.callers} callers, PostgreSQL stopped for {args.down_seconds:.0f} s\n")
    print("before: calls started before PostgreSQL stopped (some in flight when it did);")
    print("restarting: while PostgreSQL starts again, until health says SERVING\n")
    print("| phase | calls | how they ended | failed: median | p99 | max |")
    print("|---|---:|---|---:|---:|---:|")
    for name, p in phases.items():
        ended = ", ".join(f"{code} {count:,}" for code, count in p.codes.most_common())
        print(
            f"| {name} | {sum(p.codes.values()):,} | {ended} | "
            f"{statistics.median(p.failed_seconds) * 1000 if p.failed_seconds else 0:.0f} ms | "
            f"{_quantile(p.failed_seconds, 0.99) * 1000:.0f} ms | "
            f"{max(p.failed_seconds, default=0) * 1000:.0f} ms |"
        )
    print()
    print(f"- health NOT_SERVING {not_serving_after * 1000:.0f} ms after PostgreSQL stopped")
    print(f"- health SERVING {serving_after * 1000:.0f} ms after PostgreSQL was started again")
    if after.first_ok_at is not None:
        print(
            f"- first successful call {(after.first_ok_at - started_at) * 1000:.0f} ms after start"
        )
    else:
        first = phases["after"].first_ok_at
        if first is not None:
            print(f"- first successful call {(first - started_at) * 1000:.0f} ms after start")
    print(
        f"- {len(unstored):,} failed stores retried with their request ids: "
        f"{usage.message_count:,} messages stored for {stores:,} distinct stores "
        f"({'exactly once' if usage.message_count == stores else 'MISMATCH'})"
    )
    if down.codes.get("DEADLINE_EXCEEDED"):
        print(f"- {down.codes['DEADLINE_EXCEEDED']} calls hit their deadline during the outage")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

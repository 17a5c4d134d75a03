"""`make bench`: EmailStore against what a user could use instead, measured in one run.

Starts a fresh embedded PostgreSQL, then measures, on the same machine in the same run, with
the corpus of benchmarks/corpus.py (personalised outbound cold email of several templates):

* minimal writer - a bare psycopg script storing the same fields of the same messages as two
                   rows (metadata, and content with zstd-compressed bodies), one transaction per
                   message, 32 concurrent tasks on a pool of 10, no gRPC, no service code or SQL;
* same statement - the service's own insert (its schema, its statement, messages encoded by its
                   code beforehand) by bare psycopg, the same way: what the schema costs;
* StoreMessage   - the real `emailstore serve` in its own process, 32 concurrent unary callers;
* StoreMessages  - the same server, the messages sent over 4 concurrent bidirectional streams;
* gRPC alone     - the same calls to a server that answers without storing anything
                   (benchmarks/grpc_reference.py): what Python gRPC itself allows here;
* GetMessage FULL latency (one caller, p50) beside a bare psycopg read of the minimal
  writer's two rows with the bodies decompressed, and beside gRPC alone;
* storage (benchmarks/storage.py), attachments (benchmarks/blobs.py), raw ingest
  (benchmarks/ingest.py), status events and campaign statistics at a million stored
  messages (benchmarks/events.py), search, reads and the change feed at a million
  (benchmarks/find.py), purge, erasure, export and import at a million
  (benchmarks/governance.py).

Machines here are noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from benchmarks import baseline as bare_psycopg
from benchmarks import blobs, events, find, governance, harness, ingest, storage
from benchmarks.corpus import ColdEmail, outbound
from benchmarks.harness import Result
from benchmarks.requests import store_request
from service.store.embedded import EmbeddedPostgres


def _corpus(count: int, seed: int) -> list[ColdEmail]:
    return outbound(0, count, seed)


# ---------------------------------------------------------------- baseline


async def bench_baseline(url: str, emails: list[ColdEmail], args: argparse.Namespace) -> Result:
    """Bare psycopg on two rows per message, no service code (benchmarks/baseline.py)."""
    bare_psycopg.create_schema(url)
    count, seconds = await bare_psycopg.run(
        url,
        emails,
        warmup=args.warmup,
        concurrency=args.concurrency,
        pool_size=args.baseline_pool,
    )
    return Result(
        f"minimal writer: bare psycopg, 2 rows per message, pool {args.baseline_pool}",
        count,
        seconds,
    )


async def bench_same_statement(
    url: str, emails: list[ColdEmail], args: argparse.Namespace
) -> Result:
    """The service's own insert statement by bare psycopg (benchmarks/baseline.py)."""
    count, seconds = await bare_psycopg.run_same_statement(
        url,
        emails,
        warmup=args.warmup,
        concurrency=args.concurrency,
        pool_size=args.baseline_pool,
    )
    return Result(
        f"same statement: the service's insert by bare psycopg, pool {args.baseline_pool}",
        count,
        seconds,
    )


# ------------------------------------------------------------------ server


async def bench_unary(
    port: int,
    emails: list[ColdEmail],
    args: argparse.Namespace,
    what: str = "",
    url: str | None = None,
) -> tuple[Result, str, list[str]]:
    """StoreMessage from 32 concurrent callers over one channel; the result, the tenant and
    the keys stored."""
    tenant = str(uuid.uuid4())
    requests = [store_request(tenant, e) for e in emails]
    keys: list[str] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)

        async def store(request: pb.StoreMessageRequest) -> None:
            keys.append((await stub.StoreMessage(request)).storage_key)

        await harness.run_concurrently(requests[: args.warmup], args.concurrency, store)
        await harness.analyze(url)
        seconds = await harness.run_concurrently(requests[args.warmup :], args.concurrency, store)
    name = f"{what}StoreMessage, {args.concurrency} concurrent callers"
    return Result(name, len(emails) - args.warmup, seconds), tenant, keys


async def bench_stream(
    port: int,
    emails: list[ColdEmail],
    args: argparse.Namespace,
    what: str = "",
    url: str | None = None,
) -> Result:
    """StoreMessages over a few concurrent streams."""
    tenant = str(uuid.uuid4())
    requests = [store_request(tenant, e) for e in emails]

    async def send(
        batch: Iterable[pb.StoreMessageRequest],
    ) -> AsyncIterator[pb.StoreMessageRequest]:
        for request in batch:
            yield request

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)

        async def stream(batch: list[pb.StoreMessageRequest]) -> None:
            async for response in stub.StoreMessages(send(batch)):
                if response.HasField("error"):
                    raise RuntimeError(response.error.message)

        warm, measured = requests[: args.warmup], requests[args.warmup :]
        await stream(warm)
        await harness.analyze(url)
        streams = args.streams
        batches = [measured[i::streams] for i in range(streams)]
        start = time.perf_counter()
        await asyncio.gather(*(stream(b) for b in batches))
        seconds = time.perf_counter() - start
    return Result(f"{what}StoreMessages, {args.streams} streams", len(measured), seconds)


@dataclass(frozen=True)
class Latency:
    """Sequential calls of one caller: median and 90th percentile, in milliseconds."""

    name: str
    calls: int
    p50_ms: float
    p90_ms: float


def _latency(name: str, seconds: list[float]) -> Latency:
    ordered = sorted(seconds)
    return Latency(
        name,
        len(ordered),
        ordered[len(ordered) // 2] * 1000,
        ordered[int(len(ordered) * 0.9)] * 1000,
    )


async def bench_get_full(port: int, tenant: str, keys: list[str], what: str = "") -> Latency:
    """GetMessage FULL of stored messages, one caller, one call at a time."""
    times: list[float] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        for i, key in enumerate(keys):
            request = pb.GetMessageRequest(tenant_id=tenant, storage_key=key, view=pb.FULL)
            start = time.perf_counter()
            message = await stub.GetMessage(request)
            if i >= 20:  # the first calls warm the caches
                times.append(time.perf_counter() - start)
            if not message.html_body:
                raise RuntimeError(f"{key}: no body")
    return _latency(f"{what}GetMessage FULL, one caller", times)


async def bench_reference(
    emails: list[ColdEmail], args: argparse.Namespace
) -> tuple[Result, Result, Latency]:
    """The same calls to a gRPC server that stores nothing (benchmarks/grpc_reference.py)."""
    async with blobs.ReferenceServer() as reference:
        port = reference.port
        unary, tenant, keys = await bench_unary(port, emails, args, "gRPC alone: ")
        streamed = await bench_stream(port, emails, args, "gRPC alone: ")
        latency = await bench_get_full(port, tenant, keys[:400], "gRPC alone: ")
    return unary, streamed, latency


async def _start_server(
    url: str, args: argparse.Namespace
) -> tuple[asyncio.subprocess.Process, int]:
    return await harness.start_server(
        url, args.pool, server_tree=getattr(args, "server_tree", None)
    )


def _database(admin_url: str, name: str, *, migrate: bool = True) -> str:
    return harness.database(admin_url, name, migrate=migrate)


def _table(results: list[Result], baseline: Result, targets: dict[str, str]) -> str:
    lines = [
        "| scenario | messages | seconds | messages/s | x minimal writer | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.messages:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / baseline.rate:.2f} | {targets.get(r.name, '')} |"
        )
    return "\n".join(lines)


def _latency_table(rows: list[Latency]) -> str:
    lines = ["| read | calls | p50 ms | p90 ms |", "|---|---:|---:|---:|"]
    lines += [f"| {r.name} | {r.calls:,} | {r.p50_ms:.2f} | {r.p90_ms:.2f} |" for r in rows]
    return "\n".join(lines)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def _messages(
    admin_url: str, service_url: str, port: int, emails: list[ColdEmail], args: argparse.Namespace
) -> str:
    bare = _database(admin_url, "bench_baseline", migrate=False)
    baseline = await bench_baseline(bare, emails, args)
    print(f"  {baseline.name}: {baseline.rate:,.0f} msg/s", flush=True)
    same = await bench_same_statement(_database(admin_url, "bench_same"), emails, args)
    print(f"  {same.name}: {same.rate:,.0f} msg/s", flush=True)
    unary, tenant, keys = await bench_unary(port, emails, args, url=service_url)
    print(f"  {unary.name}: {unary.rate:,.0f} msg/s", flush=True)
    streamed = await bench_stream(port, emails, args, url=service_url)
    print(f"  {streamed.name}: {streamed.rate:,.0f} msg/s", flush=True)
    null_unary, null_stream, null_get = await bench_reference(emails, args)
    print(f"  {null_unary.name}: {null_unary.rate:,.0f} msg/s", flush=True)
    sample = keys[:: max(1, len(keys) // args.reads)][: args.reads]
    get = await bench_get_full(port, tenant, sample)
    bare_get = _latency(
        "minimal writer's rows by bare psycopg, bodies decompressed, one caller",
        await bare_psycopg.read_times(bare, args.reads),
    )
    targets = {
        unary.name: f"≥ 1,000/s and ≥ 0.5x → "
        f"{_verdict(unary.rate >= 1000 and unary.rate >= 0.5 * baseline.rate)}",
        streamed.name: f"≥ 3,000/s and ≥ 1.3x → "
        f"{_verdict(streamed.rate >= 3000 and streamed.rate >= 1.3 * baseline.rate)}",
    }
    table = _table([baseline, same, unary, streamed, null_unary, null_stream], baseline, targets)
    return table + "\n\n" + _latency_table([get, bare_get, null_get])


async def main() -> int:
    """Runs every scenario and prints the tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--messages", type=int, default=6000, help="per scenario, after warm-up")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--pool", type=int, default=16, help="the server's connections")
    parser.add_argument("--baseline-pool", type=int, default=10, help="the baseline's connections")
    parser.add_argument(
        "--server-tree",
        help="run `python -m service serve` from this checkout (e.g. an older commit's) instead",
    )
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--reads", type=int, default=500, help="GetMessage FULL calls")
    parser.add_argument(
        "--only",
        choices=["messages", "storage", "blobs", "ingest", "events", "find", "governance"],
        help="run one group of scenarios only",
    )
    parser.add_argument("--ingest-messages", type=int, default=1000)
    parser.add_argument(
        "--events-stored", type=int, default=1_000_000, help="messages seeded for events"
    )
    parser.add_argument("--events", type=int, default=10_000, help="unary and bare events")
    parser.add_argument("--events-stream", type=int, default=20_000, help="streamed events")
    parser.add_argument("--stats-calls", type=int, default=50)
    parser.add_argument("--find-stored", type=int, default=1_000_000, help="seeded for search")
    parser.add_argument("--find-calls", type=int, default=50, help="calls per search class")
    parser.add_argument("--find-writes", type=int, default=3000, help="StoreMessage before/after")
    parser.add_argument("--find-changes", type=int, default=200_000, help="changes paged")
    parser.add_argument("--find-watch", type=int, default=100, help="watch latency samples")
    parser.add_argument(
        "--find-before-tree",
        help="a checkout of the code before search and the feed, for the write-cost row",
    )
    parser.add_argument("--gov-stored", type=int, default=1_000_000, help="seeded for purge")
    parser.add_argument("--gov-expired", type=int, default=300_000, help="of them expired")
    parser.add_argument("--gov-purge-limit", type=int, default=10_000, help="PurgeExpired limit")
    parser.add_argument(
        "--gov-write-seconds", type=float, default=20, help="StoreMessage with no purge running"
    )
    parser.add_argument(
        "--gov-autovacuum-wait", type=float, default=90, help="seconds left to autovacuum"
    )
    parser.add_argument("--gov-erase", type=int, default=1000, help="messages of the erased lead")
    parser.add_argument("--gov-export", type=int, default=10_000, help="messages exported")
    args = parser.parse_args()

    total = args.messages + args.warmup
    emails = _corpus(total, seed=42)
    folder = Path(tempfile.mkdtemp(prefix="emailstore-bench-"))
    embedded = EmbeddedPostgres(folder / "pg")
    admin_url = embedded.start()
    server: asyncio.subprocess.Process | None = None
    tables: list[tuple[str, str]] = []
    try:
        print(
            f"fresh embedded PostgreSQL in {folder}; {total:,} messages per scenario "
            f"({args.warmup} warm-up), pool {args.pool}, {os.cpu_count()} CPUs",
            flush=True,
        )
        # An older server (--server-tree) migrates its database itself, to its own schema.
        service_db = _database(admin_url, "bench_service", migrate=not args.server_tree)
        server, port = await _start_server(service_db, args)
        if args.only in (None, "messages"):
            table = await _messages(admin_url, service_db, port, emails, args)
            tables.append(("Messages", table))
        if args.only in (None, "storage"):
            tables.append(("Storage", await storage.run(admin_url)))
        if args.only in (None, "blobs"):
            blob_table = await blobs.run(
                admin_url, _database(admin_url, "bench_blobs_limit"), port, server.pid
            )
            tables.append(("Attachments (random bytes, like PDF/JPEG/ZIP)", blob_table))
        if args.only in (None, "ingest"):
            table = await ingest.run(port, args.ingest_messages, service_db)
            tables.append(("Raw ingest", table))
        if args.only in (None, "events"):
            tables.append(
                ("Lifecycle events and campaign stats", await events.run(admin_url, args))
            )
        if args.only in (None, "find"):
            tables.append(("Search, reads and the change feed", await find.run(admin_url, args)))
        if args.only in (None, "governance"):
            tables.append(
                (
                    "Governance: purge, erasure, export and import",
                    await governance.run(admin_url, args),
                )
            )
    finally:
        if server is not None:
            await harness.stop_server(server)
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
    for title, table in tables:
        print(f"\n{title}:\n\n{table}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

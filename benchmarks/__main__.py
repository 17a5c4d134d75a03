"""`make bench`: EmailStore's write path against the bare-psycopg limit, measured in one run.

Starts a fresh embedded PostgreSQL, then measures, on the same machine in the same run:

* baseline  - a bare psycopg script storing the same fields of the same messages as two rows
              (metadata, and content with zstd-compressed bodies), one transaction per message,
              32 concurrent tasks on a pool of 10, no gRPC, no service code or SQL;
* StoreMessage  - the real `emailstore serve` in its own process, 32 concurrent unary callers;
* StoreMessages - the same server, the messages sent over 4 concurrent bidirectional streams.

Machines here are noisy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from psycopg.conninfo import make_conninfo

from benchmarks import baseline as bare_psycopg
from benchmarks import blobs, ingest
from benchmarks.corpus import ColdEmail, cold_email
from service.store.embedded import EmbeddedPostgres
from service.store.migrations import apply_migrations


@dataclass(frozen=True)
class Result:
    """One measured scenario."""

    name: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _corpus(count: int, seed: int) -> list[ColdEmail]:
    rng = random.Random(seed)
    return [cold_email(i, rng) for i in range(count)]


async def _run_concurrently(
    items: list[Any], concurrency: int, work: Callable[[Any], Any]
) -> float:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start


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
        f"baseline: bare psycopg, 2 rows per message, pool {args.baseline_pool}", count, seconds
    )


# ------------------------------------------------------------------ server


def _request(tenant: str, email: ColdEmail) -> pb.StoreMessageRequest:
    return pb.StoreMessageRequest(
        tenant_id=tenant,
        email_account_id="acct-1",
        campaign_id="camp-bench",
        lead_id=email.lead_id,
        direction=pb.OUTBOUND,
        from_address=pb.Address(email="sam@acme.io", name="Sam Seller"),
        to=[pb.Address(email=email.to_email, name=email.to_name)],
        subject=email.subject,
        text_body=email.text,
        html_body=email.html,
        headers=[pb.Header(name=n, value=v) for n, v in email.headers],
    )


async def bench_unary(port: int, emails: list[ColdEmail], args: argparse.Namespace) -> Result:
    """StoreMessage from 32 concurrent callers over one channel."""
    tenant = str(uuid.uuid4())
    requests = [_request(tenant, e) for e in emails]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)

        async def store(request: pb.StoreMessageRequest) -> None:
            await stub.StoreMessage(request)

        await _run_concurrently(requests[: args.warmup], args.concurrency, store)
        seconds = await _run_concurrently(requests[args.warmup :], args.concurrency, store)
    return Result("StoreMessage, 32 concurrent callers", len(emails) - args.warmup, seconds)


async def bench_stream(port: int, emails: list[ColdEmail], args: argparse.Namespace) -> Result:
    """StoreMessages over a few concurrent streams."""
    tenant = str(uuid.uuid4())
    requests = [_request(tenant, e) for e in emails]

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
        streams = args.streams
        batches = [measured[i::streams] for i in range(streams)]
        start = time.perf_counter()
        await asyncio.gather(*(stream(b) for b in batches))
        seconds = time.perf_counter() - start
    return Result(f"StoreMessages, {args.streams} streams", len(measured), seconds)


async def bench_grpc_floor(port: int, count: int, args: argparse.Namespace) -> Result:
    """The cheapest unary RPC there is (a health check), 32 concurrent callers: the ceiling
    Python gRPC puts on any unary RPC on this machine."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)

        async def check(_: int) -> None:
            await health.Check(health_pb2.HealthCheckRequest())

        await _run_concurrently(list(range(args.warmup)), args.concurrency, check)
        seconds = await _run_concurrently(list(range(count)), args.concurrency, check)
    return Result("reference: empty unary RPC (health check)", count, seconds)


async def _start_server(
    url: str, args: argparse.Namespace
) -> tuple[asyncio.subprocess.Process, int]:
    port = _free_port()
    env = {
        **os.environ,
        "EMAILSTORE_DATABASE_URL": url,
        "EMAILSTORE_LISTEN": f"127.0.0.1:{port}",
        "EMAILSTORE_DB_POOL_MIN_SIZE": str(args.pool),
        "EMAILSTORE_DB_POOL_MAX_SIZE": str(args.pool),
        "EMAILSTORE_LOG_LEVEL": "INFO",
    }
    tree = getattr(args, "server_tree", None)
    command = (
        [sys.executable, "-m", "service", "serve"]
        if tree
        else [str(Path(sys.executable).parent / "emailstore"), "serve"]
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=tree or None,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=60)).decode()
        if not line:
            raise RuntimeError("emailstore serve exited before listening")
        if "EmailStore listening" in line:
            break
    # Keep draining its output so the server never blocks on a full pipe.
    asyncio.get_running_loop().create_task(_drain(process))
    return process, port


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    while await process.stdout.readline():
        pass


def _database(admin_url: str, name: str, *, migrate: bool = True) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(admin_url, dbname=name)
    if migrate:
        apply_migrations(url)
    return url


def _table(results: list[Result], baseline: Result, targets: dict[str, str]) -> str:
    lines = [
        "| scenario | messages | seconds | messages/s | x baseline | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.messages:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / baseline.rate:.2f} | {targets.get(r.name, '')} |"
        )
    return "\n".join(lines)


async def main() -> int:
    """Runs every scenario and prints the table."""
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
    parser.add_argument(
        "--only", choices=["messages", "blobs", "ingest"], help="run one group of scenarios only"
    )
    parser.add_argument("--ingest-messages", type=int, default=1000)
    args = parser.parse_args()

    total = args.messages + args.warmup
    emails = _corpus(total, seed=42)
    folder = Path(tempfile.mkdtemp(prefix="emailstore-bench-"))
    embedded = EmbeddedPostgres(folder / "pg")
    admin_url = embedded.start()
    server: asyncio.subprocess.Process | None = None
    try:
        print(
            f"fresh embedded PostgreSQL in {folder}; {total:,} messages per scenario "
            f"({args.warmup} warm-up), pool {args.pool}, {os.cpu_count()} CPUs",
            flush=True,
        )
        server, port = await _start_server(_database(admin_url, "bench_service"), args)
        if args.only in (None, "messages"):
            bare = _database(admin_url, "bench_baseline", migrate=False)
            baseline = await bench_baseline(bare, emails, args)
            print(f"  {baseline.name}: {baseline.rate:,.0f} msg/s", flush=True)
            unary = await bench_unary(port, emails, args)
            print(f"  {unary.name}: {unary.rate:,.0f} msg/s", flush=True)
            streamed = await bench_stream(port, emails, args)
            print(f"  {streamed.name}: {streamed.rate:,.0f} msg/s", flush=True)
            floor = await bench_grpc_floor(port, args.messages, args)
            print(f"  {floor.name}: {floor.rate:,.0f} RPC/s", flush=True)
        if args.only in (None, "blobs"):
            blob_table = await blobs.run(
                admin_url, _database(admin_url, "bench_blobs_limit"), port, server.pid
            )
        if args.only in (None, "ingest"):
            ingest_table = await ingest.run(port, args.ingest_messages)
    finally:
        if server is not None and server.returncode is None:
            server.send_signal(signal.SIGTERM)
            await server.wait()
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)

    if args.only in (None, "blobs"):
        print("\nAttachments (random bytes, like PDF/JPEG/ZIP):\n")
        print(blob_table)
    if args.only in (None, "ingest"):
        print("\nRaw ingest (realistic inbound mix):\n")
        print(ingest_table)
    if args.only in ("blobs", "ingest"):
        return 0
    targets = {
        unary.name: f"≥ 1,000/s and ≥ 0.5x baseline → {'PASS' if unary.rate >= 1000 and unary.rate >= 0.5 * baseline.rate else 'MISS'}",
        streamed.name: f"≥ 3,000/s → {'PASS' if streamed.rate >= 3000 else 'MISS'}",
    }
    print("\nMessages:\n")
    print(_table([baseline, unary, streamed, floor], baseline, targets))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

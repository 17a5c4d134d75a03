"""Storage: what a message costs, against its raw RFC 5322 bytes and per-message zstd.

For outbound cold email (StoreMessage) and the replies to it (IngestRawMessage), in tenants
of their own, of the corpus of benchmarks/corpus.py, the table gives per message:

* raw RFC 5322 - the message as sent (corpus.to_rfc5322) or received;
* per-message zstd level 1 of those bytes - how Mailpit stores mail (each message alone);
* EmailStore without dictionaries (EMAILSTORE_DICT_TRAINING=false) and with them: the bytes
  GetStorageUsage counts as stored (packs and blobs), and the bytes on disk: every table,
  index and TOAST of the database after VACUUM, grown by the measured messages (the
  database compacted by VACUUM FULL before them).

Each tenant first gets a warm-up of mail (more than EMAILSTORE_DICT_MIN_SAMPLES), then
`emailstore recompress` (which trains the tenant's dictionary where training is on), then the
measured messages, written as the service writes them in steady state. The figures are the
growth over the measured messages only, so rewritten warm-up rows leave no trace in them.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import grpc
import psycopg
import zstandard
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from benchmarks import corpus, harness
from benchmarks.requests import store_request

TENANTS = 2
WARMUP = 1200


@dataclass(frozen=True)
class Usage:
    """What GetStorageUsage counts for some tenants, and the database's size on disk."""

    raw: int
    stored: int
    disk: int

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.raw - other.raw, self.stored - other.stored, self.disk - other.disk)


def _disk_bytes(url: str, *, compact: bool = False) -> int:
    """Every table of the database with its indexes and TOAST, after VACUUM (FULL, before the
    measured messages: the warm-up's rows rewritten by recompress leave free space that the
    measured ones would otherwise fill unseen)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM FULL" if compact else "VACUUM")
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def _usage(
    stub: pb_grpc.EmailStoreStub, tenants: list[str], url: str, *, compact: bool = False
) -> Usage:
    raw = stored = 0
    for tenant in tenants:
        u = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
        raw += u.raw_bytes
        stored += u.stored_bytes
    return Usage(raw, stored, await asyncio.to_thread(partial(_disk_bytes, url, compact=compact)))


async def _store(stub: pb_grpc.EmailStoreStub, tenant: str, mails: list[corpus.ColdEmail]) -> None:
    async def send() -> AsyncIterator[pb.StoreMessageRequest]:
        for mail in mails:
            yield store_request(tenant, mail)

    async for response in stub.StoreMessages(send()):
        if response.HasField("error"):
            raise RuntimeError(response.error.message)


async def _ingest(stub: pb_grpc.EmailStoreStub, tenant: str, messages: list[bytes]) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for raw in messages:
        queue.put_nowait(raw)

    async def requests(raw: bytes) -> AsyncIterator[pb.IngestRawMessageRequest]:
        yield pb.IngestRawMessageRequest(
            metadata=pb.RawMessageMetadata(
                tenant_id=tenant, email_account_id="inbox-1", direction=pb.INBOUND
            )
        )
        yield pb.IngestRawMessageRequest(chunk=raw)

    async def caller() -> None:
        while not queue.empty():
            await stub.IngestRawMessage(requests(queue.get_nowait()))

    await asyncio.gather(*(caller() for _ in range(8)))


async def _recompress(url: str, dictionaries: bool) -> None:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "emailstore"),
        "recompress",
        env={
            **os.environ,
            "EMAILSTORE_DATABASE_URL": url,
            "EMAILSTORE_DICT_TRAINING": "true" if dictionaries else "false",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"emailstore recompress failed: {err.decode()[-500:]}")


@dataclass(frozen=True)
class Measured:
    """The growth of one configuration over the measured messages of one direction."""

    messages: int
    usage: Usage


async def _configuration(
    admin_url: str, name: str, dictionaries: bool, outbound: int, replies: int
) -> tuple[Measured, Measured]:
    url = harness.database(admin_url, name)
    env = {"EMAILSTORE_DICT_TRAINING": "true" if dictionaries else "false"}
    process, port = await harness.start_server(url, 8, env=env)
    out_tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
    in_tenants = [str(uuid.uuid4()) for _ in range(TENANTS)]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            mails = {t: corpus.outbound(i, WARMUP + outbound) for i, t in enumerate(out_tenants)}
            answers = {
                t: corpus.inbound_replies(i, WARMUP + replies) for i, t in enumerate(in_tenants)
            }
            for t in out_tenants:
                await _store(stub, t, mails[t][:WARMUP])
            for t in in_tenants:
                await _ingest(stub, t, answers[t][:WARMUP])
            await _recompress(url, dictionaries)

            before = await _usage(stub, out_tenants, url, compact=True)
            for t in out_tenants:
                await _store(stub, t, mails[t][WARMUP:])
            out = await _usage(stub, out_tenants, url) - before

            before = await _usage(stub, in_tenants, url, compact=True)
            for t in in_tenants:
                await _ingest(stub, t, answers[t][WARMUP:])
            inbound = await _usage(stub, in_tenants, url) - before
    finally:
        await harness.stop_server(process)
    return Measured(outbound * TENANTS, out), Measured(replies * TENANTS, inbound)


def _references(outbound: int, replies: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(raw RFC 5322 bytes, per-message zstd-1 bytes) of the measured outbound and replies."""
    zstd1 = zstandard.ZstdCompressor(level=1)
    sent = [
        corpus.to_rfc5322(m)
        for i in range(TENANTS)
        for m in corpus.outbound(i, WARMUP + outbound)[WARMUP:]
    ]
    received = [
        r for i in range(TENANTS) for r in corpus.inbound_replies(i, WARMUP + replies)[WARMUP:]
    ]
    return (
        (sum(map(len, sent)), sum(len(zstd1.compress(m)) for m in sent)),
        (sum(map(len, received)), sum(len(zstd1.compress(m)) for m in received)),
    )


async def run(admin_url: str, outbound: int = 1500, replies: int = 800) -> str:
    """The storage table (markdown) and the targets' verdicts."""
    plain_out, plain_in = await _configuration(
        admin_url, "bench_storage_plain", False, outbound, replies
    )
    dict_out, dict_in = await _configuration(
        admin_url, "bench_storage_dict", True, outbound, replies
    )
    (out_raw, out_zstd), (in_raw, in_zstd) = await asyncio.to_thread(_references, outbound, replies)

    def per(value: int, count: int) -> str:
        return f"{value / count:,.0f}"

    n_out, n_in = plain_out.messages, plain_in.messages
    rows = [
        "| per message | outbound: bytes | x raw | replies: bytes | x raw |",
        "|---|---:|---:|---:|---:|",
        f"| raw RFC 5322 | {per(out_raw, n_out)} | 1.00 | {per(in_raw, n_in)} | 1.00 |",
        f"| zstd level 1, each message alone (Mailpit) | {per(out_zstd, n_out)} | "
        f"{out_zstd / out_raw:.3f} | {per(in_zstd, n_in)} | {in_zstd / in_raw:.3f} |",
    ]
    for what, out, inbound in (
        ("no dictionaries", plain_out, plain_in),
        ("per-tenant dictionaries", dict_out, dict_in),
    ):
        rows.append(
            f"| EmailStore, {what}: stored (GetStorageUsage) | {per(out.usage.stored, n_out)} | "
            f"{out.usage.stored / out_raw:.3f} | {per(inbound.usage.stored, n_in)} | "
            f"{inbound.usage.stored / in_raw:.3f} |"
        )
        rows.append(
            f"| EmailStore, {what}: on disk (tables, indexes, TOAST; after VACUUM) | "
            f"{per(out.usage.disk, n_out)} | {out.usage.disk / out_raw:.3f} | "
            f"{per(inbound.usage.disk, n_in)} | {inbound.usage.disk / in_raw:.3f} |"
        )
    bodies = dict_out.usage.stored / dict_out.usage.raw
    smaller = out_zstd / dict_out.usage.stored
    disk = dict_out.usage.disk / out_raw
    verdicts = [
        f"outbound bodies and headers stored/raw (GetStorageUsage, with dictionaries): "
        f"{bodies:.3f} (target ≤ 0.10 → {'PASS' if bodies <= 0.10 else 'MISS'}); "
        f"{smaller:.1f}x smaller than per-message zstd-1 of the raw message "
        f"(target ≥ 3x → {'PASS' if smaller >= 3 else 'MISS'})",
        f"on disk per outbound message: {disk:.2f}x its raw RFC 5322 size "
        f"(target ≤ 0.5x → {'PASS' if disk <= 0.5 else 'MISS'})",
        f"({n_out:,} outbound messages and {n_in:,} replies measured, in {TENANTS} tenants each, "
        f"after {WARMUP:,} of warm-up per tenant)",
    ]
    return "\n".join([*rows, "", *verdicts])

"""Raw ingest of a realistic inbound mix, against the one-process parse limit, in one run.

The mix: mostly 5-20 KB replies (quoted thread, text and HTML alternatives, signatures);
20% carry a 100 KB-2 MB attachment, and half of those attachments are repeats (the deck a
lead forwards back, the same invoice template). Measured in the same run:

* parse limit - `email.message_from_bytes` plus walking and decoding every part, in one
  process, no storage: what parsing alone allows;
* IngestRawMessage - the real server, 16 concurrent callers;
* storage ratio - stored bytes / raw bytes after ingesting the mix.
"""

from __future__ import annotations

import asyncio
import base64
import email
import os
import random
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from benchmarks import harness
from benchmarks.corpus import COMPANIES, FIRST, LAST, PARAGRAPHS, inbound_replies

CALLERS = 16


def _attachment(rng: random.Random, size: int) -> bytes:
    # Attachments are mostly compressed formats: a PDF header, then bytes that do not shrink.
    return b"%PDF-1.7\n" + rng.randbytes(size)


def _reply(i: int, rng: random.Random, attachments: list[bytes]) -> bytes:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = rng.choice(COMPANIES)
    quoted = "\r\n".join(
        "> " + p.format(company=company, industry="SaaS") for p in PARAGRAPHS * rng.randint(1, 4)
    )
    reply = rng.choice(
        [
            "Thanks Sam, happy to talk. Does Tuesday 10am work?",
            "Not interested right now, please check back next quarter.",
            "Can you send pricing and a case study for our industry?",
            "I'm out of office until Monday with limited access to email.",
        ]
    )
    signature = f"{first} {last}\r\nVP Sales, {company}\r\n+1 555 {rng.randint(1000, 9999)}\r\n"
    text = f"{reply}\r\n\r\n{signature}\r\nOn Mon, Sam wrote:\r\n{quoted}\r\n"
    html = (
        f"<div dir=ltr><p>{reply}</p><p>{signature.replace(chr(13) + chr(10), '<br>')}</p>"
        f"<blockquote>{quoted.replace(chr(13) + chr(10), '<br>')}</blockquote></div>"
    )
    boundary_alt = f"alt_{uuid.UUID(int=rng.getrandbits(128)).hex}"
    headers = (
        f"Return-Path: <{first.lower()}@{company.lower()}.com>\r\n"
        f"Received: from mail.{company.lower()}.com (mail.{company.lower()}.com [203.0.113.{rng.randint(1, 254)}])\r\n"
        f"\tby mx.acme.io with ESMTPS id {rng.getrandbits(48):x}; {format_datetime(datetime.now(UTC))}\r\n"
        f"From: {first} {last} <{first.lower()}.{last.lower()}@{company.lower()}.com>\r\n"
        f"To: Sam Seller <sam@acme.io>\r\n"
        f"Subject: Re: Quick question about {company}'s pipeline, {first}\r\n"
        f"Date: {format_datetime(datetime.now(UTC))}\r\n"
        f"Message-ID: <{uuid.UUID(int=rng.getrandbits(128))}@{company.lower()}.com>\r\n"
        f"In-Reply-To: <email_{i:08d}@acme.io>\r\n"
        f"References: <email_{i:08d}@acme.io>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    alternative = (
        f"--{boundary_alt}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
        f"--{boundary_alt}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
        f"--{boundary_alt}--\r\n"
    )
    if rng.random() >= 0.2:
        return (
            headers
            + f'Content-Type: multipart/alternative; boundary="{boundary_alt}"\r\n\r\n'
            + alternative
        ).encode()
    if attachments and rng.random() < 0.5:
        data = rng.choice(attachments)  # a repeat: the same deck or invoice again
    else:
        data = _attachment(rng, rng.randint(100_000, 2_000_000))
        attachments.append(data)
    boundary = f"mix_{uuid.UUID(int=rng.getrandbits(128)).hex}"
    encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return (
        (
            headers
            + f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n--{boundary}\r\n'
            + f'Content-Type: multipart/alternative; boundary="{boundary_alt}"\r\n\r\n'
            + alternative
            + f'--{boundary}\r\nContent-Type: application/pdf; name="proposal-{len(attachments)}.pdf"\r\n'
            + 'Content-Disposition: attachment; filename="proposal.pdf"\r\n'
            + "Content-Transfer-Encoding: base64\r\n\r\n"
        ).encode()
        + encoded
        + f"--{boundary}--\r\n".encode()
    )


def inbound_mix(count: int, seed: int = 7) -> list[bytes]:
    """The realistic inbound corpus."""
    rng = random.Random(seed)
    attachments: list[bytes] = []
    return [_reply(i, rng, attachments) for i in range(count)]


def parse_limit(messages: list[bytes]) -> float:
    """Seconds for the standard library to parse every message and decode every part."""
    start = time.perf_counter()
    for raw in messages:
        message = email.message_from_bytes(raw)
        for part in message.walk():
            part.get_payload(decode=True)
    return time.perf_counter() - start


async def _requests(tenant: str, raw: bytes) -> AsyncIterator[pb.IngestRawMessageRequest]:
    yield pb.IngestRawMessageRequest(
        metadata=pb.RawMessageMetadata(
            tenant_id=tenant, email_account_id="inbox-1", direction=pb.INBOUND
        )
    )
    for start in range(0, len(raw), 1024 * 1024):
        yield pb.IngestRawMessageRequest(chunk=raw[start : start + 1024 * 1024])


async def service_ingest(port: int, tenant: str, messages: list[bytes]) -> float:
    """Seconds for 16 concurrent callers to ingest every message."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        for raw in messages:
            queue.put_nowait(raw)

        async def caller() -> None:
            while not queue.empty():
                await stub.IngestRawMessage(_requests(tenant, queue.get_nowait()))

        start = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
        return time.perf_counter() - start


def _with_attachments(reply: bytes, rng: random.Random, decks: list[bytes]) -> bytes:
    """A reply with a PDF (~22 KB, now and then the same deck again) and an image (~10 KB)."""
    header_end = reply.index(b"\r\n\r\n")
    headers, body = reply[:header_end], reply[header_end + 4 :]
    lines = headers.split(b"\r\n")
    kept, content, inside = [], [], False
    for line in lines:  # the top-level Content-* fields move to the first part
        if line.lower().startswith(b"content-"):
            inside = True
            content.append(line)
        elif inside and line[:1] in (b" ", b"\t"):
            content.append(line)
        else:
            inside = False
            kept.append(line)
    if decks and rng.random() < 0.3:
        pdf = rng.choice(decks)
    else:
        pdf = _attachment(rng, rng.randint(18_000, 26_000))
        decks.append(pdf)
    image = b"\x89PNG\r\n\x1a\n" + rng.randbytes(rng.randint(8_000, 12_000))
    boundary = f"mix_{uuid.UUID(int=rng.getrandbits(128)).hex}".encode()

    def part(kind: bytes, name: bytes, data: bytes) -> bytes:
        encoded = base64.encodebytes(data).replace(b"\n", b"\r\n")
        return (
            b"--" + boundary + b"\r\nContent-Type: " + kind + b'; name="' + name + b'"\r\n'
            b'Content-Disposition: attachment; filename="' + name + b'"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded
        )

    return (
        b"\r\n".join(kept)
        + b'\r\nContent-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n--'
        + boundary
        + b"\r\n"
        + b"\r\n".join(content)
        + b"\r\n\r\n"
        + body
        + b"\r\n"
        + part(b"application/pdf", b"proposal.pdf", pdf)
        + part(b"image/png", b"screenshot.png", image)
        + b"--"
        + boundary
        + b"--\r\n"
    )


def small_reply_mix(count: int, seed: int = 11) -> list[bytes]:
    """Small mail as a mailbox receives it: 80% replies of a few KB (benchmarks/corpus.py), 20%
    the same with a PDF and an image (about 47 KB in all)."""
    rng = random.Random(seed)
    decks: list[bytes] = []
    replies = inbound_replies(0, count, seed)
    return [_with_attachments(r, rng, decks) if rng.random() < 0.2 else r for r in replies]


async def _reference_ingest(messages: list[bytes]) -> float:
    """Seconds for the same callers to send the same messages to a gRPC server that reads
    and drops them (benchmarks/grpc_reference.py)."""
    from benchmarks.blobs import ReferenceServer

    async with ReferenceServer() as reference:
        return await service_ingest(reference.port, str(uuid.uuid4()), messages)


async def _scenario(
    port: int, name: str, messages: list[bytes], target: str, reference: bool
) -> tuple[list[str], pb.StorageUsage]:
    total = sum(len(m) for m in messages)
    count = len(messages)
    tenant = str(uuid.uuid4())
    limit = await asyncio.to_thread(parse_limit, messages)
    seconds = await service_ingest(port, tenant, messages)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        usage = await pb_grpc.EmailStoreStub(channel).GetStorageUsage(
            pb.GetStorageUsageRequest(tenant_id=tenant)
        )
    limit_rate = count / limit

    def row(what: str, secs: float, verdict: str = "") -> str:
        rate = count / secs
        return (
            f"| {name}: {what} | {count:,} | {total / 1e6:,.1f} | {secs:.2f} | {rate:,.0f} | "
            f"{total / secs / 1e6:,.1f} | {rate / limit_rate:.2f} | {verdict} |"
        )

    rows = [row("parse limit, email.message_from_bytes + walk, one process", limit)]
    rate = count / seconds
    verdict = ""
    if target:
        verdict = f"{target} → {'PASS' if rate >= 0.5 * limit_rate else 'MISS'}"
    rows.append(row(f"IngestRawMessage, {CALLERS} concurrent callers", seconds, verdict))
    if reference:
        rows.append(row("gRPC alone (read and dropped)", await _reference_ingest(messages)))
    return rows, usage


async def run(port: int, count: int, url: str | None = None) -> str:
    """Every ingest scenario; returns the markdown table and the storage lines."""
    # Starts the parser workers, then has statistics made (benchmarks.harness.analyze_now).
    await service_ingest(port, str(uuid.uuid4()), small_reply_mix(300, seed=3))
    await harness.analyze(url)
    small = small_reply_mix(max(count, 2000))
    small_rows, small_usage = await _scenario(port, "small replies", small, "≥ 0.5x", True)
    heavy = inbound_mix(count)
    heavy_rows, heavy_usage = await _scenario(port, "inbound mix", heavy, "", False)
    header = [
        "| scenario | messages | MB | seconds | messages/s | MB/s | x parse limit | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines = []
    for name, messages, usage in (
        ("small replies", small, small_usage),
        ("inbound mix", heavy, heavy_usage),
    ):
        total = sum(len(m) for m in messages)
        lines.append(
            f"{name}: {total / 1e6:,.1f} MB raw ingested, {usage.stored_bytes / 1e6:,.1f} MB "
            f"stored → stored/raw = {usage.stored_bytes / total:.2f}; saved by dedup "
            f"{usage.saved_by_dedup_bytes / 1e6:,.1f} MB, by compression "
            f"{usage.saved_by_compression_bytes / 1e6:,.1f} MB, by dictionaries "
            f"{usage.saved_by_dictionary_bytes / 1e6:,.1f} MB"
        )
    lines.append(
        "small replies: 80% replies of a few KB, 20% with a PDF and an image (~47 KB); "
        "inbound mix: 20% with attachments of 0.1-2 MB"
    )
    return "\n".join([*header, *small_rows, *heavy_rows, "", *lines])


if __name__ == "__main__":  # a quick look at the corpus
    mix = inbound_mix(200)
    sizes = sorted(len(m) for m in mix)
    print(
        f"{len(mix)} messages, median {sizes[len(sizes) // 2]:,} B, max {sizes[-1]:,} B, "
        f"{sum(sizes) / 1e6:.1f} MB in all; {os.cpu_count()} CPUs"
    )

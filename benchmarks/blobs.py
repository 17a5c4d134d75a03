"""Attachment upload and download against what PostgreSQL itself can do, in the same run.

* write limit - bare psycopg ``COPY ... (FORMAT binary)`` of the same bytes, as 256 KiB bytea
  rows, into a plain table;
* read limit  - bare psycopg ``SELECT`` of those rows;
* UploadBlob / DownloadAttachment - the real server over gRPC (1 MiB requests for uploads);
* peak server memory while 8 clients each download a 25 MiB attachment;
* re-sending a known attachment: FindMissingBlobs says the tenant has it, nothing is sent.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import psutil
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

MIB = 1024 * 1024
CHUNK = 256 * 1024
REQUEST_BYTES = MIB


@dataclass(frozen=True)
class Rate:
    """Bytes moved in a time."""

    name: str
    size: int
    count: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10^6) per second."""
        return self.size * self.count / self.seconds / 1e6


def _payloads(size: int, count: int) -> list[bytes]:
    # Random bytes: attachments are mostly compressed formats (PDF, JPEG, ZIP, DOCX).
    return [os.urandom(size) for _ in range(count)]


async def copy_write(url: str, payloads: list[bytes]) -> Rate:
    """COPY FORMAT binary of the same bytes in 256 KiB rows: the database's write limit."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_bytea (id bigint, seq int, data bytea)"
        )
        await conn.execute("ALTER TABLE bench_bytea ALTER COLUMN data SET STORAGE EXTERNAL")
        start = time.perf_counter()
        for n, payload in enumerate(payloads):
            async with conn.transaction():
                cur = conn.cursor()
                async with cur.copy(
                    "COPY bench_bytea (id, seq, data) FROM STDIN (FORMAT binary)"
                ) as copy:
                    copy.set_types(["int8", "int4", "bytea"])
                    for seq, offset in enumerate(range(0, len(payload), CHUNK)):
                        await copy.write_row((n, seq, payload[offset : offset + CHUNK]))
        seconds = time.perf_counter() - start
    return Rate("write limit: COPY binary", len(payloads[0]), len(payloads), seconds)


async def select_read(url: str, size: int, count: int) -> Rate:
    """SELECT of the rows COPY wrote: the database's read limit."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        for n in range(count):
            cur = await conn.execute(
                "SELECT data FROM bench_bytea WHERE id = %s ORDER BY seq", (n,), binary=True
            )
            total = sum(len(row[0]) for row in await cur.fetchall())
            assert total == size
        seconds = time.perf_counter() - start
    return Rate("read limit: SELECT", size, count, seconds)


async def _upload_requests(
    tenant: str, data: bytes, sha256: str = ""
) -> AsyncIterator[pb.UploadBlobRequest]:
    upload_id = str(uuid.uuid4())
    offsets = list(range(0, len(data), REQUEST_BYTES))
    for i, offset in enumerate(offsets):
        yield pb.UploadBlobRequest(
            tenant_id=tenant if i == 0 else "",
            upload_id=upload_id if i == 0 else "",
            sha256=sha256 if i == 0 else "",
            size_bytes=len(data) if i == 0 else 0,
            write_offset=offset,
            data=data[offset : offset + REQUEST_BYTES],
            finish_write=i == len(offsets) - 1,
        )


async def service_upload(
    stub: pb_grpc.EmailStoreStub, tenant: str, payloads: list[bytes]
) -> tuple[Rate, list[str]]:
    """UploadBlob of each payload in turn."""
    digests = []
    start = time.perf_counter()
    for payload in payloads:
        blob = await stub.UploadBlob(_upload_requests(tenant, payload))
        digests.append(blob.sha256)
    seconds = time.perf_counter() - start
    return Rate("UploadBlob", len(payloads[0]), len(payloads), seconds), digests


async def _download_one(stub: pb_grpc.EmailStoreStub, tenant: str, digest: str) -> int:
    total = 0
    request = pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=digest)
    async for chunk in stub.DownloadAttachment(request):
        total += len(chunk.data)
    return total


async def service_download(
    stub: pb_grpc.EmailStoreStub, tenant: str, digests: list[str], size: int
) -> Rate:
    """DownloadAttachment of each blob in turn."""
    start = time.perf_counter()
    for digest in digests:
        assert await _download_one(stub, tenant, digest) == size
    seconds = time.perf_counter() - start
    return Rate("DownloadAttachment", size, len(digests), seconds)


async def peak_memory_during_downloads(
    stub: pb_grpc.EmailStoreStub, tenant: str, digest: str, size: int, server_pid: int, clients: int
) -> tuple[int, int, float]:
    """(server RSS before, peak server RSS, seconds) while `clients` download one blob at once."""
    process = psutil.Process(server_pid)
    before = process.memory_info().rss
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    start = time.perf_counter()
    sizes = await asyncio.gather(*(_download_one(stub, tenant, digest) for _ in range(clients)))
    seconds = time.perf_counter() - start
    done.set()
    await sampler
    assert sizes == [size] * clients
    return before, peak, seconds


async def resend_known(stub: pb_grpc.EmailStoreStub, tenant: str, digest: str) -> tuple[float, int]:
    """Seconds to learn the tenant has a blob, and the bytes sent for it (none)."""
    start = time.perf_counter()
    response = await stub.FindMissingBlobs(
        pb.FindMissingBlobsRequest(tenant_id=tenant, sha256=[digest])
    )
    seconds = time.perf_counter() - start
    assert list(response.missing_sha256) == []
    return seconds, 0


async def grpc_ceiling(size: int, count: int) -> tuple[Rate, Rate]:
    """Upload and download of the same sizes through a gRPC server that stores nothing."""
    import socket
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.grpc_reference", str(port)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await asyncio.wait_for(channel.channel_ready(), timeout=30)
            stub = pb_grpc.EmailStoreStub(channel)
            payloads = _payloads(size, count)
            start = time.perf_counter()
            for payload in payloads:
                await stub.UploadBlob(_upload_requests(str(uuid.uuid4()), payload))
            up = Rate("reference: gRPC alone, upload", size, count, time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(count):
                total = 0
                request = pb.DownloadAttachmentRequest(read_limit=size)
                async for chunk in stub.DownloadAttachment(request):
                    total += len(chunk.data)
                assert total == size
            down = Rate("reference: gRPC alone, download", size, count, time.perf_counter() - start)
    finally:
        process.terminate()
        await process.wait()
    return up, down


async def run(admin_url: str, bench_url: str, port: int, server_pid: int) -> str:
    """Every blob scenario; returns the markdown table."""
    tenant = str(uuid.uuid4())
    rows: list[str] = [
        "| size | scenario | MB/s | x limit | target |",
        "|---|---|---:|---:|---|",
    ]
    memory_line = ""
    resend_line = ""
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.max_receive_message_length", 8 * MIB)]
    ) as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        for size, count in ((MIB, 40), (25 * MIB, 4)):
            label = f"{size // MIB} MiB x {count}"
            limit_write = await copy_write(bench_url, _payloads(size, count))
            limit_read = await select_read(bench_url, size, count)
            async with await psycopg.AsyncConnection.connect(bench_url, autocommit=True) as conn:
                await conn.execute("TRUNCATE bench_bytea")
            upload, digests = await service_upload(stub, tenant, _payloads(size, count))
            download = await service_download(stub, tenant, digests, size)
            ceiling_up, ceiling_down = await grpc_ceiling(size, count)
            for rate, limit in (
                (limit_write, None),
                (ceiling_up, limit_write),
                (upload, limit_write),
                (limit_read, None),
                (ceiling_down, limit_read),
                (download, limit_read),
            ):
                ratio = rate.mb_per_s / limit.mb_per_s if limit else 1.0
                target = ""
                if limit is not None and not rate.name.startswith("reference"):
                    target = f"≥ 0.7x → {'PASS' if ratio >= 0.7 else 'MISS'}"
                rows.append(
                    f"| {label} | {rate.name} | {rate.mb_per_s:,.0f} | {ratio:.2f} | {target} |"
                )
            print(
                f"  {label}: upload {upload.mb_per_s:,.0f} MB/s (COPY {limit_write.mb_per_s:,.0f}),"
                f" download {download.mb_per_s:,.0f} MB/s (SELECT {limit_read.mb_per_s:,.0f})",
                flush=True,
            )
            if size == 25 * MIB:
                before, peak, seconds = await peak_memory_during_downloads(
                    stub, tenant, digests[0], size, server_pid, clients=8
                )
                memory_line = (
                    f"8 concurrent 25 MiB downloads ({8 * size / seconds / 1e6:,.0f} MB/s in all): "
                    f"server RSS {before / MIB:,.0f} MiB before, peak {peak / MIB:,.0f} MiB "
                    f"(+{(peak - before) / MIB:,.0f} MiB for 200 MiB streamed)"
                )
                seconds, sent = await resend_known(stub, tenant, digests[0])
                resend_line = (
                    f"re-sending a known 25 MiB attachment: FindMissingBlobs answers in "
                    f"{seconds * 1000:.1f} ms and {sent} bytes are uploaded "
                    f"(uploading it took {size / upload.mb_per_s / 1e6 * 1000:,.0f} ms)"
                )
    return "\n".join([*rows, "", memory_line, "", resend_line])

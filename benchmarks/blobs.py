"""Attachment upload and download against what PostgreSQL itself can do, in the same run.

* write limit - bare psycopg ``COPY ... (FORMAT binary)`` of the same bytes, as 256 KiB bytea
  rows, into a plain table;
* read limit  - bare psycopg ``SELECT`` of those rows;
* UploadBlob / DownloadAttachment - the real server over gRPC (1 MiB requests for uploads);
* two references, each a gRPC server in its own process (benchmarks/grpc_reference.py): gRPC
  alone (stores nothing), and gRPC + the same COPY/SELECT, nothing else (the limits' own
  statements behind the same RPCs: the least a gRPC service in front of this database costs);
* peak server memory while 8 clients each download a 25 MiB attachment;
* re-sending a known attachment: FindMissingBlobs says the tenant has it, nothing is sent.

Each size is measured in several rounds after a warm-up; a round runs every scenario back to
back on fresh random bytes, and the table gives the median rate and the median of the per-round
ratios, so a slow moment of this shared machine hits the limit and the service alike. The server
CPU column is the CPU time the server process (or the reference server) spent per MiB moved.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
import psutil
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

MIB = 1024 * 1024
CHUNK = 256 * 1024
REQUEST_BYTES = MIB
# Channel options of the benchmark's clients (and of the reference's): gRPC defaults except
# the receive limit, as an internal service would call.
CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 8 * MIB)]
# The references run with glibc's mmap and trim thresholds raised: a small fresh process
# otherwise maps and faults in every 256 KiB buffer anew (measured: a quarter of the gRPC-alone
# server's CPU, half the speed of its 1 MiB downloads), which the long-running service does not
# pay (0 minor faults per MiB downloaded). So each reference shows its best.
REFERENCE_MALLOC = "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=16777216"


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
    tenant: str, data: bytes, sha256: str = "", upload_id: str = ""
) -> AsyncIterator[pb.UploadBlobRequest]:
    upload_id = upload_id or str(uuid.uuid4())
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


class ReferenceServer:
    """A reference gRPC server (benchmarks/grpc_reference.py) in its own process: one that
    stores nothing, or, given the database, one that runs the limits' own COPY and SELECT."""

    def __init__(self, database_url: str | None = None) -> None:
        self.database_url = database_url
        self.what = "gRPC + the same COPY/SELECT, nothing else" if database_url else "gRPC alone"
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self.channel: grpc.aio.Channel | None = None
        self.stub: pb_grpc.EmailStoreStub | None = None

    async def __aenter__(self) -> ReferenceServer:
        import socket
        import sys

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        self.port = port
        extra = [self.database_url] if self.database_url else []
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.grpc_reference",
            str(port),
            *extra,
            env={**os.environ, "GLIBC_TUNABLES": REFERENCE_MALLOC},
        )
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS)
        await asyncio.wait_for(self.channel.channel_ready(), timeout=30)
        self.stub = pb_grpc.EmailStoreStub(self.channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.process is not None:
            self.process.terminate()
            await self.process.wait()

    async def upload(self, payloads: list[bytes]) -> Rate:
        """Each payload in turn, in the same 1 MiB requests (row id n for the n-th)."""
        assert self.stub is not None
        start = time.perf_counter()
        for n, payload in enumerate(payloads):
            await self.stub.UploadBlob(_upload_requests("", payload, upload_id=str(n)))
        seconds = time.perf_counter() - start
        return Rate(f"reference: {self.what}, upload", len(payloads[0]), len(payloads), seconds)

    async def download(self, size: int, count: int) -> Rate:
        """`count` downloads of `size` bytes, in 256 KiB messages (with the database: the rows
        COPY wrote for payloads 0..count-1)."""
        assert self.stub is not None
        start = time.perf_counter()
        for n in range(count):
            request = (
                pb.DownloadAttachmentRequest(blob_sha256=str(n))
                if self.database_url
                else pb.DownloadAttachmentRequest(read_limit=size)
            )
            total = 0
            async for chunk in self.stub.DownloadAttachment(request):
                total += len(chunk.data)
            assert total == size
        seconds = time.perf_counter() - start
        return Rate(f"reference: {self.what}, download", size, count, seconds)


class _Cpu:
    """CPU seconds a process spends while a block runs."""

    def __init__(self, pid: int | None) -> None:
        self.process = psutil.Process(pid)
        self.seconds = 0.0

    def _now(self) -> float:
        times = self.process.cpu_times()
        return float(times.user + times.system)

    def __enter__(self) -> _Cpu:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = self._now() - self._start


@dataclass
class _Series:
    """One scenario measured over several rounds."""

    name: str
    limit: str | None = None
    rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_ms_per_mib: list[float] = field(default_factory=list)

    def add(self, rate: Rate, limit: Rate | None = None, cpu_s: float | None = None) -> None:
        self.rates.append(rate.mb_per_s)
        if limit is not None:
            self.ratios.append(rate.mb_per_s / limit.mb_per_s)
        if cpu_s is not None:
            self.cpu_ms_per_mib.append(cpu_s * 1000 / (rate.size * rate.count / MIB))


async def _checkpoint(admin_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute("CHECKPOINT")


async def _measure_size(
    stub: pb_grpc.EmailStoreStub,
    reference: ReferenceServer,
    bare: ReferenceServer,
    admin_url: str,
    bench_url: str,
    tenant: str,
    size: int,
    count: int,
    rounds: int,
    server_pid: int,
) -> tuple[list[_Series], list[str]]:
    """Every scenario of one file size, `rounds` times, interleaved: each round measures the
    limit and the service back to back, on fresh random bytes (nothing deduplicates). Each write
    starts after a CHECKPOINT, so neither pays for flushing what the other wrote."""
    copy, ref_up, bare_up, up = (
        _Series("write limit: COPY binary"),
        _Series(f"reference: {reference.what}, upload", "write"),
        _Series(f"reference: {bare.what}, upload", "write"),
        _Series("UploadBlob", "write"),
    )
    select, ref_down, bare_down, down = (
        _Series("read limit: SELECT"),
        _Series(f"reference: {reference.what}, download", "read"),
        _Series(f"reference: {bare.what}, download", "read"),
        _Series("DownloadAttachment", "read"),
    )
    # Warm-up, not measured: every pooled server connection and the reference channel.
    _, warm = await service_upload(stub, tenant, _payloads(min(size, MIB), 4))
    for _ in range(8):
        await service_download(stub, tenant, warm, min(size, MIB))
    await reference.download(MIB, 4)
    digests: list[str] = []
    for _ in range(rounds):
        async with await psycopg.AsyncConnection.connect(bench_url, autocommit=True) as conn:
            await conn.execute("DROP TABLE IF EXISTS bench_bytea")
            await conn.execute("TRUNCATE bench_bytea_ref")
        await _checkpoint(admin_url)
        limit_write = await copy_write(bench_url, _payloads(size, count))
        copy.add(limit_write)
        ref_cpu = _Cpu(reference.process.pid if reference.process else None)
        with ref_cpu:
            rate = await reference.upload(_payloads(size, count))
        ref_up.add(rate, limit_write, ref_cpu.seconds)
        bare_cpu = _Cpu(bare.process.pid if bare.process else None)
        await _checkpoint(admin_url)
        with bare_cpu:
            rate = await bare.upload(_payloads(size, count))
        bare_up.add(rate, limit_write, bare_cpu.seconds)
        server_cpu = _Cpu(server_pid)
        payloads = _payloads(size, count)
        await _checkpoint(admin_url)
        with server_cpu:
            rate, digests = await service_upload(stub, tenant, payloads)
        up.add(rate, limit_write, server_cpu.seconds)
        limit_read = await select_read(bench_url, size, count)
        select.add(limit_read)
        with ref_cpu:
            rate = await reference.download(size, count)
        ref_down.add(rate, limit_read, ref_cpu.seconds)
        with bare_cpu:
            rate = await bare.download(size, count)
        bare_down.add(rate, limit_read, bare_cpu.seconds)
        with server_cpu:
            rate = await service_download(stub, tenant, digests, size)
        down.add(rate, limit_read, server_cpu.seconds)
    return [copy, ref_up, bare_up, up, select, ref_down, bare_down, down], digests


def _row(label: str, series: _Series) -> str:
    ratio = statistics.median(series.ratios) if series.ratios else 1.0
    cpu = f"{statistics.median(series.cpu_ms_per_mib):.1f}" if series.cpu_ms_per_mib else ""
    target = ""
    if series.limit and not series.name.startswith("reference"):
        target = f"≥ 0.7x → {'PASS' if ratio >= 0.7 else 'MISS'}"
    spread = f"{min(series.rates):,.0f}-{max(series.rates):,.0f}"
    return (
        f"| {label} | {series.name} | {statistics.median(series.rates):,.0f} | {spread} "
        f"| {ratio:.2f} | {cpu} | {target} |"
    )


async def run(admin_url: str, bench_url: str, port: int, server_pid: int, rounds: int = 5) -> str:
    """Every blob scenario; returns the markdown table."""
    tenant = str(uuid.uuid4())
    rows: list[str] = [
        f"| size | scenario | MB/s (median of {rounds}) | range | x limit (median) "
        "| server CPU ms/MiB | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    memory_line = ""
    resend_line = ""
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel,
        ReferenceServer() as reference,
        ReferenceServer(bench_url) as bare,
    ):
        stub = pb_grpc.EmailStoreStub(channel)
        for size, count in ((MIB, 40), (25 * MIB, 4)):
            label = f"{size // MIB} MiB x {count}"
            series, digests = await _measure_size(
                stub, reference, bare, admin_url, bench_url, tenant, size, count, rounds, server_pid
            )
            rows.extend(_row(label, s) for s in series)
            by_name = {s.name: s for s in series}
            print(
                f"  {label}: upload {statistics.median(by_name['UploadBlob'].ratios):.2f}x COPY,"
                f" download {statistics.median(by_name['DownloadAttachment'].ratios):.2f}x SELECT",
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
                upload_rate = statistics.median(by_name["UploadBlob"].rates)
                seconds, sent = await resend_known(stub, tenant, digests[0])
                resend_line = (
                    f"re-sending a known 25 MiB attachment: FindMissingBlobs answers in "
                    f"{seconds * 1000:.1f} ms and {sent} bytes are uploaded "
                    f"(uploading it takes {size / upload_rate / 1e6 * 1000:,.0f} ms)"
                )
    return "\n".join([*rows, "", memory_line, "", resend_line])

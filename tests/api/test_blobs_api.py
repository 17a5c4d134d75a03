"""UploadBlob, QueryUpload, FindMissingBlobs, DownloadAttachment over real gRPC."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.codec.blobs import CHUNK_SIZE
from service.config import Config
from service.server import EmailStoreServer
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
KIB = 1024


def _requests(
    tenant: str,
    upload_id: str,
    data: bytes,
    *,
    start: int = 0,
    piece: int = 100 * KIB,
    sha256: str = "",
    size: int = 0,
    finish: bool = True,
    stop_at: int | None = None,
) -> list[pb.UploadBlobRequest]:
    end = len(data) if stop_at is None else stop_at
    offsets = list(range(start, end, piece)) or [start]
    requests = []
    for i, offset in enumerate(offsets):
        chunk = data[offset : min(offset + piece, end)]
        last = i == len(offsets) - 1
        requests.append(
            pb.UploadBlobRequest(
                tenant_id=tenant if i == 0 else "",
                upload_id=upload_id if i == 0 else "",
                sha256=sha256 if i == 0 else "",
                size_bytes=size if i == 0 else 0,
                mime_type="application/pdf" if i == 0 else "",
                write_offset=offset,
                data=chunk,
                finish_write=finish and last,
            )
        )
    return requests


async def _stream(items: list[pb.UploadBlobRequest]) -> AsyncIterator[pb.UploadBlobRequest]:
    for item in items:
        yield item


async def upload(stub: Stub, tenant: str, data: bytes, **kwargs: object) -> pb.Blob:
    """Uploads data in pieces and returns the stored blob."""
    upload_id = str(kwargs.pop("upload_id", uuid.uuid4()))
    return await stub.UploadBlob(_stream(_requests(tenant, upload_id, data, **kwargs)))  # type: ignore[arg-type]


async def download(stub: Stub, request: pb.DownloadAttachmentRequest) -> list[bytes]:
    """The pieces a download streams."""
    return [chunk.data async for chunk in stub.DownloadAttachment(request)]


def _pdf(size: int) -> bytes:
    """Compressible bytes with a random tail, so no two calls are equal."""
    head = (b"%PDF-1.7 stream of a sales deck " * (size // 32 + 1))[: size - 16]
    return head + os.urandom(16)


async def test_upload_then_download_round_trip(stub: Stub, tenant: str) -> None:
    """A 1.3 MiB upload in 100 KiB requests: digest and sizes right, bytes back in <=256 KiB pieces."""
    data = _pdf(1_300_000)
    blob = await upload(stub, tenant, data, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size_bytes == len(data)
    assert 0 < blob.stored_size_bytes < len(data)
    pieces = await download(
        stub, pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256)
    )
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= CHUNK_SIZE


@pytest.mark.parametrize(
    ("offset", "limit"),
    [
        (0, 0),
        (0, 1),
        (CHUNK_SIZE - 1, 2),
        (CHUNK_SIZE, CHUNK_SIZE),
        (CHUNK_SIZE + 17, 3 * CHUNK_SIZE),
        (12345, 0),
        (700_000, 1),
        (700_001, 0),
    ],
)
async def test_ranged_reads(stub: Stub, tenant: str, offset: int, limit: int) -> None:
    """Any range, at chunk boundaries and odd offsets, is exactly the slice of the bytes."""
    data = os.urandom(700_001)
    blob = await upload(stub, tenant, data, piece=256 * KIB)
    got = b"".join(
        await download(
            stub,
            pb.DownloadAttachmentRequest(
                tenant_id=tenant, blob_sha256=blob.sha256, read_offset=offset, read_limit=limit
            ),
        )
    )
    assert got == data[offset : offset + limit if limit else None]


async def test_bad_ranges(stub: Stub, tenant: str) -> None:
    """Offsets outside the blob are OUT_OF_RANGE; a negative limit or no target is INVALID."""
    blob = await upload(stub, tenant, b"0123456789")
    cases = [
        (
            pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256, read_offset=11),
            grpc.StatusCode.OUT_OF_RANGE,
        ),
        (
            pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256, read_offset=-1),
            grpc.StatusCode.OUT_OF_RANGE,
        ),
        (
            pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256, read_limit=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (pb.DownloadAttachmentRequest(tenant_id=tenant), grpc.StatusCode.INVALID_ARGUMENT),
        (
            pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256="xyz"),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
        (
            pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256="ab" * 32),
            grpc.StatusCode.NOT_FOUND,
        ),
    ]
    for request, code in cases:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await download(stub, request)
        assert info.value.code() == code, request
    tail = await download(
        stub,
        pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256, read_offset=10),
    )
    assert b"".join(tail) == b""


async def test_empty_file(stub: Stub, tenant: str) -> None:
    """An empty upload is a blob of size 0 that downloads as nothing."""
    blob = await upload(stub, tenant, b"")
    assert (blob.sha256, blob.size_bytes) == (hashlib.sha256(b"").hexdigest(), 0)
    assert (
        await download(
            stub, pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256)
        )
        == []
    )


async def test_resume_after_a_broken_stream(
    stub: Stub, tenant: str, server: EmailStoreServer, database_url: str
) -> None:
    """A stream that dies mid-way keeps its whole chunks; the client resumes where QueryUpload says,
    even on another server process (the hash is then recomputed from what was stored)."""
    data = _pdf(900_000)
    upload_id = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UploadBlob(
            _stream(_requests(tenant, upload_id, data, finish=False, stop_at=600_000))
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=upload_id))
    assert status.committed_size == 2 * CHUNK_SIZE
    assert not status.complete
    # Resume on a second server on the same database: it has no running hash of the upload.
    other = EmailStoreServer(Config(listen="127.0.0.1:0"), database_url)
    await other.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{other.port}") as channel:
            blob = await pb_grpc.EmailStoreStub(channel).UploadBlob(
                _stream(_requests(tenant, upload_id, data, start=status.committed_size))
            )
    finally:
        await other.stop(grace_s=0)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    done = await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=upload_id))
    assert (done.committed_size, done.complete) == (len(data), True)
    got = await download(
        stub, pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=blob.sha256)
    )
    assert b"".join(got) == data


async def test_one_request_uploads_and_upload_id_reuse(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """A file sent whole in one request is stored at once; its upload id then answers like any
    finished upload (QueryUpload, a repeat returns the same blob), and the id of an upload in
    progress is not taken over by a one-request upload."""
    data = os.urandom(CHUNK_SIZE * 2 + 5)
    upload_id = str(uuid.uuid4())
    blob = await upload(stub, tenant, data, upload_id=upload_id, piece=len(data))
    assert (blob.sha256, blob.size_bytes) == (hashlib.sha256(data).hexdigest(), len(data))
    done = await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=upload_id))
    assert (done.committed_size, done.complete) == (len(data), True)
    again = await upload(stub, tenant, data, upload_id=upload_id, piece=len(data))
    assert again == blob
    # The same bytes under a new upload id: one blob, stored once.
    other = await upload(stub, tenant, data, piece=len(data), sha256=blob.sha256)
    assert other == blob
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (1,)
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (3,)
    # An upload in progress keeps its id: a whole file sent under it must resume, not restart.
    started = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError):
        await upload(
            stub,
            tenant,
            data,
            upload_id=started,
            piece=CHUNK_SIZE,
            finish=False,
            stop_at=CHUNK_SIZE,
        )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, tenant, os.urandom(100), upload_id=started, piece=100)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=started))
    assert (status.committed_size, status.complete) == (CHUNK_SIZE, False)


async def test_wrong_offsets(stub: Stub, tenant: str) -> None:
    """A gap is OUT_OF_RANGE; re-sending committed bytes is FAILED_PRECONDITION."""
    upload_id = str(uuid.uuid4())
    gap = _requests(tenant, upload_id, b"x" * 10, start=5)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UploadBlob(_stream(gap))
    assert info.value.code() == grpc.StatusCode.OUT_OF_RANGE
    data = os.urandom(CHUNK_SIZE + 10)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.UploadBlob(
            _stream(_requests(tenant, upload_id, data, finish=False, piece=CHUNK_SIZE))
        )
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UploadBlob(_stream(_requests(tenant, upload_id, data, start=0)))
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "resume" in (info.value.details() or "")


async def test_digest_mismatch_keeps_nothing(stub: Stub, tenant: str, database_url: str) -> None:
    """A wrong declared sha256 or size is INVALID_ARGUMENT and nothing of the upload remains."""
    data = _pdf(600_000)
    upload_id = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.UploadBlob(_stream(_requests(tenant, upload_id, data, sha256="ab" * 32)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, tenant, data, size=len(data) + 1)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=upload_id))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM blobs").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (0,)


@pytest.fixture
def config() -> Config:
    """A small attachment limit so the limit path is cheap; collection off, run by hand."""
    return Config(listen="127.0.0.1:0", max_attachment_bytes=2048 * KIB, gc_interval_s=0)


async def test_limit_is_enforced_as_soon_as_passed(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """Passing EMAILSTORE_MAX_ATTACHMENT_BYTES is RESOURCE_EXHAUSTED and discards the upload."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, tenant, os.urandom(2148 * KIB))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, tenant, b"x", size=2148 * KIB)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM upload_sessions").fetchone() == (0,)


async def test_request_over_the_grpc_message_limit_is_refused(stub: Stub, tenant: str) -> None:
    """One request bigger than the gRPC message limit (4 MiB) is RESOURCE_EXHAUSTED."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await upload(stub, tenant, b"x" * (5 * 1024 * KIB), piece=5 * 1024 * KIB)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_known_digest_completes_at_once(stub: Stub, tenant: str) -> None:
    """Declaring a sha256 the tenant has: answered without the rest of the stream."""
    data = _pdf(700_000)
    first = await upload(stub, tenant, data)
    # Only the first 100 KiB are sent and finish_write never comes: still complete.
    again = await upload(stub, tenant, data, sha256=first.sha256, finish=False, stop_at=100 * KIB)
    assert (again.sha256, again.size_bytes) == (first.sha256, len(data))
    missing = await stub.FindMissingBlobs(
        pb.FindMissingBlobsRequest(tenant_id=tenant, sha256=[first.sha256, "cd" * 32, first.sha256])
    )
    assert list(missing.missing_sha256) == ["cd" * 32]


async def test_attachment_by_digest_and_dedup(stub: Stub, tenant: str, database_url: str) -> None:
    """An uploaded deck attached by digest to two messages, and inline to a third: stored once."""
    deck = _pdf(500_000)
    blob = await upload(stub, tenant, deck)
    keys = []
    for i in range(2):
        response = await stub.StoreMessage(
            store_request(
                tenant,
                text_body=f"m{i}",
                attachments=[
                    pb.AttachmentInput(
                        filename="deck.pdf", mime_type="application/pdf", blob_sha256=blob.sha256
                    )
                ],
            )
        )
        keys.append(response.storage_key)
    await stub.StoreMessage(
        store_request(
            tenant,
            text_body="inline",
            attachments=[pb.AttachmentInput(filename="d.pdf", content=deck)],
        )
    )
    got = await download(
        stub, pb.DownloadAttachmentRequest(tenant_id=tenant, storage_key=keys[0], attachment_id="1")
    )
    assert b"".join(got) == deck
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT refcount FROM blobs WHERE sha256 = %s", (bytes.fromhex(blob.sha256),)
        ).fetchall()
    assert rows == [(3,)]
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.saved_by_dedup_bytes >= 2 * len(deck)


async def test_other_tenant_cannot_see_or_use_a_blob(stub: Stub, tenant: str) -> None:
    """Tenant B knows A's digest: missing for B, NOT_FOUND to download, refused to reference."""
    blob = await upload(stub, tenant, _pdf(10_000))
    response = await stub.StoreMessage(
        store_request(
            tenant, attachments=[pb.AttachmentInput(filename="a.pdf", blob_sha256=blob.sha256)]
        )
    )
    other = str(uuid.uuid4())
    missing = await stub.FindMissingBlobs(
        pb.FindMissingBlobsRequest(tenant_id=other, sha256=[blob.sha256])
    )
    assert list(missing.missing_sha256) == [blob.sha256]
    for request in (
        pb.DownloadAttachmentRequest(tenant_id=other, blob_sha256=blob.sha256),
        pb.DownloadAttachmentRequest(
            tenant_id=other, storage_key=response.storage_key, attachment_id="1"
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await download(stub, request)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.StoreMessage(
            store_request(
                other, attachments=[pb.AttachmentInput(filename="a.pdf", blob_sha256=blob.sha256)]
            )
        )
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert blob.sha256 in (info.value.details() or "")


async def test_bad_upload_requests(stub: Stub, tenant: str) -> None:
    """Bad tenant, upload id or digest on the first request: INVALID_ARGUMENT."""
    for first in (
        pb.UploadBlobRequest(tenant_id="x", upload_id=str(uuid.uuid4()), finish_write=True),
        pb.UploadBlobRequest(tenant_id=tenant, upload_id="not-a-uuid", finish_write=True),
        pb.UploadBlobRequest(
            tenant_id=tenant, upload_id=str(uuid.uuid4()), sha256="zz", finish_write=True
        ),
        pb.UploadBlobRequest(
            tenant_id=tenant, upload_id=str(uuid.uuid4()), size_bytes=-1, finish_write=True
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.UploadBlob(_stream([first]))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.FindMissingBlobs(pb.FindMissingBlobsRequest(tenant_id=tenant, sha256=["nope"]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.QueryUpload(pb.QueryUploadRequest(tenant_id=tenant, upload_id=str(uuid.uuid4())))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

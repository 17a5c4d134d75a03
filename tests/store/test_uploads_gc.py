"""Resumable uploads and garbage collection, through the use cases, on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import models
from service.codec.blobs import CHUNK_SIZE
from service.config import Config
from service.core.downloads import DownloadService
from service.core.gc import GarbageCollector
from service.core.messages import MessageService
from service.core.ports import GcResult
from service.core.uploads import COMMIT_BYTES, UploadService
from service.errors import FailedPrecondition, NotFound
from service.models import Caller, DownloadRequest, UploadPart
from service.store.database import Database
from tests.factories import store_input


async def _parts(
    tenant: str, upload_id: str, data: bytes, start: int, stop: int, piece: int, finish: bool
) -> AsyncIterator[UploadPart]:
    offsets = list(range(start, stop, piece)) or [start]
    for i, offset in enumerate(offsets):
        yield UploadPart(
            tenant_id=tenant,
            upload_id=upload_id,
            write_offset=offset,
            data=data[offset : min(offset + piece, stop)],
            finish_write=finish and i == len(offsets) - 1,
        )


def _blobs(db: Database, config: Config, commit_bytes: int = COMMIT_BYTES) -> UploadService:
    return UploadService(config, db, commit_bytes=commit_bytes)


async def _collect(db: Database, grace_s: float) -> GcResult:
    return await GarbageCollector(db, grace_s).collect()


async def _download(db: Database, tenant: str, request: DownloadRequest) -> bytes:
    pieces = await DownloadService(db).download(Caller(tenant), request)
    return b"".join([p async for p in pieces])


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(min_value=0, max_value=3 * CHUNK_SIZE + 100),
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=4),
    piece=st.sampled_from([1000, 64 * 1024, CHUNK_SIZE, 300_000]),
    new_process=st.booleans(),
    commit_bytes=st.sampled_from([CHUNK_SIZE, 2 * CHUNK_SIZE + 1, COMMIT_BYTES]),
)
async def test_resume_at_random_offsets(
    db: Database,
    config: Config,
    size: int,
    cuts: list[float],
    piece: int,
    new_process: bool,
    commit_bytes: int,
) -> None:
    """Streams broken at random points resume from QueryUpload; the committed size never goes
    down; the finished blob is exactly the bytes, whether or not the process changed, and
    whether chunks were committed along the way (in the background) or at the stream's end."""
    tenant = str(uuid.uuid4())
    upload_id = str(uuid.uuid4())
    data = random.Random(size).randbytes(size)
    service = _blobs(db, config, commit_bytes)
    committed = 0
    for cut in sorted(cuts):
        stop = max(committed, int(size * cut))
        with pytest.raises(FailedPrecondition):
            await service.upload(_parts(tenant, upload_id, data, committed, stop, piece, False))
        try:
            now = (await service.query_upload(Caller(tenant), upload_id)).committed_size
        except NotFound:
            # Nothing is recorded until the first whole chunk is committed.
            assert committed == 0
            assert stop < CHUNK_SIZE
            now = 0
        assert now >= committed
        assert now % CHUNK_SIZE == 0
        committed = now
        assert now == stop // CHUNK_SIZE * CHUNK_SIZE  # every whole chunk sent is kept
        if new_process:
            service = _blobs(db, config, commit_bytes)  # a fresh process has no running hash
    blob = await service.upload(_parts(tenant, upload_id, data, committed, size, piece, True))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size_bytes == size
    assert await _download(db, tenant, DownloadRequest(blob_sha256=blob.sha256)) == data


async def test_a_broken_or_cancelled_stream_keeps_its_whole_chunks(
    db: Database, config: Config
) -> None:
    """A client stream that fails, or a call cancelled while the server waits for the next
    request, still commits the whole chunks it received; the upload then resumes from there."""
    tenant = str(uuid.uuid4())
    data = random.Random(7).randbytes(3 * CHUNK_SIZE + 500)
    service = _blobs(db, config)

    async def broken(upload_id: str) -> AsyncIterator[UploadPart]:
        async for part in _parts(tenant, upload_id, data, 0, len(data), 100_000, False):
            yield part
        raise ConnectionResetError("client gone")

    failing = str(uuid.uuid4())
    with pytest.raises(ConnectionResetError):
        await service.upload(broken(failing))
    assert (await service.query_upload(Caller(tenant), failing)).committed_size == 3 * CHUNK_SIZE

    waiting = asyncio.Event()

    async def stalled(upload_id: str) -> AsyncIterator[UploadPart]:
        async for part in _parts(tenant, upload_id, data, 0, len(data), 100_000, False):
            yield part
        waiting.set()
        await asyncio.Event().wait()  # the client never sends the next request
        yield part  # pragma: no cover

    cancelled = str(uuid.uuid4())
    task = asyncio.create_task(service.upload(stalled(cancelled)))
    await waiting.wait()  # everything sent has been read by the server
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await service.query_upload(Caller(tenant), cancelled)).committed_size == 3 * CHUNK_SIZE
    blob = await service.upload(
        _parts(tenant, cancelled, data, 3 * CHUNK_SIZE, len(data), 100_000, True)
    )
    assert blob.sha256 == hashlib.sha256(data).hexdigest()


async def test_two_streams_writing_one_upload_cannot_both_commit(
    db: Database, config: Config
) -> None:
    """Two streams resuming the same upload from the same offset: the first commit wins, the
    other stream fails with FAILED_PRECONDITION when its background commit is refused, and the
    upload then resumes and finishes with the right bytes."""
    tenant = str(uuid.uuid4())
    upload_id = str(uuid.uuid4())
    data = random.Random(11).randbytes(4 * CHUNK_SIZE)
    service = _blobs(db, config, commit_bytes=CHUNK_SIZE)
    with pytest.raises(FailedPrecondition):
        await service.upload(_parts(tenant, upload_id, data, 0, CHUNK_SIZE, CHUNK_SIZE, False))
    assert (await service.query_upload(Caller(tenant), upload_id)).committed_size == CHUNK_SIZE

    gate = asyncio.Event()

    async def stream(reached: asyncio.Event) -> AsyncIterator[UploadPart]:
        parts = _parts(tenant, upload_id, data, CHUNK_SIZE, len(data), CHUNK_SIZE, True)
        yield await anext(parts)  # looked up, and its commit started in the background
        reached.set()
        await gate.wait()  # the rest only once both streams got this far
        async for part in parts:
            yield part

    async def started(reached: asyncio.Event, task: asyncio.Task[object]) -> None:
        await asyncio.wait(
            [asyncio.ensure_future(reached.wait()), task], return_when=asyncio.FIRST_COMPLETED
        )

    reached = [asyncio.Event(), asyncio.Event()]
    tasks: list[asyncio.Task[object]] = [
        asyncio.create_task(service.upload(stream(event))) for event in reached
    ]
    await asyncio.wait_for(asyncio.gather(*map(started, reached, tasks)), timeout=30)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    # Whatever the interleaving, one stream finishes the upload and the other is refused:
    # either its offset no longer follows what is committed, or its commit finds the upload
    # advanced by the other stream.
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], FailedPrecondition)
    (blob,) = [r for r in results if not isinstance(r, BaseException)]
    assert getattr(blob, "sha256", None) == hashlib.sha256(data).hexdigest()
    done = await service.query_upload(Caller(tenant), upload_id)
    assert (done.committed_size, done.complete) == (len(data), True)


async def test_unreferenced_upload_is_collected_after_grace(
    db: Database, config: Config, tenant: str, database_url: str
) -> None:
    """An upload nobody references survives inside the grace period and is freed after it."""
    service = _blobs(db, config)
    data = b"deck" * 100_000
    blob = await service.upload(
        _parts(tenant, str(uuid.uuid4()), data, 0, len(data), CHUNK_SIZE, True)
    )
    assert (await _collect(db, 3600)).blobs == 0
    assert await service.find_missing(Caller(tenant), [blob.sha256]) == []
    result = await _collect(db, 0)
    assert result.blobs == 1
    assert result.freed_bytes > 0
    assert await service.find_missing(Caller(tenant), [blob.sha256]) == [blob.sha256]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (0,)


async def test_referenced_blob_is_never_collected(
    db: Database, config: Config, messages: MessageService, tenant: str
) -> None:
    """A blob a message references stays, whatever the grace; deleting the message frees it."""
    service = _blobs(db, config)
    data = b"pdf!" * 50_000
    blob = await service.upload(
        _parts(tenant, str(uuid.uuid4()), data, 0, len(data), CHUNK_SIZE, True)
    )
    stored = await messages.store_message(
        Caller(tenant),
        store_input(
            attachments=(models.AttachmentInput(filename="d.pdf", blob_sha256=blob.sha256),)
        ),
    )
    assert (await _collect(db, 0)).blobs == 0
    assert await service.find_missing(Caller(tenant), [blob.sha256]) == []
    await messages.delete_message(Caller(tenant), stored.message.storage_key)
    assert (await _collect(db, 0)).blobs == 1  # the deck (the bodies are in the pack)


async def test_gc_racing_stores_never_loses_a_referenced_blob(
    db: Database, config: Config, messages: MessageService, tenant: str
) -> None:
    """The collector runs flat out (grace 0) while messages reference an unreferenced blob:
    every store either fails cleanly (blob already gone) or keeps a downloadable attachment."""
    service = _blobs(db, config)
    data = b"shared deck " * 30_000
    blob = await service.upload(
        _parts(tenant, str(uuid.uuid4()), data, 0, len(data), CHUNK_SIZE, True)
    )
    stop = asyncio.Event()

    async def collect() -> None:
        while not stop.is_set():
            await _collect(db, 0)
            await asyncio.sleep(0)

    async def store(i: int) -> str | None:
        try:
            result = await messages.store_message(
                Caller(tenant),
                store_input(
                    text_body=f"m{i}",
                    attachments=(
                        models.AttachmentInput(filename="d.pdf", blob_sha256=blob.sha256),
                    ),
                ),
            )
        except FailedPrecondition:
            return None
        return result.message.storage_key

    collector = asyncio.create_task(collect())
    keys = await asyncio.gather(*(store(i) for i in range(40)))
    stop.set()
    await collector
    stored = [k for k in keys if k is not None]
    for key in stored:
        request = DownloadRequest(storage_key=key, attachment_id="1")
        assert await _download(db, tenant, request) == data
    await _collect(db, 0)
    if stored:
        assert await service.find_missing(Caller(tenant), [blob.sha256]) == []


async def test_expired_upload_is_forgotten_and_freed(
    db: Database, config: Config, tenant: str, database_url: str
) -> None:
    """Past EMAILSTORE_UPLOAD_TTL_S an unfinished upload is NOT_FOUND and its bytes are freed."""
    service = _blobs(db, config)
    upload_id = str(uuid.uuid4())
    data = bytes(3 * CHUNK_SIZE)
    with pytest.raises(FailedPrecondition):
        await service.upload(_parts(tenant, upload_id, data, 0, len(data), CHUNK_SIZE, False))
    assert (await service.query_upload(Caller(tenant), upload_id)).committed_size == len(data)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE upload_sessions SET expires_at = now() - interval '1 second'")
    with pytest.raises(NotFound):
        await service.query_upload(Caller(tenant), upload_id)
    result = await _collect(db, 3600)
    assert result.uploads == 1
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM blob_chunks").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM gc_pending").fetchone() == (0,)

"""Blob uploads (UploadBlob, QueryUpload, FindMissingBlobs): resumable, verified, deduplicated.

An upload's whole chunks are committed as it streams, in the background, a transaction per
COMMIT_BYTES; a stream that stops short keeps them, so the client resumes from QueryUpload's
committed size. On finish_write the size and SHA-256 are checked, and the staged chunks become
the tenant's blob (or are dropped: the tenant had those bytes already).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from opentelemetry import trace

from service.codec.blobs import (
    CHUNK_SIZE,
    CODEC_NONE,
    CODEC_ZSTD,
    ByteBuffer,
    ChunkBuffer,
    compress_chunk,
    decode_chunk,
    worth_compressing,
)
from service.config import Config
from service.core import validation
from service.core.downloads import ChunkReader
from service.core.ports import BlobInfo, FinishedUpload, Transactions, UploadSession
from service.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    ResourceExhausted,
)
from service.models import Caller, StoredBlobInfo, UploadPart, UploadStatus

MAX_DIGESTS_PER_CALL = 10_000
# Whole chunks are committed once this many bytes wait in an upload's buffer (and, when a
# stream stops short of finishing, whatever whole chunks wait): a transaction per 2 MiB rather
# than per request, committed while the next requests arrive. A broken stream loses at most
# the bytes not yet committed; the client resumes from QueryUpload's committed_size.
COMMIT_BYTES = 2 * 1024 * 1024
# Running SHA-256 states of uploads in progress, so a resume in this process need not re-read
# what it already hashed. Bounded: a forgotten state only costs a re-read on finish.
_MAX_HASH_STATES = 10_000


def _upload_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError):
        raise InvalidArgument.field("upload_id", "must be a UUID chosen by the client") from None


def _staging_key(tenant_id: str, upload_id: str) -> bytes:
    # A digest no content can have (it would take a SHA-256 preimage): the key under which the
    # upload's chunks wait until the real digest is known.
    return hashlib.sha256(f"emailstore-upload:{tenant_id}:{upload_id}".encode()).digest()


def _info(blob: BlobInfo) -> StoredBlobInfo:
    return StoredBlobInfo(blob.sha256.hex(), blob.size_bytes, blob.stored_size_bytes)


def _new_session(
    upload_id: str,
    staging_sha256: bytes,
    expected_sha256: bytes | None,
    expected_size: int | None,
    mime_type: str,
) -> UploadSession:
    """A session not yet in the database: it is recorded with its first committed bytes."""
    return UploadSession(
        upload_id=upload_id,
        staging_sha256=staging_sha256,
        expected_sha256=expected_sha256,
        expected_size=expected_size,
        mime_type=mime_type,
        codec=None,
        committed_size=0,
        staged_bytes=0,
        chunk_count=0,
        sha256=None,
        size_bytes=None,
        stored_size_bytes=None,
        complete=False,
        persisted=False,
    )


def encode_chunks(
    pieces: list[ByteBuffer], codec: str | None, hasher: Any | None, level: int
) -> tuple[str, list[ByteBuffer]]:
    """Hashes and compresses chunks: the upload's codec, and the stored form of each chunk.
    The first chunk decides the codec for the whole upload: files are of one kind, and
    incompressible ones (PDF, JPEG, ZIP) are then not compressed in vain."""
    chosen = codec
    stored: list[ByteBuffer] = []
    for piece in pieces:
        if hasher is not None:
            hasher.update(piece)
        if chosen is None:
            squeezed = compress_chunk(piece, level)
            chosen = CODEC_ZSTD if worth_compressing(len(piece), len(squeezed)) else CODEC_NONE
            stored.append(squeezed if chosen == CODEC_ZSTD else piece)
        elif chosen == CODEC_ZSTD:
            stored.append(compress_chunk(piece, level))
        else:
            stored.append(piece)
    return chosen or CODEC_NONE, stored


class _HashStates:
    """SHA-256 states of uploads in progress, keyed by (tenant, upload), with their position."""

    def __init__(self) -> None:
        self._states: OrderedDict[tuple[str, str], tuple[Any, int]] = OrderedDict()

    def take(self, key: tuple[str, str], position: int) -> Any | None:
        state = self._states.pop(key, None)
        if state is None or state[1] != position:
            return None
        return state[0]

    def keep(self, key: tuple[str, str], hasher: Any, position: int) -> None:
        self._states[key] = (hasher, position)
        self._states.move_to_end(key)
        while len(self._states) > _MAX_HASH_STATES:
            self._states.popitem(last=False)


class UploadService:
    """Uploads and digest lookups."""

    def __init__(
        self, config: Config, db: Transactions, *, commit_bytes: int = COMMIT_BYTES
    ) -> None:
        self.config = config
        self.db = db
        self.commit_bytes = commit_bytes
        self.hashes = _HashStates()

    async def encode(
        self, pieces: list[ByteBuffer], codec: str | None, hasher: Any | None
    ) -> tuple[str, list[ByteBuffer]]:
        """encode_chunks, in a thread for big pieces (hashing and zstd release the GIL)."""
        level = self.config.zstd_level
        if sum(len(piece) for piece in pieces) > 64 * 1024:
            return await asyncio.to_thread(encode_chunks, pieces, codec, hasher, level)
        return encode_chunks(pieces, codec, hasher, level)

    async def find_missing(self, caller: Caller, digests: list[str]) -> list[str]:
        """The digests (in the order given, without repeats) the tenant does not have."""
        if len(digests) > MAX_DIGESTS_PER_CALL:
            raise InvalidArgument.field(
                "sha256", f"at most {MAX_DIGESTS_PER_CALL} digests per call"
            )
        wanted: dict[bytes, str] = {}
        for i, value in enumerate(digests):
            wanted.setdefault(validation.sha256(value, f"sha256[{i}]"), value.strip().lower())
        if not wanted:
            return []
        async with self.db.tenant(caller, "find_blobs") as tx:
            have = await tx.blobs.find_ready(list(wanted))
        return [hex_ for digest, hex_ in wanted.items() if digest not in have]

    async def query_upload(self, caller: Caller, upload_id: str) -> UploadStatus:
        """The committed size of an upload (where to resume), and whether it is complete."""
        async with self.db.tenant(caller, "get_upload") as tx:
            session = await tx.uploads.get(_upload_id(upload_id))
        if session is None:
            raise NotFound(f"upload {upload_id} not found (never started, or expired)")
        return UploadStatus(session.committed_size, session.complete)

    async def _known_blob(self, caller: Caller, sha256: bytes) -> BlobInfo | None:
        async with self.db.statement(caller, "find_blob") as tx:
            return await tx.reads.blob(sha256)

    async def upload(self, parts: AsyncIterator[UploadPart]) -> StoredBlobInfo:
        """Receives an upload stream; returns the stored blob once finish_write arrives."""
        first = await anext(parts, None)
        if first is None:
            raise InvalidArgument("the upload stream carried no request")
        caller = validation.caller(first.tenant_id)
        start = self._start(caller, first)
        span = trace.get_current_span()
        span.set_attribute("emailstore.tenant_id", caller.tenant_id)
        span.set_attribute("emailstore.upload_id", start.upload_id)
        if first.finish_write and first.write_offset == 0:
            # The common case, a file sent in one request: hashed, then stored by one
            # statement, without first looking the upload id up (the statement checks it).
            whole = await self._store_one_request(caller, start, first.data)
            if whole is not None:
                return whole
        expected_sha = start.expected_sha256
        if expected_sha is not None:
            known = await self._known_blob(caller, expected_sha)
            if known is not None:
                if start.expected_size not in (None, known.size_bytes):
                    raise InvalidArgument.field(
                        "size_bytes", "does not match the size of that sha256"
                    )
                # The tenant has these bytes: done, without reading the rest of the stream.
                async with self.db.tenant(caller, "complete_known_upload") as tx:
                    await tx.uploads.complete_known(
                        start.upload_id,
                        start.staging_sha256,
                        known,
                        start.mime_type,
                        self.config.upload_ttl_s,
                    )
                span.set_attribute("emailstore.deduplicated", True)
                return _info(known)
        session = await self._session(caller, start)
        if session.complete and session.sha256 is not None:
            blob = await self._known_blob(caller, session.sha256)
            if blob is not None:
                return _info(blob)
        stream = _UploadStream(self, caller, session, expected_sha)
        try:
            return await stream.receive(first, parts)
        except (ResourceExhausted, InvalidArgument):
            # Over the limit or not the promised bytes: nothing of the upload is kept.
            async with self.db.tenant(caller, "discard_upload") as tx:
                await tx.uploads.discard(start.upload_id)
            self.hashes.take((caller.tenant_id, start.upload_id), -1)
            raise

    def _start(self, caller: Caller, first: UploadPart) -> UploadSession:
        """What the first request promises, checked: a session not yet recorded."""
        upload_id = _upload_id(first.upload_id)
        expected_sha = validation.sha256(first.sha256, "sha256") if first.sha256 else None
        if first.size_bytes < 0:
            raise InvalidArgument.field("size_bytes", "must not be negative")
        limit = self.config.max_attachment_bytes
        if first.size_bytes > limit:
            raise ResourceExhausted(
                f"size_bytes {first.size_bytes:,} is over the attachment limit of {limit:,} "
                "(EMAILSTORE_MAX_ATTACHMENT_BYTES)"
            )
        mime_type = first.mime_type.lower()
        if mime_type and not validation.MIME_TYPE_RE.match(mime_type):
            raise InvalidArgument.field("mime_type", "must be type/subtype, e.g. application/pdf")
        staging = _staging_key(caller.tenant_id, upload_id)
        return _new_session(upload_id, staging, expected_sha, first.size_bytes or None, mime_type)

    async def _session(self, caller: Caller, start: UploadSession) -> UploadSession:
        """The recorded session of the upload id (FailedPrecondition when it promised other
        bytes), or the new one."""
        async with self.db.tenant(caller, "get_upload") as tx:
            session = await tx.uploads.get(start.upload_id)
        if session is None:
            return start
        sha, size = start.expected_sha256, start.expected_size
        if (sha is not None and session.expected_sha256 not in (None, sha)) or (
            size is not None and session.expected_size not in (None, size)
        ):
            raise FailedPrecondition(
                f"upload {start.upload_id} was started with a different sha256 or size_bytes"
            )
        return session

    async def _store_one_request(
        self, caller: Caller, start: UploadSession, data: bytes
    ) -> StoredBlobInfo | None:
        """Stores an upload that came whole in its first request. None when that is not the
        plain case (over a limit, not the promised bytes, or the upload id already in use):
        the resumable path then answers, with its checks and errors."""
        size = len(data)
        if size > self.config.max_attachment_bytes or start.expected_size not in (None, size):
            return None
        hasher = hashlib.sha256()
        view = memoryview(data)
        pieces: list[ByteBuffer] = [view[i : i + CHUNK_SIZE] for i in range(0, size, CHUNK_SIZE)]
        codec, stored = await self.encode(pieces, None, hasher)
        digest = hasher.digest()
        if start.expected_sha256 not in (None, digest):
            return None
        finished = FinishedUpload(
            digest, size, sum(len(c) for c in stored), codec, -(-size // CHUNK_SIZE)
        )
        async with self.db.tenant(caller, "store_whole_upload", pipeline=True) as tx:
            blob = await tx.uploads.store_whole(start, stored, finished, self.config.upload_ttl_s)
        if blob is None:
            return None
        trace.get_current_span().set_attribute("emailstore.size_bytes", size)
        return _info(blob)


class _Commits:
    """The durable side of one upload stream: whole chunks are committed in the background, one
    transaction at a time, in order, while the stream goes on."""

    def __init__(self, service: UploadService, caller: Caller, session: UploadSession) -> None:
        self._service = service
        self._caller = caller
        self.session = session
        self.committed = session.committed_size
        self.staged_bytes = session.staged_bytes
        self.accepted = self.committed  # committed, plus the bytes of the commit in flight
        self._inflight: asyncio.Task[None] | None = None

    async def start(
        self, raw_size: int, stored: list[ByteBuffer], codec: str, hasher: Any | None
    ) -> None:
        """Starts committing the next chunks (after the commit in flight, if any)."""
        await self.settle()
        self.accepted += raw_size
        # The hash as of these bytes: the stream's own hasher moves on meanwhile.
        state = hasher.copy() if hasher is not None else None
        self._inflight = asyncio.ensure_future(self._commit(raw_size, stored, codec, state))

    async def _commit(
        self, raw_size: int, stored: list[ByteBuffer], codec: str, hash_state: Any | None
    ) -> None:
        new_size = self.committed + raw_size
        ttl = self._service.config.upload_ttl_s
        async with self._service.db.tenant(
            self._caller, "commit_upload_chunks", pipeline=True
        ) as tx:
            if not await tx.uploads.append(
                self.session, self.committed, stored, new_size, codec, ttl
            ):
                raise _moved(self.session.upload_id)
        self.session = replace(self.session, persisted=True)
        self.committed = new_size
        self.staged_bytes += sum(len(chunk) for chunk in stored)
        if hash_state is not None:
            key = (self._caller.tenant_id, self.session.upload_id)
            self._service.hashes.keep(key, hash_state, new_size)

    async def settle(self) -> None:
        """Waits for the commit in flight; raises its error."""
        task, self._inflight = self._inflight, None
        if task is not None:
            await task

    async def abandon(self) -> None:
        """On the way out after an error: lets a commit in flight finish (even if this task is
        cancelled) and drops its error, as another one is already on its way."""
        task, self._inflight = self._inflight, None
        if task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(task)


def _moved(upload_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"upload {upload_id} changed meanwhile (another stream is writing it, or it finished "
        "or expired); ask QueryUpload where to resume"
    )


class _UploadStream:
    """One UploadBlob stream: checks each request's offset, buffers, commits, finishes."""

    def __init__(
        self,
        service: UploadService,
        caller: Caller,
        session: UploadSession,
        expected_sha: bytes | None,
    ) -> None:
        self.service = service
        self.caller = caller
        self.expected_sha = expected_sha
        self.commits = _Commits(service, caller, session)
        self.codec = session.codec
        self.key = (caller.tenant_id, session.upload_id)
        self.hasher = service.hashes.take(self.key, session.committed_size)
        if self.hasher is None and session.committed_size == 0:
            self.hasher = hashlib.sha256()
        self.buffer = ChunkBuffer()  # received, not committed yet
        self.expected_size = session.expected_size

    async def receive(self, first: UploadPart, parts: AsyncIterator[UploadPart]) -> StoredBlobInfo:
        """Takes requests until finish_write (then the blob), or until the stream stops short
        (then FailedPrecondition saying where to resume)."""
        try:
            part: UploadPart | None = first
            while part is not None:
                try:
                    self._check(first, part)
                except _OffsetMismatch as gap:
                    raise gap.error(await self._stop()) from None
                self.buffer.append(part.data)
                if part.finish_write:
                    return await self._finish()
                if self.buffer.size >= self.service.commit_bytes:
                    # Committed in the background: the next requests arrive meanwhile.
                    await self._commit_whole_chunks()
                try:
                    part = await anext(parts, None)
                except BaseException:
                    # The client went away mid-stream: keep what is whole, if the database
                    # lets us (the stream's own error is the one to report).
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._stop())
                    raise
            committed = await self._stop()
        finally:
            await self.commits.abandon()
        raise FailedPrecondition(
            f"the stream ended before finish_write; {committed:,} bytes are committed: resume "
            "at that write_offset (QueryUpload tells it too)"
        )

    def _check(self, first: UploadPart, part: UploadPart) -> None:
        """One request of the stream, against what came before and the limits."""
        if part.tenant_id and part.tenant_id != first.tenant_id:
            raise InvalidArgument.field("tenant_id", "must not change within an upload stream")
        if part.upload_id and part.upload_id != first.upload_id:
            raise InvalidArgument.field("upload_id", "must not change within an upload stream")
        received = self.commits.accepted + self.buffer.size
        if part.write_offset != received:
            raise _OffsetMismatch(part.write_offset, received)
        end = received + len(part.data)
        limit = self.service.config.max_attachment_bytes
        if end > limit:
            raise ResourceExhausted(
                f"upload passed the attachment limit of {limit:,} bytes "
                "(EMAILSTORE_MAX_ATTACHMENT_BYTES)"
            )
        if self.expected_size is not None and end > self.expected_size:
            raise InvalidArgument.field(
                "data", f"is longer than the declared size_bytes {self.expected_size:,}"
            )

    async def _commit_whole_chunks(self) -> None:
        whole = self.buffer.size // CHUNK_SIZE * CHUNK_SIZE
        if whole:
            self.codec, stored = await self.service.encode(
                self.buffer.take(whole), self.codec, self.hasher
            )
            await self.commits.start(whole, stored, self.codec, self.hasher)

    async def _stop(self) -> int:
        """The stream stops short of finishing: what is whole becomes durable, so the client
        resumes as close as possible to where it was. The committed size."""
        await self._commit_whole_chunks()
        await self.commits.settle()
        return self.commits.committed

    async def _finish(self) -> StoredBlobInfo:
        """Verifies size and digest, then commits the last chunks and the blob in one go."""
        rest = self.buffer.take(self.buffer.size)
        self.codec, stored = await self.service.encode(rest, self.codec, self.hasher)
        await self.commits.settle()
        session, committed = self.commits.session, self.commits.committed
        self.service.hashes.take(self.key, -1)
        size = committed + sum(len(piece) for piece in rest)
        hasher = self.hasher
        if hasher is None:
            # The upload resumed in another process: hash what was stored, then the rest.
            hasher = await self._rehash(session, committed // CHUNK_SIZE)
            for piece in rest:
                hasher.update(piece)
        digest = hasher.digest()
        if self.expected_size is not None and self.expected_size != size:
            raise InvalidArgument.field(
                "size_bytes", f"declared {self.expected_size:,} but {size:,} bytes arrived"
            )
        wanted = self.expected_sha or session.expected_sha256
        if wanted is not None and wanted != digest:
            raise InvalidArgument.field(
                "sha256", f"declared {wanted.hex()} but the bytes hash to {digest.hex()}"
            )
        stored_bytes = self.commits.staged_bytes + sum(len(c) for c in stored)
        finished = FinishedUpload(
            digest, size, stored_bytes, self.codec or CODEC_NONE, -(-size // CHUNK_SIZE)
        )
        blob = await self._commit_blob(session, committed, stored, finished)
        trace.get_current_span().set_attribute("emailstore.size_bytes", size)
        return _info(blob)

    async def _commit_blob(
        self,
        session: UploadSession,
        committed: int,
        final_chunks: list[ByteBuffer],
        finished: FinishedUpload,
    ) -> BlobInfo:
        """The last chunks and the blob, in one transaction."""
        ttl = self.service.config.upload_ttl_s
        db = self.service.db
        if not session.persisted:
            async with db.tenant(self.caller, "store_whole_upload", pipeline=True) as tx:
                blob = await tx.uploads.store_whole(session, final_chunks, finished, ttl)
            if blob is None:
                raise FailedPrecondition(
                    f"upload {session.upload_id} was started by another stream meanwhile: "
                    "QueryUpload tells where it stands"
                )
            return blob
        async with db.tenant(self.caller, "finish_upload", pipeline=True) as tx:
            if not await tx.uploads.append(
                session, committed, final_chunks, finished.size_bytes, finished.codec, ttl
            ):
                raise _moved(session.upload_id)
            return await tx.uploads.promote(session, finished)

    async def _rehash(self, session: UploadSession, chunk_count: int) -> Any:
        """SHA-256 of the staged chunks, read back a few at a time."""
        hasher = hashlib.sha256()
        reader = ChunkReader(
            self.service.db, self.caller, session.staging_sha256, 0, chunk_count - 1
        )
        async for chunk in reader:
            hasher.update(decode_chunk(self.codec or CODEC_NONE, chunk))
        return hasher


class _OffsetMismatch(Exception):
    """Internal: a request's write_offset does not follow what was received."""

    def __init__(self, offset: int, received: int) -> None:
        super().__init__(offset, received)
        self.offset = offset
        self.received = received

    def error(self, committed: int) -> OutOfRange | FailedPrecondition:
        """What the client hears: a gap is OUT_OF_RANGE, a resend FAILED_PRECONDITION."""
        message = (
            f"write_offset {self.offset:,} does not follow the {self.received:,} bytes "
            f"received; {committed:,} are committed, resume there"
        )
        return OutOfRange(message) if self.offset > self.received else FailedPrecondition(message)

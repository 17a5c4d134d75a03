"""Blob use cases: resumable upload, digest lookup, ranged download, garbage collection."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
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
from service.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
    ResourceExhausted,
)
from service.models import DownloadRequest, StoredBlobInfo, UploadPart, UploadStatus
from service.store.blobs import BlobInfo, BlobRepository, GcResult, UploadSession

# Chunks read together with the blob when a download opens: one, so the first bytes go out
# while the next group is read.
OPEN_CHUNKS = 1
MAX_DIGESTS_PER_CALL = 10_000
# Larger than any blob can be (the attachment limit is far below), small enough that an offset
# plus a limit cannot overflow a bigint.
MAX_OFFSET = 2**53
# Whole chunks are committed once this many bytes wait in an upload's buffer (and, when a
# stream stops short of finishing, whatever whole chunks wait): a transaction per 2 MiB rather
# than per request, committed while the next requests arrive. A broken stream loses at most
# the bytes not yet committed; the client resumes from QueryUpload's committed_size.
COMMIT_BYTES = 2 * 1024 * 1024
# Running SHA-256 states of uploads in progress, so a resume in this process need not re-read
# what it already hashed. Bounded: a forgotten state only costs a re-read on finish.
_MAX_HASH_STATES = 10_000


def _invalid(field: str, description: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} {description}", violations=[FieldViolation(field, description)]
    )


def _digest(value: str, field: str) -> bytes:
    digest = value.strip().lower()
    if not validation.SHA256_RE.match(digest):
        raise _invalid(field, "must be 64 hex characters (SHA-256)")
    return bytes.fromhex(digest)


def _upload_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError):
        raise _invalid("upload_id", "must be a UUID chosen by the client") from None


def _staging_key(tenant_id: str, upload_id: str) -> bytes:
    # A digest no content can have (it would take a SHA-256 preimage): the key under which the
    # upload's chunks wait until the real digest is known.
    return hashlib.sha256(f"emailstore-upload:{tenant_id}:{upload_id}".encode()).digest()


def _info(blob: BlobInfo) -> StoredBlobInfo:
    return StoredBlobInfo(blob.sha256.hex(), blob.size_bytes, blob.stored_size_bytes)


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


class _Commits:
    """The durable side of one upload stream: whole chunks are committed in the background, one
    transaction at a time, in order, while the stream goes on."""

    def __init__(
        self,
        repository: BlobRepository,
        hashes: _HashStates,
        ttl_s: float,
        tenant: str,
        session: UploadSession,
    ) -> None:
        self._repository = repository
        self._hashes = hashes
        self._ttl_s = ttl_s
        self._tenant = tenant
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
        await self._repository.commit_chunks(
            self._tenant, self.session, self.committed, stored, new_size, codec, self._ttl_s
        )
        self.session = self.session.persisted_copy()
        self.committed = new_size
        self.staged_bytes += sum(len(chunk) for chunk in stored)
        if hash_state is not None:
            self._hashes.keep((self._tenant, self.session.upload_id), hash_state, new_size)

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


class BlobService:
    """Uploads, downloads and the lifetime of blobs."""

    def __init__(
        self, config: Config, repository: BlobRepository, *, commit_bytes: int = COMMIT_BYTES
    ) -> None:
        self.config = config
        self.repository = repository
        self.commit_bytes = commit_bytes
        self._hashes = _HashStates()

    # --------------------------------------------------------------- lookups

    async def find_missing(self, tenant_id: str, digests: list[str]) -> list[str]:
        """The digests (in the order given, without repeats) the tenant does not have."""
        tenant = validation.tenant_id(tenant_id)
        if len(digests) > MAX_DIGESTS_PER_CALL:
            raise _invalid("sha256", f"at most {MAX_DIGESTS_PER_CALL} digests per call")
        wanted: dict[bytes, str] = {}
        for i, value in enumerate(digests):
            wanted.setdefault(_digest(value, f"sha256[{i}]"), value.strip().lower())
        have = await self.repository.find_ready(tenant, list(wanted)) if wanted else set()
        return [hex_ for digest, hex_ in wanted.items() if digest not in have]

    async def query_upload(self, tenant_id: str, upload_id: str) -> UploadStatus:
        """The committed size of an upload (where to resume), and whether it is complete."""
        tenant = validation.tenant_id(tenant_id)
        session = await self.repository.upload(tenant, _upload_id(upload_id))
        if session is None:
            raise NotFound(f"upload {upload_id} not found (never started, or expired)")
        return UploadStatus(session.committed_size, session.complete)

    # ---------------------------------------------------------------- upload

    async def upload(self, parts: AsyncIterator[UploadPart]) -> StoredBlobInfo:
        """Receives an upload stream; returns the stored blob once finish_write arrives."""
        first = await anext(parts, None)
        if first is None:
            raise InvalidArgument("the upload stream carried no request")
        tenant = validation.tenant_id(first.tenant_id)
        upload_id = _upload_id(first.upload_id)
        expected_sha = _digest(first.sha256, "sha256") if first.sha256 else None
        if first.size_bytes < 0:
            raise _invalid("size_bytes", "must not be negative")
        limit = self.config.max_attachment_bytes
        if first.size_bytes > limit:
            raise ResourceExhausted(
                f"size_bytes {first.size_bytes:,} is over the attachment limit of {limit:,} "
                "(EMAILSTORE_MAX_ATTACHMENT_BYTES)"
            )
        expected_size = first.size_bytes or None
        mime_type = first.mime_type.lower()
        if mime_type and not validation.MIME_TYPE_RE.match(mime_type):
            raise _invalid("mime_type", "must be type/subtype, e.g. application/pdf")
        span = trace.get_current_span()
        span.set_attribute("emailstore.tenant_id", tenant)
        span.set_attribute("emailstore.upload_id", upload_id)
        staging = _staging_key(tenant, upload_id)
        ttl = self.config.upload_ttl_s

        if first.finish_write and first.write_offset == 0:
            # The common case, a file sent in one request: hashed, then stored by one
            # statement, without first looking the upload id up (the statement checks it).
            whole = await self._store_one_request(
                tenant, upload_id, staging, first, expected_sha, expected_size, mime_type
            )
            if whole is not None:
                return whole

        if expected_sha is not None:
            known = await self.repository.blob(tenant, expected_sha)
            if known is not None:
                if expected_size is not None and expected_size != known.size_bytes:
                    raise _invalid("size_bytes", "does not match the size of that sha256")
                # The tenant has these bytes: done, without reading the rest of the stream.
                await self.repository.complete_known(
                    tenant, upload_id, staging, known, mime_type, ttl
                )
                span.set_attribute("emailstore.deduplicated", True)
                return _info(known)

        session = await self.repository.upload(tenant, upload_id)
        if session is None:
            # Recorded with its first committed bytes: a one-request upload is one transaction.
            session = UploadSession.new(upload_id, staging, expected_sha, expected_size, mime_type)
        if (expected_sha is not None and session.expected_sha256 not in (None, expected_sha)) or (
            expected_size is not None and session.expected_size not in (None, expected_size)
        ):
            raise FailedPrecondition(
                f"upload {upload_id} was started with a different sha256 or size_bytes"
            )
        if session.complete and session.sha256 is not None:
            blob = await self.repository.blob(tenant, session.sha256)
            if blob is not None:
                return _info(blob)
        try:
            return await self._receive(tenant, upload_id, session, first, parts, expected_sha)
        except (ResourceExhausted, InvalidArgument):
            # Over the limit or not the promised bytes: nothing of the upload is kept.
            await self.repository.discard_upload(tenant, upload_id)
            self._hashes.take((tenant, upload_id), -1)
            raise

    async def _store_one_request(
        self,
        tenant: str,
        upload_id: str,
        staging: bytes,
        part: UploadPart,
        expected_sha: bytes | None,
        expected_size: int | None,
        mime_type: str,
    ) -> StoredBlobInfo | None:
        """Stores an upload that came whole in its first request. None when that is not the
        plain case (over a limit, not the promised bytes, or the upload id already in use):
        the resumable path then answers, with its checks and errors."""
        size = len(part.data)
        if size > self.config.max_attachment_bytes or expected_size not in (None, size):
            return None
        hasher = hashlib.sha256()
        view = memoryview(part.data)
        pieces: list[ByteBuffer] = [view[i : i + CHUNK_SIZE] for i in range(0, size, CHUNK_SIZE)]
        codec, stored = await self._encode(pieces, None, hasher)
        digest = hasher.digest()
        if expected_sha not in (None, digest):
            return None
        blob = await self.repository.store_whole(
            tenant,
            UploadSession.new(upload_id, staging, expected_sha, expected_size, mime_type),
            stored,
            digest,
            size,
            sum(len(chunk) for chunk in stored),
            codec,
            -(-size // CHUNK_SIZE),
            self.config.upload_ttl_s,
        )
        if blob is None:
            return None
        trace.get_current_span().set_attribute("emailstore.size_bytes", size)
        return _info(blob)

    async def _receive(
        self,
        tenant: str,
        upload_id: str,
        session: UploadSession,
        first: UploadPart,
        parts: AsyncIterator[UploadPart],
        expected_sha: bytes | None,
    ) -> StoredBlobInfo:
        key = (tenant, upload_id)
        commits = _Commits(self.repository, self._hashes, self.config.upload_ttl_s, tenant, session)
        codec = session.codec
        hasher = self._hashes.take(key, session.committed_size)
        if hasher is None and session.committed_size == 0:
            hasher = hashlib.sha256()
        buffer = ChunkBuffer()  # received, not committed yet
        limit = self.config.max_attachment_bytes
        expected_size = session.expected_size

        async def commit_whole_chunks() -> None:
            nonlocal codec
            whole = buffer.size // CHUNK_SIZE * CHUNK_SIZE
            if whole:
                codec, stored = await self._encode(buffer.take(whole), codec, hasher)
                await commits.start(whole, stored, codec, hasher)

        async def stop() -> int:
            # The stream stops short of finishing: what is whole becomes durable, so the
            # client resumes as close as possible to where it was.
            await commit_whole_chunks()
            await commits.settle()
            return commits.committed

        try:
            part: UploadPart | None = first
            while part is not None:
                if part.tenant_id and part.tenant_id != first.tenant_id:
                    raise _invalid("tenant_id", "must not change within an upload stream")
                if part.upload_id and part.upload_id != first.upload_id:
                    raise _invalid("upload_id", "must not change within an upload stream")
                received = commits.accepted + buffer.size
                if part.write_offset != received:
                    committed = await stop()
                    message = (
                        f"write_offset {part.write_offset:,} does not follow the {received:,} "
                        f"bytes received; {committed:,} are committed, resume there"
                    )
                    if part.write_offset > received:
                        raise OutOfRange(message)
                    raise FailedPrecondition(message)
                end = received + len(part.data)
                if end > limit:
                    raise ResourceExhausted(
                        f"upload passed the attachment limit of {limit:,} bytes "
                        "(EMAILSTORE_MAX_ATTACHMENT_BYTES)"
                    )
                if expected_size is not None and end > expected_size:
                    raise _invalid(
                        "data", f"is longer than the declared size_bytes {expected_size:,}"
                    )
                buffer.append(part.data)
                if part.finish_write:
                    rest = buffer.take(buffer.size)
                    codec, stored = await self._encode(rest, codec, hasher)
                    await commits.settle()
                    return await self._finish(
                        tenant,
                        commits.session,
                        commits.committed,
                        rest,
                        stored,
                        commits.staged_bytes,
                        codec,
                        hasher,
                        expected_sha,
                    )
                if buffer.size >= self.commit_bytes:
                    # Committed in the background: the next requests arrive meanwhile.
                    await commit_whole_chunks()
                try:
                    part = await anext(parts, None)
                except BaseException:
                    # The client went away mid-stream: keep what is whole, if the database
                    # lets us (the stream's own error is the one to report).
                    with contextlib.suppress(Exception):
                        await asyncio.shield(stop())
                    raise
            committed = await stop()
        finally:
            await commits.abandon()
        raise FailedPrecondition(
            f"the stream ended before finish_write; {committed:,} bytes are committed: resume "
            "at that write_offset (QueryUpload tells it too)"
        )

    async def _encode(
        self, pieces: list[ByteBuffer], codec: str | None, hasher: Any | None
    ) -> tuple[str, list[ByteBuffer]]:
        """Hashes and compresses chunks (in a thread for big ones: both release the GIL).
        Returns the upload's codec and the stored form of each chunk."""

        def encode() -> tuple[str, list[ByteBuffer]]:
            chosen = codec
            stored: list[ByteBuffer] = []
            for piece in pieces:
                if hasher is not None:
                    hasher.update(piece)
                if chosen is None:
                    # The first chunk decides for the whole upload: files are of one kind, and
                    # incompressible ones (PDF, JPEG, ZIP) are then not compressed in vain.
                    squeezed = compress_chunk(piece, self.config.zstd_level)
                    chosen = (
                        CODEC_ZSTD if worth_compressing(len(piece), len(squeezed)) else CODEC_NONE
                    )
                    stored.append(squeezed if chosen == CODEC_ZSTD else piece)
                elif chosen == CODEC_ZSTD:
                    stored.append(compress_chunk(piece, self.config.zstd_level))
                else:
                    stored.append(piece)
            return chosen or CODEC_NONE, stored

        size = sum(len(piece) for piece in pieces)
        return await asyncio.to_thread(encode) if size > 64 * 1024 else encode()

    async def _finish(
        self,
        tenant: str,
        session: UploadSession,
        committed: int,
        final_raw: list[ByteBuffer],
        final_chunks: list[ByteBuffer],
        staged_bytes: int,
        codec: str | None,
        hasher: Any | None,
        expected_sha: bytes | None,
    ) -> StoredBlobInfo:
        """Verifies size and digest, then commits the last chunks and the blob in one go."""
        self._hashes.take((tenant, session.upload_id), -1)
        size = committed + sum(len(piece) for piece in final_raw)
        if hasher is None:
            # The upload resumed in another process: hash what was stored, then the rest.
            hasher = await self._rehash(tenant, session, committed // CHUNK_SIZE, codec)
            for piece in final_raw:
                hasher.update(piece)
        digest = hasher.digest()
        expected_size = session.expected_size
        if expected_size is not None and expected_size != size:
            raise _invalid("size_bytes", f"declared {expected_size:,} but {size:,} bytes arrived")
        wanted = expected_sha or session.expected_sha256
        if wanted is not None and wanted != digest:
            raise _invalid(
                "sha256", f"declared {wanted.hex()} but the bytes hash to {digest.hex()}"
            )
        blob = await self.repository.finish_upload(
            tenant,
            session,
            committed,
            final_chunks,
            digest,
            size,
            staged_bytes + sum(len(c) for c in final_chunks),
            codec or CODEC_NONE,
            -(-size // CHUNK_SIZE),
            self.config.upload_ttl_s,
        )
        trace.get_current_span().set_attribute("emailstore.size_bytes", size)
        return _info(blob)

    async def _rehash(
        self, tenant: str, session: UploadSession, chunk_count: int, codec: str | None
    ) -> Any:
        """SHA-256 of the staged chunks, read back a few at a time."""
        hasher = hashlib.sha256()
        async for chunk in self.repository.reader(
            tenant, session.staging_sha256, 0, chunk_count - 1
        ):
            hasher.update(decode_chunk(codec or CODEC_NONE, chunk))
        return hasher

    # -------------------------------------------------------------- download

    async def download(self, request: DownloadRequest) -> AsyncIterator[bytes]:
        """The requested byte range, in pieces of at most one chunk, read a few chunks at a time."""
        tenant = validation.tenant_id(request.tenant_id)
        by_digest = bool(request.blob_sha256)
        by_attachment = bool(request.storage_key or request.attachment_id)
        if by_digest == by_attachment:
            raise _invalid(
                "blob_sha256", "give either blob_sha256, or storage_key and attachment_id"
            )
        if request.read_limit < 0:
            raise _invalid("read_limit", "must not be negative")
        if request.read_offset < 0:
            raise OutOfRange(f"read_offset {request.read_offset:,} is negative")
        if request.read_offset > MAX_OFFSET:
            raise OutOfRange(f"read_offset {request.read_offset:,} is outside any blob")
        if by_digest:
            digest: bytes | None = _digest(request.blob_sha256, "blob_sha256")
            storage_key = attachment_id = None
            what = f"blob {request.blob_sha256}"
        else:
            validation.storage_key(request.storage_key)
            if not request.attachment_id:
                raise _invalid("attachment_id", "is required with storage_key")
            v = validation.Violations()
            validation.check_id(v, "attachment_id", request.attachment_id)
            v.raise_if_any()
            digest, storage_key, attachment_id = None, request.storage_key, request.attachment_id
            what = f"attachment {request.attachment_id!r} of message {request.storage_key!r}"
        # The blob and the first chunk of the range in one round trip: the first bytes go out
        # while the next chunks are read.
        opened = await self.repository.open_blob(
            tenant,
            digest,
            storage_key,
            attachment_id,
            request.read_offset,
            # Anything past the largest blob means "to the end" (and keeps offset + limit in
            # the database's bigint).
            request.read_limit if request.read_limit <= MAX_OFFSET else 0,
            OPEN_CHUNKS,
        )
        if opened is None:
            raise NotFound(f"{what} not found")
        blob, first_chunks = opened
        if request.read_offset > blob.size_bytes:
            raise OutOfRange(
                f"read_offset {request.read_offset:,} is outside the {blob.size_bytes:,} bytes"
            )
        end = blob.size_bytes
        if request.read_limit:
            end = min(end, request.read_offset + request.read_limit)
        span = trace.get_current_span()
        span.set_attribute("emailstore.read_bytes", end - request.read_offset)
        return self._read(tenant, blob, request.read_offset, end, first_chunks)

    async def _read(
        self, tenant: str, blob: BlobInfo, start: int, end: int, first_chunks: list[bytes]
    ) -> AsyncIterator[bytes]:
        if start >= end:
            return
        size = blob.chunk_size
        first, last = start // size, (end - 1) // size
        # The rest is read from now on, while the first chunks are sent.
        reader = self.repository.reader(tenant, blob.sha256, first + len(first_chunks), last)

        async def stored() -> AsyncIterator[bytes]:
            for chunk in first_chunks:
                yield chunk
            async for chunk in reader:
                yield chunk

        seq = first
        try:
            async for chunk in stored():
                data = decode_chunk(blob.codec, chunk)
                lo = max(start - seq * size, 0)
                hi = min(end - seq * size, len(data))
                yield data[lo:hi] if (lo, hi) != (0, len(data)) else data
                seq += 1
        finally:
            reader.close()  # a client that went away mid-stream: stop reading ahead

    # ---------------------------------------------------------------- lifetime

    async def collect_garbage(self) -> GcResult:
        """One collection pass with the configured grace period."""
        return await self.repository.collect(self.config.blob_grace_s)

"""Reading blobs back: ranged attachment downloads, and blobs read chunk by chunk in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from opentelemetry import trace

from service.codec.blobs import decode_chunk
from service.core import validation
from service.core.ports import BlobInfo, Transactions
from service.errors import InvalidArgument, NotFound, OutOfRange
from service.models import Caller, DownloadRequest

# Chunks read per round trip when a blob is read in order (downloads, GetRawMessage, re-hashing
# a resumed upload): memory stays at a few chunks whatever the blob's size.
READ_GROUP_CHUNKS = 4
# Chunks read together with the blob when a download opens: one, so the first bytes go out
# while the next group is read.
OPEN_CHUNKS = 1
# Larger than any blob can be (the attachment limit is far below), small enough that an offset
# plus a limit cannot overflow a bigint.
MAX_OFFSET = 2**53


class ChunkReader:
    """A blob's stored chunks first..last, in order, a group of READ_GROUP_CHUNKS per round trip.
    The first group is read from the moment the reader is made, and each next group while the
    current one is used: at most two groups in memory, whatever the blob's size."""

    def __init__(
        self, db: Transactions, caller: Caller, sha256: bytes, first: int, last: int
    ) -> None:
        self._db = db
        self._caller = caller
        self._sha256 = sha256
        self._groups = [
            (lo, min(lo + READ_GROUP_CHUNKS - 1, last))
            for lo in range(first, last + 1, READ_GROUP_CHUNKS)
        ]
        self._pending = self._fetch(0)

    async def _read(self, lo: int, hi: int) -> list[bytes]:
        async with self._db.statement(self._caller, "read_chunks") as tx:
            return await tx.reads.chunks(self._sha256, lo, hi)

    def _fetch(self, index: int) -> asyncio.Future[list[bytes]] | None:
        if index >= len(self._groups):
            return None
        return asyncio.ensure_future(self._read(*self._groups[index]))

    async def __aiter__(self) -> AsyncIterator[bytes]:
        index = 0
        try:
            while self._pending is not None:
                stored = await self._pending
                index += 1
                self._pending = self._fetch(index)
                for chunk in stored:
                    yield chunk
        finally:
            self.close()

    def close(self) -> None:
        """Stops reading ahead (the reader went away mid-stream)."""
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None


class DownloadService:
    """DownloadAttachment: a byte range of a blob, by digest or by message and attachment."""

    def __init__(self, db: Transactions) -> None:
        self.db = db

    async def download(self, caller: Caller, request: DownloadRequest) -> AsyncIterator[bytes]:
        """The requested byte range, in pieces of at most one chunk, read a few chunks at a
        time; the checks and the first chunk happen before the first piece is asked for."""
        digest, key, attachment_id, what = _target(request)
        if request.read_limit < 0:
            raise InvalidArgument.field("read_limit", "must not be negative")
        if request.read_offset < 0:
            raise OutOfRange(f"read_offset {request.read_offset:,} is negative")
        if request.read_offset > MAX_OFFSET:
            raise OutOfRange(f"read_offset {request.read_offset:,} is outside any blob")
        # Anything past the largest blob means "to the end" (and keeps offset + limit in the
        # database's bigint).
        limit = request.read_limit if request.read_limit <= MAX_OFFSET else 0
        # The blob and the first chunk of the range in one round trip: the first bytes go out
        # while the next chunks are read.
        async with self.db.statement(caller, "open_blob") as tx:
            opened = await tx.reads.open(
                digest, key, attachment_id, request.read_offset, limit, OPEN_CHUNKS
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
        trace.get_current_span().set_attribute("emailstore.read_bytes", end - request.read_offset)
        return self._pieces(caller, blob, request.read_offset, end, first_chunks)

    async def _pieces(
        self, caller: Caller, blob: BlobInfo, start: int, end: int, first_chunks: list[bytes]
    ) -> AsyncIterator[bytes]:
        if start >= end:
            return
        size = blob.chunk_size
        first, last = start // size, (end - 1) // size
        # The rest is read from now on, while the first chunks are sent.
        reader = ChunkReader(self.db, caller, blob.sha256, first + len(first_chunks), last)

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


def _target(request: DownloadRequest) -> tuple[bytes | None, str | None, str | None, str]:
    """What to read: (digest, or storage key and attachment id) and how to name it."""
    by_digest = bool(request.blob_sha256)
    if by_digest == bool(request.storage_key or request.attachment_id):
        raise InvalidArgument.field(
            "blob_sha256", "give either blob_sha256, or storage_key and attachment_id"
        )
    if by_digest:
        digest = validation.sha256(request.blob_sha256, "blob_sha256")
        return digest, None, None, f"blob {request.blob_sha256}"
    validation.storage_key(request.storage_key)
    if not request.attachment_id:
        raise InvalidArgument.field("attachment_id", "is required with storage_key")
    v = validation.Violations()
    validation.check_id(v, "attachment_id", request.attachment_id)
    v.raise_if_any()
    what = f"attachment {request.attachment_id!r} of message {request.storage_key!r}"
    return None, request.storage_key, request.attachment_id, what

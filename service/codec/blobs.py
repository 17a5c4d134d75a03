"""Content-addressed blobs: SHA-256, 256 KiB chunks, each chunk zstd-compressed on its own.

A blob's codec is recorded with it, so the level (or a future dictionary) can change without
rewriting old rows. Content that zstd cannot shrink (JPEG, ZIP, PDF streams) is kept as is
(codec ``none``): decompressing it would cost time and save nothing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import zstandard

CHUNK_SIZE = 256 * 1024
CODEC_ZSTD = "zstd"
CODEC_NONE = "none"

# zstd must save at least this share of the bytes to be worth a decompression on every read.
_MIN_SAVING = 0.03

_local = threading.local()


@dataclass(frozen=True)
class EncodedBlob:
    """A blob ready to store: its digest, sizes, codec and the stored form of each chunk."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunks: tuple[bytes, ...]

    @property
    def sha256_hex(self) -> str:
        """The digest as 64 lowercase hex characters, as the API shows it."""
        return self.sha256.hex()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    # Compressor contexts are not thread-safe and cost a few hundred microseconds to build:
    # keep one per thread and level.
    cache: dict[int, zstandard.ZstdCompressor] | None = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    compressor = cache.get(level)
    if compressor is None:
        compressor = cache[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if decompressor is None:
        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


# Bytes as received or stored: a view into a request's buffer is stored as is (psycopg sends
# memoryview like bytes), so chunks cut from requests are not copied on their way in.
ByteBuffer: TypeAlias = bytes | memoryview


class ChunkBuffer:
    """Received bytes not yet stored, kept as the requests' own buffers. Chunks are cut out as
    views of them, and copied only when a chunk spans two requests."""

    def __init__(self) -> None:
        self._views: deque[memoryview] = deque()
        self.size = 0

    def append(self, data: ByteBuffer) -> None:
        """Adds the bytes of the next request."""
        if data:
            self._views.append(memoryview(data))
            self.size += len(data)

    def take(self, size: int, chunk_size: int = CHUNK_SIZE) -> list[ByteBuffer]:
        """Removes the first `size` bytes, as pieces of chunk_size (the last may be shorter)."""
        if size > self.size:
            raise ValueError(f"only {self.size} bytes are buffered, not {size}")
        pieces: list[ByteBuffer] = []
        while size > 0:
            want = min(chunk_size, size)
            head = self._views[0]
            if len(head) >= want:
                pieces.append(head[:want])
                self._shift(head, want)
            else:
                parts = []
                need = want
                while need:
                    head = self._views[0]
                    part = head[:need]
                    parts.append(part)
                    self._shift(head, len(part))
                    need -= len(part)
                pieces.append(b"".join(parts))
            size -= want
            self.size -= want
        return pieces

    def _shift(self, head: memoryview, used: int) -> None:
        if used == len(head):
            self._views.popleft()
        else:
            self._views[0] = head[used:]


def worth_compressing(raw_size: int, compressed_size: int) -> bool:
    """Whether zstd saves enough of raw_size bytes to be worth a decompression on every read."""
    return raw_size > 0 and compressed_size <= raw_size * (1 - _MIN_SAVING)


def compress_chunk(data: ByteBuffer, level: int) -> bytes:
    """zstd of one chunk, with this thread's compressor for the level."""
    return _compressor(level).compress(data)


def split_chunks(data: bytes, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yields consecutive slices of at most chunk_size bytes (none for empty data)."""
    view = memoryview(data)
    for start in range(0, len(data), chunk_size):
        yield bytes(view[start : start + chunk_size])


def encode_blob(
    data: bytes, level: int, chunk_size: int = CHUNK_SIZE, digest: bytes | None = None
) -> EncodedBlob:
    """Hashes (unless the digest is given), chunks and compresses data, choosing codec
    ``none`` when zstd does not pay."""
    if digest is None:
        digest = hashlib.sha256(data).digest()
    raw_chunks = list(split_chunks(data, chunk_size))
    compressor = _compressor(level)
    compressed = [compressor.compress(chunk) for chunk in raw_chunks]
    compressed_size = sum(len(c) for c in compressed)
    if worth_compressing(len(data), compressed_size):
        return EncodedBlob(digest, len(data), compressed_size, CODEC_ZSTD, tuple(compressed))
    return EncodedBlob(digest, len(data), len(data), CODEC_NONE, tuple(raw_chunks))


class BlobSet:
    """The distinct blobs of one message and how often the message references each.

    Each distinct content is encoded once, however often it appears, and each bytes object is
    hashed once.
    """

    def __init__(self, level: int) -> None:
        self.level = level
        self.blobs: dict[bytes, EncodedBlob] = {}
        self.refs: dict[bytes, int] = {}
        # Digests by object: the same bytes object added twice (an ingested attachment is also
        # a body of the raw message) is hashed once.
        self._hashed: dict[int, tuple[bytes, bytes]] = {}

    def digest(self, data: bytes) -> bytes:
        """The SHA-256 of data (each bytes object hashed once)."""
        seen = self._hashed.get(id(data))
        if seen is not None and seen[0] is data:
            return seen[1]
        digest = hashlib.sha256(data).digest()
        self._hashed[id(data)] = (data, digest)
        return digest

    def add(self, data: bytes) -> bytes:
        """Adds one reference to data; returns its SHA-256."""
        digest = self.digest(data)
        if digest not in self.blobs:
            self.blobs[digest] = encode_blob(data, self.level, digest=digest)
        self.refs[digest] = self.refs.get(digest, 0) + 1
        return digest

    def ordered(self) -> tuple[EncodedBlob, ...]:
        """The blobs sorted by digest: a fixed lock order for the insert."""
        return tuple(sorted(self.blobs.values(), key=lambda b: b.sha256))


def decode_chunk(codec: str, stored: bytes) -> bytes:
    """Returns the original bytes of one stored chunk."""
    if codec == CODEC_NONE:
        return stored
    if codec == CODEC_ZSTD:
        return _decompressor().decompress(stored)
    raise ValueError(f"unknown codec {codec!r}")


def decode_blob(codec: str, stored_chunks: Iterable[bytes]) -> bytes:
    """Returns the original bytes of a blob from its stored chunks, in order."""
    return b"".join(decode_chunk(codec, chunk) for chunk in stored_chunks)


def decode_text(codec: str, stored_chunks: Iterable[bytes]) -> str:
    """A text body's blob as text (UTF-8; what does not decode becomes U+FFFD)."""
    return decode_blob(codec, stored_chunks).decode("utf-8", errors="replace")

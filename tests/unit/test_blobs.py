"""Hashing, chunking and compression of blobs (pure)."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec.blobs import (
    CHUNK_SIZE,
    CODEC_NONE,
    CODEC_ZSTD,
    ChunkBuffer,
    decode_blob,
    decode_chunk,
    encode_blob,
)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3 * 1024), st.integers(min_value=1, max_value=5000))
def test_any_bytes_round_trip_with_any_chunk_size(data: bytes, chunk_size: int) -> None:
    """Whatever the bytes and chunk size, decoding the stored chunks gives the bytes back."""
    blob = encode_blob(data, level=3, chunk_size=chunk_size)
    assert decode_blob(blob.codec, blob.chunks) == data
    assert blob.sha256 == hashlib.sha256(data).digest()
    assert blob.size_bytes == len(data)
    assert len(blob.chunks) == -(-len(data) // chunk_size)
    assert blob.stored_size_bytes == sum(len(c) for c in blob.chunks)


def test_text_is_compressed_per_chunk() -> None:
    """Compressible text gets codec zstd and each chunk decodes on its own."""
    data = b"Hi {first_name}, quick question about your SDR team. " * 20_000
    blob = encode_blob(data, level=3)
    assert blob.codec == CODEC_ZSTD
    assert blob.stored_size_bytes < len(data) // 10
    assert len(blob.chunks) == -(-len(data) // CHUNK_SIZE)
    second = decode_chunk(blob.codec, blob.chunks[1])
    assert second == data[CHUNK_SIZE : 2 * CHUNK_SIZE]


def test_random_bytes_are_kept_raw() -> None:
    """Incompressible bytes (JPEG-like) get codec none: stored size equals size."""
    data = os.urandom(CHUNK_SIZE + 10)
    blob = encode_blob(data, level=3)
    assert blob.codec == CODEC_NONE
    assert blob.stored_size_bytes == len(data)
    assert blob.chunks == (data[:CHUNK_SIZE], data[CHUNK_SIZE:])


def test_empty_blob_has_no_chunks() -> None:
    """An empty body is a valid blob with no chunks."""
    blob = encode_blob(b"", level=3)
    assert blob.chunks == ()
    assert blob.size_bytes == 0
    assert decode_blob(blob.codec, blob.chunks) == b""


def test_unknown_codec_is_refused() -> None:
    """A codec the service does not know is an error, not garbage output."""
    with pytest.raises(ValueError, match="brotli"):
        decode_chunk("brotli", b"x")


@settings(max_examples=80, deadline=None)
@given(
    requests=st.lists(st.binary(max_size=40), max_size=12),
    chunk_size=st.integers(min_value=1, max_value=17),
    takes=st.lists(st.integers(min_value=0, max_value=5), max_size=6),
)
def test_chunk_buffer_cuts_the_bytes_in_order(
    requests: list[bytes], chunk_size: int, takes: list[int]
) -> None:
    """Whatever the request sizes: whole chunks taken, then the rest, are the bytes in order,
    every piece chunk_size long but the very last; nothing is lost or repeated."""
    buffer = ChunkBuffer()
    for request in requests:
        buffer.append(request)
    data = b"".join(requests)
    assert buffer.size == len(data)
    out: list[bytes] = []
    for chunks in takes:
        whole = min(chunks * chunk_size, buffer.size // chunk_size * chunk_size)
        pieces = buffer.take(whole, chunk_size)
        assert all(len(p) == chunk_size for p in pieces)
        out.extend(bytes(p) for p in pieces)
    rest = buffer.take(buffer.size, chunk_size)
    assert all(len(p) == chunk_size for p in rest[:-1])
    out.extend(bytes(p) for p in rest)
    assert b"".join(out) == data
    assert buffer.size == 0
    with pytest.raises(ValueError, match="only 0 bytes are buffered"):
        buffer.take(1, chunk_size)


def test_chunk_buffer_views_requests_without_copying() -> None:
    """A chunk inside one request is a view of that request's bytes; only a chunk spanning
    two requests is copied."""
    first, second = os.urandom(CHUNK_SIZE + 10), os.urandom(CHUNK_SIZE)
    buffer = ChunkBuffer()
    buffer.append(first)
    buffer.append(second)
    inside, spanning = buffer.take(2 * CHUNK_SIZE)
    assert isinstance(inside, memoryview)
    assert inside.obj is first
    assert isinstance(spanning, bytes)
    assert spanning == first[CHUNK_SIZE:] + second[: CHUNK_SIZE - 10]

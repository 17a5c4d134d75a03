"""Packs: a message's small content in one value, compressed with the tenant's dictionary (pure).

Cold email is thousands of near-identical small messages. Compressed one by one, each starts
from nothing; with a zstd dictionary trained on the tenant's own mail, the template, the
signature and the headers are in the dictionary, and each message costs little more than what
makes it personal. A pack holds the small parts of one message (headers, text, HTML; for
ingested mail the skeleton and the small leaf bodies), so they share one frame and one row.

Layout of a pack before compression: ``EP1``, the number of parts (varint), then per part its
name and size (varints and the name's bytes), then the parts' bytes in order. Stored, it is
either a zstd frame (with a content checksum, and the dictionary's id in its header when it
was made with one) or, when compression would not pay, the pack itself; the first bytes say
which.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
import zstandard

from service.codec.blobs import worth_compressing
from service.models import Header

PACK_MAGIC = b"EP1"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# Part names.
HEADERS = "h"
TEXT = "t"
HTML = "m"
SKELETON = "s"


def body(index: int) -> str:
    """The part name of an ingested message's leaf body kept in the pack."""
    return f"b{index}"


class PackError(ValueError):
    """A stored pack cannot be read: damaged, or it needs a dictionary it was not given."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _read_varint(data: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise PackError("pack truncated")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise PackError("pack damaged: a length does not end")


def encode(parts: Mapping[str, bytes]) -> bytes:
    """The uncompressed pack of these parts (in the mapping's order)."""
    head = bytearray(PACK_MAGIC)
    head += _varint(len(parts))
    for name, data in parts.items():
        encoded = name.encode()
        head += _varint(len(encoded)) + encoded + _varint(len(data))
    return bytes(head) + b"".join(parts.values())


def decode(pack: bytes) -> dict[str, bytes]:
    """The parts of an uncompressed pack."""
    view = memoryview(pack)
    if bytes(view[:3]) != PACK_MAGIC:
        raise PackError("not a pack")
    count, at = _read_varint(view, 3)
    names: list[tuple[str, int]] = []
    for _ in range(count):
        size, at = _read_varint(view, at)
        name = bytes(view[at : at + size]).decode()
        at += size
        length, at = _read_varint(view, at)
        names.append((name, length))
    parts: dict[str, bytes] = {}
    for name, length in names:
        if at + length > len(view):
            raise PackError("pack truncated")
        parts[name] = bytes(view[at : at + length])
        at += length
    return parts


class Dictionary:
    """A tenant's trained zstd dictionary (its id is in the frames it makes)."""

    __slots__ = ("data", "dictionary_id", "zstd")

    def __init__(self, dictionary_id: int, data: bytes) -> None:
        self.dictionary_id = dictionary_id
        self.data = data
        # Read-only once built: shared by the compressors and decompressors of every thread.
        # A trained dictionary has a header with its id: bytes without one are no dictionary
        # of ours (zstandard would take them as raw content and fail later, less clearly).
        try:
            self.zstd = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
            found = self.zstd.dict_id()
        except zstandard.ZstdError as exc:
            raise PackError(f"dictionary {dictionary_id} is damaged: {exc}") from exc
        if found != dictionary_id:
            raise PackError(f"dictionary {dictionary_id} is damaged: it says it is {found}")

    def __repr__(self) -> str:
        return f"Dictionary({self.dictionary_id}, {len(self.data)} bytes)"


_local = threading.local()


def _compressor(level: int, dictionary: Dictionary | None) -> zstandard.ZstdCompressor:
    # Compressor contexts are not thread-safe and cost to build (more so with a dictionary):
    # one per thread, level and dictionary.
    cache: dict[tuple[int, int | None], tuple[Dictionary | None, zstandard.ZstdCompressor]]
    cache = getattr(_local, "pack_compressors", None) or {}
    _local.pack_compressors = cache
    key = (level, dictionary.dictionary_id if dictionary else None)
    found = cache.get(key)
    if found is None or found[0] is not dictionary:
        compressor = zstandard.ZstdCompressor(
            level=level,
            dict_data=dictionary.zstd if dictionary else None,
            write_checksum=True,
            write_content_size=True,
            write_dict_id=True,
        )
        cache[key] = found = (dictionary, compressor)
    return found[1]


@dataclass(frozen=True)
class Packed:
    """A pack as stored: its bytes, its size before compression, the dictionary it needs."""

    stored: bytes
    raw_size: int
    dictionary_id: int | None


def pack(parts: Mapping[str, bytes], level: int, dictionary: Dictionary | None) -> Packed:
    """The parts as one stored value: compressed (with the dictionary, if any) when that
    pays, else as they are."""
    raw = encode(parts)
    squeezed = _compressor(level, dictionary).compress(raw)
    if worth_compressing(len(raw), len(squeezed)):
        return Packed(squeezed, len(raw), dictionary.dictionary_id if dictionary else None)
    return Packed(raw, len(raw), None)


def needed_dictionary(stored: bytes) -> int | None:
    """The id of the dictionary a stored pack needs (None when it needs none)."""
    if not stored.startswith(ZSTD_MAGIC):
        return None
    try:
        dict_id = zstandard.get_frame_parameters(stored).dict_id
    except zstandard.ZstdError as exc:
        raise PackError(f"pack damaged: {exc}") from exc
    return dict_id or None


def unpack(stored: bytes, dictionary: Dictionary | None) -> dict[str, bytes]:
    """The parts of a stored pack; PackError when it is damaged or needs another dictionary."""
    if not stored.startswith(ZSTD_MAGIC):
        return decode(stored)
    needed = needed_dictionary(stored)
    have = dictionary.dictionary_id if dictionary else None
    if needed != have:
        raise PackError(f"pack needs dictionary {needed}, was given {have}")
    decompressor = zstandard.ZstdDecompressor(dict_data=dictionary.zstd if dictionary else None)
    try:
        raw = decompressor.decompress(stored)
    except zstandard.ZstdError as exc:
        raise PackError(f"pack damaged: {exc}") from exc
    return decode(raw)


@dataclass(frozen=True)
class Trained:
    """A dictionary trained on samples, and what it does to held-out ones."""

    dictionary: Dictionary
    samples: int
    sample_bytes: int
    dict_ratio: float  # compressed / raw with the dictionary
    plain_ratio: float  # compressed / raw without


def train(
    samples: Sequence[bytes], dictionary_id: int, level: int, size: int = 64 * 1024
) -> Trained:
    """A dictionary from samples (one in ten held out to measure it); ValueError when the
    samples are too few or too alike to train on."""
    held_out = list(samples[::10])
    training: list[bytes | bytearray | memoryview] = [s for i, s in enumerate(samples) if i % 10]
    total = sum(len(s) for s in training)
    try:
        trained = zstandard.train_dictionary(
            max(1024, min(size, total // 10)), training, dict_id=dictionary_id, level=level
        )
    except zstandard.ZstdError as exc:
        raise ValueError(f"cannot train a dictionary on these samples: {exc}") from exc
    dictionary = Dictionary(dictionary_id, trained.as_bytes())
    raw = sum(len(s) for s in held_out) or 1
    with_dict = sum(len(_compressor(level, dictionary).compress(s)) for s in held_out)
    plain = sum(len(_compressor(level, None).compress(s)) for s in held_out)
    return Trained(
        dictionary, len(samples), sum(len(s) for s in samples), with_dict / raw, plain / raw
    )


def encode_headers(headers: Sequence[Header]) -> bytes:
    """Headers as a pack keeps them: JSON [[name, value], ...], a third element 1 when kept
    raw."""
    items = [[h.name, h.value, 1] if h.kept_raw else [h.name, h.value] for h in headers]
    return orjson.dumps(items)


def decode_headers(data: bytes) -> tuple[Header, ...]:
    """Headers as encode_headers wrote them."""
    return tuple(Header(h[0], h[1], len(h) > 2 and bool(h[2])) for h in orjson.loads(data))

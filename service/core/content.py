"""Reading a message's content back, whichever way it is kept: parts in its pack (compressed
with the tenant's dictionary, or not), parts in blobs, or, for rows written before packs,
headers in the row and bodies in blobs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.codec import packs
from service.codec.blobs import decode_blob
from service.core.dictionaries import DictionaryBook
from service.core.ports import BlobRef, StoredContent, UnitOfWork
from service.errors import NotFound
from service.models import Caller, Content

# A leaf body to stream: its blob, or its bytes (from the pack).
BodySource = BlobRef | bytes


@dataclass(frozen=True)
class RawSource:
    """What rebuilds an ingested message: its skeleton, and each leaf body's source."""

    skeleton: bytes
    bodies: tuple[BodySource, ...]


async def _parts(
    book: DictionaryBook, caller: Caller, tx: UnitOfWork, key: str, stored: StoredContent
) -> dict[str, bytes]:
    if stored.pack is None:
        return {}
    return await book.unpack(caller, stored.pack, stored.dictionary_id, f"message {key!r}", tx)


async def _blob_texts(tx: UnitOfWork, digests: Sequence[bytes | None]) -> list[str]:
    wanted = [d for d in digests if d is not None]
    blobs = await tx.blobs.read_whole(wanted) if wanted else {}
    return [
        decode_blob(blobs[d].codec, blobs[d].chunks).decode("utf-8", "replace") if d else ""
        for d in digests
    ]


async def full(
    book: DictionaryBook, caller: Caller, tx: UnitOfWork, key: str, stored: StoredContent
) -> Content:
    """The headers and bodies of a message."""
    parts = await _parts(book, caller, tx, key, stored)
    text, html = await _blob_texts(tx, [stored.text_sha256, stored.html_sha256])
    if packs.TEXT in parts:
        text = parts[packs.TEXT].decode("utf-8", "replace")
    if packs.HTML in parts:
        html = parts[packs.HTML].decode("utf-8", "replace")
    headers = (
        packs.decode_headers(parts[packs.HEADERS]) if packs.HEADERS in parts else stored.headers
    )
    return Content(headers=headers, text_body=text, html_body=html)


async def raw(
    book: DictionaryBook, caller: Caller, tx: UnitOfWork, key: str, stored: StoredContent
) -> RawSource:
    """The skeleton of an ingested message and the sources of its leaf bodies; NotFound
    naming the message when a blob it needs is gone."""
    parts = await _parts(book, caller, tx, key, stored)
    if packs.SKELETON in parts:
        skeleton = parts[packs.SKELETON]
    elif stored.skeleton_sha256 is not None:
        blob = (await tx.blobs.read_whole([stored.skeleton_sha256]))[stored.skeleton_sha256]
        skeleton = decode_blob(blob.codec, blob.chunks)
    else:
        raise NotFound(f"message {key!r} has no raw form")
    digests = [p for p in stored.parts if isinstance(p, bytes)]
    refs = await blob_refs(tx, digests, f"message {key!r}")
    by_digest = dict(zip(digests, refs, strict=True))
    bodies: list[BodySource] = []
    for p in stored.parts:
        if isinstance(p, bytes):
            bodies.append(by_digest[p])
        elif packs.body(p) in parts:
            bodies.append(parts[packs.body(p)])
        else:
            raise NotFound(f"message {key!r} lost body {p} of its pack")
    return RawSource(skeleton, tuple(bodies))


async def blob_refs(tx: UnitOfWork, shas: Sequence[bytes], owner: str) -> list[BlobRef]:
    """The blob of each digest, in order; NotFound naming `owner` when one is gone."""
    found = await tx.blobs.refs(shas) if shas else {}
    missing = [sha.hex() for sha in shas if sha not in found]
    if missing:
        raise NotFound(f"{owner} lost blob(s) {', '.join(missing)}")
    return [found[sha] for sha in shas]

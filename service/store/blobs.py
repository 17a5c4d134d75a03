"""The blob repository: content-addressed bytes of one tenant, their chunks and references."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from service.core.ports import BlobInfo, BlobRef, BlobSize, StoredBlob
from service.errors import NotFound
from service.store.queries import query
from service.store.rows import BlobSizeRow, ChunkRow, OpenedBlobRow, SeqChunkRow
from service.store.statements import Row, records

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


def _q(name: str) -> str:
    return query("blobs", name)


class BlobRepository:
    """Blobs of one tenant in one transaction (the connection is the unit of work's)."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def reference_existing(self, refs: Mapping[bytes, int]) -> dict[bytes, BlobSize]:
        """Adds references to blobs the tenant has (ready ones); the ones found."""
        digests = sorted(refs)
        found = await records(
            self._conn,
            BlobSizeRow,
            _q("reference_existing"),
            {"tenant_id": self._tenant, "sha256": digests, "refs": [refs[d] for d in digests]},
        )
        return {r.sha256: BlobSize(r.size_bytes, r.stored_size_bytes) for r in found}

    async def sizes(self, digests: Sequence[bytes]) -> dict[bytes, BlobSize]:
        """Sizes and stored sizes of these blobs (the ones the tenant has)."""
        found = await records(
            self._conn,
            BlobSizeRow,
            _q("sizes"),
            {"tenant_id": self._tenant, "sha256": list(digests)},
        )
        return {r.sha256: BlobSize(r.size_bytes, r.stored_size_bytes) for r in found}

    async def release(self, refs: Mapping[bytes, tuple[int, int]]) -> list[bytes]:
        """Gives up (references, referencing messages) of blobs; the ones left with none."""
        digests = sorted(refs)
        cur = await self._conn.execute(
            _q("release"),
            {
                "tenant_id": self._tenant,
                "sha256": digests,
                "refs": [refs[d][0] for d in digests],
                "messages": [refs[d][1] for d in digests],
            },
        )
        return [bytes(sha) for sha, refcount in await cur.fetchall() if refcount == 0]

    async def find_ready(self, digests: Sequence[bytes]) -> set[bytes]:
        """Which of the digests the tenant has, ready to reference."""
        cur = await self._conn.execute(
            _q("find_ready"), {"tenant_id": self._tenant, "sha256": list(digests)}
        )
        return {bytes(row[0]) for row in await cur.fetchall()}

    async def refs(self, digests: Sequence[bytes]) -> dict[bytes, BlobRef]:
        """The blobs of these digests, to be read chunk by chunk."""
        found = await records(
            self._conn,
            BlobRef,
            _q("refs"),
            {"tenant_id": self._tenant, "sha256": list(dict.fromkeys(digests))},
        )
        return {r.sha256: r for r in found}

    async def read_whole(self, digests: Sequence[bytes]) -> dict[bytes, StoredBlob]:
        """These blobs with all their chunks (empty blobs have none)."""
        if not digests:
            return {}
        found = await records(
            self._conn,
            ChunkRow,
            _q("read_whole"),
            {"tenant_id": self._tenant, "sha256": list(digests)},
            binary=True,
        )
        chunks: dict[bytes, list[bytes]] = defaultdict(list)
        codecs: dict[bytes, str] = {}
        for row in found:
            codecs[row.sha256] = row.codec
            chunks[row.sha256].append(row.data)
        whole = {sha: StoredBlob(codecs[sha], tuple(chunks[sha])) for sha in codecs}
        for sha in digests:
            whole.setdefault(sha, StoredBlob("none", ()))
        return whole

    async def mark_gc_pending(self) -> None:
        """Notes that the tenant may hold garbage now."""
        await self._conn.execute(_q("mark_gc_pending"), {"tenant_id": self._tenant})


class BlobReads:
    """Reads of one statement each, in a transaction of its own (autocommit): the functions
    of migrations 0004 and 0005 scope themselves to the tenant."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def _rows(self, row: type[Row], name: str, params: Mapping[str, Any]) -> list[Row]:
        return await records(
            self._conn,
            row,
            _q(name),
            {"tenant_id": self._tenant, **params},
            binary=True,
            prepare=True,
        )

    async def blob(self, sha256: bytes) -> BlobInfo | None:
        """A ready blob of the tenant."""
        found = await self._rows(BlobInfo, "find_blob", {"sha256": sha256})
        return found[0] if found else None

    async def open(
        self,
        sha256: bytes | None,
        storage_key: str | None,
        attachment_id: str | None,
        offset: int,
        limit: int,
        chunks: int,
    ) -> tuple[BlobInfo, list[bytes]] | None:
        """A blob (by digest, or by message and attachment) and up to `chunks` stored chunks of
        the range from `offset` (`limit` bytes, 0 for all); None when there is none."""
        found = await self._rows(
            OpenedBlobRow,
            "open_blob",
            {
                "sha256": sha256,
                "storage_key": storage_key,
                "attachment_id": attachment_id,
                "offset": offset,
                "limit": limit,
                "chunks": chunks,
            },
        )
        if not found:
            return None
        head = found[0]
        blob = BlobInfo(
            head.sha256, head.size_bytes, head.stored_size_bytes, head.codec, head.chunk_size
        )
        end = min(blob.size_bytes, offset + limit) if limit else blob.size_bytes
        first = offset // blob.chunk_size
        expected = 0 if offset >= end else min(chunks, (end - 1) // blob.chunk_size - first + 1)
        if [row.seq for row in found[1:]] != list(range(first, first + expected)):
            raise NotFound("the blob was deleted while it was being read")
        return blob, [row.data for row in found[1:] if row.data is not None]

    async def chunks(self, sha256: bytes, first: int, last: int) -> list[bytes]:
        """Stored chunks first..last (inclusive) of a blob, in order; NotFound when one is
        missing (the blob was freed while being read)."""
        found = await self._rows(
            SeqChunkRow, "read_chunks", {"sha256": sha256, "first": first, "last": last}
        )
        if [row.seq for row in found] != list(range(first, last + 1)):
            raise NotFound("the blob was deleted while it was being read")
        return [row.data for row in found]

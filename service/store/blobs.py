"""Blob repository: digests, ranged chunk reads, resumable upload sessions, garbage collection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from psycopg.rows import class_row

from service.codec.blobs import CHUNK_SIZE, ByteBuffer
from service.errors import FailedPrecondition, NotFound
from service.store import queries
from service.store.database import AsyncConn, Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlobInfo:
    """A ready blob: digest, sizes, codec and chunk size."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunk_size: int


def _blob_info(row: Sequence[Any]) -> BlobInfo:
    """A (sha256, size_bytes, stored_size_bytes, codec, chunk_size) row as a BlobInfo."""
    sha, size, stored, codec, chunk_size = row
    return BlobInfo(bytes(sha), size, stored, codec, chunk_size)


@dataclass(frozen=True)
class UploadSession:
    """An upload as recorded: what was promised, and how far it got."""

    upload_id: str
    staging_sha256: bytes
    expected_sha256: bytes | None
    expected_size: int | None
    mime_type: str
    codec: str | None
    committed_size: int
    staged_bytes: int
    chunk_count: int
    sha256: bytes | None
    size_bytes: int | None
    stored_size_bytes: int | None
    complete: bool
    # False until the first bytes are committed: the session row is written with them.
    persisted: bool = True

    @classmethod
    def new(
        cls,
        upload_id: str,
        staging_sha256: bytes,
        expected_sha256: bytes | None,
        expected_size: int | None,
        mime_type: str,
    ) -> UploadSession:
        """A session not yet in the database."""
        return cls(
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

    def persisted_copy(self) -> UploadSession:
        """The same session, now recorded."""
        return replace(self, persisted=True)


@dataclass(frozen=True)
class GcResult:
    """What one collection pass freed."""

    tenants: int
    blobs: int
    uploads: int
    freed_bytes: int


async def _insert_chunks(
    conn: AsyncConn,
    query: str,
    tenant_id: str,
    sha256: bytes,
    first_seq: int,
    chunks: list[ByteBuffer],
) -> None:
    """One statement per chunk, all sent in one round trip (psycopg's executemany)."""
    if chunks:
        await conn.cursor().executemany(
            query,
            [
                {"tenant_id": tenant_id, "sha256": sha256, "seq": first_seq + i, "data": chunk}
                for i, chunk in enumerate(chunks)
            ],
        )


def _finish_params(
    tenant_id: str,
    session: UploadSession,
    sha256: bytes,
    size_bytes: int,
    stored_size_bytes: int,
    codec: str,
    chunk_count: int,
) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "upload_id": session.upload_id,
        "staging_sha256": session.staging_sha256,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "stored_size_bytes": stored_size_bytes,
        "codec": codec,
        "chunk_size": CHUNK_SIZE,
        "chunk_count": chunk_count,
    }


# Chunks read per round trip when a blob is read in order (downloads, GetRawMessage, re-hashing
# a resumed upload): memory stays at a few chunks whatever the blob's size.
READ_GROUP_CHUNKS = 4


class BlobRepository:
    """SQL for blobs and uploads; every call is one short tenant-scoped transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def find_ready(self, tenant_id: str, digests: list[bytes]) -> set[bytes]:
        """Which of the digests the tenant has, ready to reference."""
        async with self.db.transaction(tenant_id, "find_blobs") as conn:
            cur = await conn.execute(
                queries.FIND_READY_BLOBS, {"tenant_id": tenant_id, "sha256": digests}
            )
            return {bytes(row[0]) for row in await cur.fetchall()}

    async def blob(self, tenant_id: str, sha256: bytes) -> BlobInfo | None:
        """A ready blob of the tenant, or None."""
        rows = await self.db.call(
            "find_blob",
            "SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size"
            " FROM emailstore_find_blob(%s, %s, NULL, NULL)",
            (tenant_id, sha256),
        )
        return _blob_info(rows[0]) if rows else None

    async def open_blob(
        self,
        tenant_id: str,
        sha256: bytes | None,
        storage_key: str | None,
        attachment_id: str | None,
        offset: int,
        limit: int,
        chunks: int,
    ) -> tuple[BlobInfo, list[bytes]] | None:
        """A blob (by digest, or by message and attachment) and up to `chunks` stored chunks of
        the range from `offset` (`limit` bytes, 0 for all), in one round trip; None when the
        tenant has no such blob or attachment."""
        rows = await self.db.call(
            "open_blob",
            "SELECT sha256, size_bytes, stored_size_bytes, codec, chunk_size, seq, data"
            " FROM emailstore_open_blob(%s, %s, %s, %s, %s, %s, %s)",
            (tenant_id, sha256, storage_key, attachment_id, offset, limit, chunks),
        )
        if not rows:
            return None
        blob = _blob_info(rows[0][:5])
        end = min(blob.size_bytes, offset + limit) if limit else blob.size_bytes
        first = offset // blob.chunk_size
        expected = 0 if offset >= end else min(chunks, (end - 1) // blob.chunk_size - first + 1)
        if [row[5] for row in rows[1:]] != list(range(first, first + expected)):
            raise NotFound("the blob was deleted while it was being read")
        return blob, [row[6] for row in rows[1:]]

    async def read_chunks(
        self, tenant_id: str, sha256: bytes, first: int, last: int
    ) -> list[bytes]:
        """Stored chunks first..last (inclusive) of a blob, in order, in one round trip; raises
        NotFound if any is missing (the blob was freed while being read)."""
        rows = await self.db.call(
            "read_chunks",
            "SELECT seq, data FROM emailstore_read_chunks(%s, %s, %s, %s)",
            (tenant_id, sha256, first, last),
        )
        if [seq for seq, _ in rows] != list(range(first, last + 1)):
            raise NotFound("the blob was deleted while it was being read")
        return [data for _, data in rows]

    def reader(self, tenant_id: str, sha256: bytes, first: int, last: int) -> ChunkReader:
        """Reads stored chunks first..last of a blob a group at a time, from now on."""
        return ChunkReader(self, tenant_id, sha256, first, last)

    # ------------------------------------------------------------------ uploads

    async def upload(self, tenant_id: str, upload_id: str) -> UploadSession | None:
        """The upload's session, or None when unknown or expired."""
        async with self.db.transaction(tenant_id, "get_upload") as conn:
            cur = conn.cursor(row_factory=class_row(UploadSession))
            await cur.execute(
                queries.SELECT_UPLOAD, {"tenant_id": tenant_id, "upload_id": upload_id}
            )
            return await cur.fetchone()

    async def _record_new(
        self, conn: AsyncConn, tenant_id: str, session: UploadSession, ttl_s: float
    ) -> None:
        """Writes a new session's row and its staging blob, in the caller's transaction."""
        await conn.execute(
            queries.OPEN_UPLOAD,
            {
                "tenant_id": tenant_id,
                "upload_id": session.upload_id,
                "staging_sha256": session.staging_sha256,
                "expected_sha256": session.expected_sha256,
                "expected_size": session.expected_size,
                "mime_type": session.mime_type,
                "ttl_s": ttl_s,
                "chunk_size": CHUNK_SIZE,
            },
        )
        await conn.execute(queries.MARK_GC_PENDING, {"tenant_id": tenant_id})

    async def _append(
        self,
        conn: AsyncConn,
        tenant_id: str,
        session: UploadSession,
        previous_size: int,
        chunks: list[ByteBuffer],
        new_size: int,
        codec: str,
        ttl_s: float,
    ) -> None:
        if not session.persisted:
            await self._record_new(conn, tenant_id, session, ttl_s)
        cur = await conn.execute(
            queries.ADVANCE_UPLOAD,
            {
                "tenant_id": tenant_id,
                "upload_id": session.upload_id,
                "committed_size": new_size,
                "previous_size": previous_size,
                "chunks": len(chunks),
                "staged_bytes": sum(len(c) for c in chunks),
                "codec": codec,
                "ttl_s": ttl_s,
            },
        )
        if await cur.fetchone() is None:
            raise FailedPrecondition(
                f"upload {session.upload_id} changed meanwhile (another stream is writing "
                "it, or it finished or expired); ask QueryUpload where to resume"
            )
        await _insert_chunks(
            conn,
            queries.INSERT_STAGED_CHUNK,
            tenant_id,
            session.staging_sha256,
            previous_size // CHUNK_SIZE,
            chunks,
        )

    async def commit_chunks(
        self,
        tenant_id: str,
        session: UploadSession,
        previous_size: int,
        chunks: list[ByteBuffer],
        new_size: int,
        codec: str,
        ttl_s: float,
    ) -> None:
        """Durably appends stored chunks to an upload and advances its committed size."""
        async with self.db.transaction(tenant_id, "commit_upload_chunks") as conn:
            await self._append(
                conn, tenant_id, session, previous_size, chunks, new_size, codec, ttl_s
            )

    async def finish_upload(
        self,
        tenant_id: str,
        session: UploadSession,
        previous_size: int,
        final_chunks: list[ByteBuffer],
        sha256: bytes,
        size_bytes: int,
        stored_size_bytes: int,
        codec: str,
        chunk_count: int,
        ttl_s: float,
    ) -> BlobInfo:
        """Commits the last chunks and turns the staged chunks into the tenant's blob (or drops
        them: the tenant had those bytes already), in one transaction."""
        if not session.persisted:
            blob = await self.store_whole(
                tenant_id,
                session,
                final_chunks,
                sha256,
                size_bytes,
                stored_size_bytes,
                codec,
                chunk_count,
                ttl_s,
            )
            if blob is None:
                raise FailedPrecondition(
                    f"upload {session.upload_id} was started by another stream meanwhile: "
                    "QueryUpload tells where it stands"
                )
            return blob
        params = _finish_params(
            tenant_id, session, sha256, size_bytes, stored_size_bytes, codec, chunk_count
        )
        async with self.db.transaction(tenant_id, "finish_upload") as conn:
            await self._append(
                conn, tenant_id, session, previous_size, final_chunks, size_bytes, codec, ttl_s
            )
            cur = await conn.execute(queries.PROMOTE_UPLOAD_BLOB, params)
            if await cur.fetchone() is not None:
                await conn.execute(queries.REKEY_STAGED_CHUNKS, params)
                # New and not referenced yet: the collector frees it unless a message does.
                await conn.execute(queries.MARK_GC_PENDING, params)
            await conn.execute(queries.DROP_STAGING_BLOB, params)
            blob_cur = conn.cursor(row_factory=class_row(BlobInfo))
            await blob_cur.execute(queries.SELECT_READY_BLOB, params)
            blob = await blob_cur.fetchone()
            if blob is None:
                raise NotFound("the uploaded blob disappeared while finishing")
            await conn.execute(
                queries.COMPLETE_UPLOAD, params | {"stored_size_bytes": blob.stored_size_bytes}
            )
        return blob

    async def store_whole(
        self,
        tenant_id: str,
        session: UploadSession,
        chunks: list[ByteBuffer],
        sha256: bytes,
        size_bytes: int,
        stored_size_bytes: int,
        codec: str,
        chunk_count: int,
        ttl_s: float,
    ) -> BlobInfo | None:
        """Stores an upload that arrived whole, with its completed session, in one statement;
        None (nothing written) when a live session of that upload id exists already."""
        params = _finish_params(
            tenant_id, session, sha256, size_bytes, stored_size_bytes, codec, chunk_count
        )
        async with self.db.transaction(tenant_id, "store_whole_upload") as conn:
            cur = await conn.execute(
                queries.STORE_WHOLE_UPLOAD,
                params
                | {
                    "expected_sha256": session.expected_sha256,
                    "expected_size": session.expected_size,
                    "mime_type": session.mime_type,
                    "ttl_s": ttl_s,
                },
            )
            await _insert_chunks(conn, queries.INSERT_BLOB_CHUNK, tenant_id, sha256, 0, chunks)
            row = await cur.fetchone()
        return _blob_info(row) if row is not None else None

    async def complete_known(
        self,
        tenant_id: str,
        upload_id: str,
        staging_sha256: bytes,
        blob: BlobInfo,
        mime_type: str,
        ttl_s: float,
    ) -> None:
        """Records an upload answered from a blob the tenant already had."""
        async with self.db.transaction(tenant_id, "complete_known_upload") as conn:
            await conn.execute(
                queries.COMPLETE_UPLOAD_KNOWN,
                {
                    "tenant_id": tenant_id,
                    "upload_id": upload_id,
                    "staging_sha256": staging_sha256,
                    "sha256": blob.sha256,
                    "size_bytes": blob.size_bytes,
                    "stored_size_bytes": blob.stored_size_bytes,
                    "mime_type": mime_type,
                    "ttl_s": ttl_s,
                },
            )

    async def discard_upload(self, tenant_id: str, upload_id: str) -> None:
        """Forgets an unfinished upload and frees what it staged."""
        async with self.db.transaction(tenant_id, "discard_upload") as conn:
            await conn.execute(
                queries.DISCARD_UPLOAD, {"tenant_id": tenant_id, "upload_id": upload_id}
            )

    # ------------------------------------------------------- garbage collection

    async def collect(self, grace_s: float, tenant_limit: int = 1000) -> GcResult:
        """Frees unreferenced blobs past the grace period and expired uploads, for every tenant
        that may have some."""
        async with self.db.connection() as conn:
            cur = await conn.execute(queries.GC_TENANTS, {"limit": tenant_limit})
            tenants = [row[0] for row in await cur.fetchall()]
            await conn.commit()
        blobs = uploads = freed = 0
        for tenant_id in tenants:
            params = {"tenant_id": tenant_id, "grace_s": grace_s}
            async with self.db.transaction(tenant_id, "collect_garbage") as conn:
                await conn.execute(queries.LOCK_GC_PENDING, params)
                cur = await conn.execute(queries.EXPIRE_UPLOADS, params)
                staged = [row[0] for row in await cur.fetchall()]
                cur = await conn.execute(queries.COLLECT_BLOBS, params)
                collected = [row[0] for row in await cur.fetchall()]
                cur = await conn.execute(queries.GC_REMAINING, params)
                row = await cur.fetchone()
                if row is not None and not row[0]:
                    await conn.execute(queries.FORGET_GC_PENDING, params)
            uploads += len(staged)
            blobs += len(collected)
            freed += sum(staged) + sum(collected)
        if blobs or uploads:
            log.info(
                "garbage collection freed %d blobs, %d uploads, %d bytes", blobs, uploads, freed
            )
        return GcResult(tenants=len(tenants), blobs=blobs, uploads=uploads, freed_bytes=freed)


class ChunkReader:
    """A blob's stored chunks first..last, in order, a group of READ_GROUP_CHUNKS per round trip.
    The first group is read from the moment the reader is made, and each next group while the
    current one is used: at most two groups in memory, whatever the blob's size."""

    def __init__(
        self, repository: BlobRepository, tenant_id: str, sha256: bytes, first: int, last: int
    ) -> None:
        self._repository = repository
        self._tenant_id = tenant_id
        self._sha256 = sha256
        self._groups = [
            (lo, min(lo + READ_GROUP_CHUNKS - 1, last))
            for lo in range(first, last + 1, READ_GROUP_CHUNKS)
        ]
        self._pending = self._fetch(0)

    def _fetch(self, index: int) -> asyncio.Future[list[bytes]] | None:
        if index >= len(self._groups):
            return None
        lo, hi = self._groups[index]
        return asyncio.ensure_future(
            self._repository.read_chunks(self._tenant_id, self._sha256, lo, hi)
        )

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

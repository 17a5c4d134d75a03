"""The upload repository: resumable upload sessions of one tenant and their staged chunks."""

from __future__ import annotations

from typing import Any

from psycopg.rows import class_row

from service.codec.blobs import CHUNK_SIZE, ByteBuffer
from service.core.ports import BlobInfo, FinishedUpload, UploadSession
from service.errors import NotFound
from service.store.queries import query
from service.store.statements import record

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


def _q(name: str) -> str:
    return query("uploads", name)


class UploadRepository:
    """Upload sessions of one tenant in one transaction (the connection is the unit of work's)."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def get(self, upload_id: str) -> UploadSession | None:
        """The live session of an upload id (None when unknown or expired)."""
        cur = self._conn.cursor(row_factory=class_row(UploadSession))
        await cur.execute(_q("select_upload"), {"tenant_id": self._tenant, "upload_id": upload_id})
        session: UploadSession | None = await cur.fetchone()
        return session

    async def _insert_chunks(
        self, name: str, sha256: bytes, first_seq: int, chunks: list[ByteBuffer]
    ) -> None:
        """One statement per chunk, all sent in one round trip (psycopg's executemany)."""
        if chunks:
            await self._conn.cursor().executemany(
                _q(name),
                [
                    {"tenant_id": self._tenant, "sha256": sha256, "seq": first_seq + i, "data": c}
                    for i, c in enumerate(chunks)
                ],
            )

    async def _record_new(self, session: UploadSession, ttl_s: float) -> None:
        await self._conn.execute(
            _q("open_upload"),
            {
                "tenant_id": self._tenant,
                "upload_id": session.upload_id,
                "staging_sha256": session.staging_sha256,
                "expected_sha256": session.expected_sha256,
                "expected_size": session.expected_size,
                "mime_type": session.mime_type,
                "ttl_s": ttl_s,
                "chunk_size": CHUNK_SIZE,
            },
        )
        await self._conn.execute(query("blobs", "mark_gc_pending"), {"tenant_id": self._tenant})

    async def append(
        self,
        session: UploadSession,
        previous_size: int,
        chunks: list[ByteBuffer],
        new_size: int,
        codec: str,
        ttl_s: float,
    ) -> bool:
        """Stages chunks and advances the committed size from previous_size (recording a new
        session first); False, and nothing staged, when the session is not at previous_size
        any more (another writer moved it, or it finished or expired)."""
        if not session.persisted:
            await self._record_new(session, ttl_s)
        cur = await self._conn.execute(
            _q("advance_upload"),
            {
                "tenant_id": self._tenant,
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
            return False
        await self._insert_chunks(
            "insert_staged_chunk", session.staging_sha256, previous_size // CHUNK_SIZE, chunks
        )
        return True

    def _finish_params(self, session: UploadSession, finished: FinishedUpload) -> dict[str, Any]:
        return {
            "tenant_id": self._tenant,
            "upload_id": session.upload_id,
            "staging_sha256": session.staging_sha256,
            "sha256": finished.sha256,
            "size_bytes": finished.size_bytes,
            "stored_size_bytes": finished.stored_size_bytes,
            "codec": finished.codec,
            "chunk_size": CHUNK_SIZE,
            "chunk_count": finished.chunk_count,
        }

    async def promote(self, session: UploadSession, finished: FinishedUpload) -> BlobInfo:
        """Turns the staged chunks into the tenant's blob (or drops them: the tenant had those
        bytes already) and completes the session."""
        params = self._finish_params(session, finished)
        cur = await self._conn.execute(_q("promote_upload_blob"), params)
        if await cur.fetchone() is not None:
            await self._conn.execute(_q("rekey_staged_chunks"), params)
            # New and not referenced yet: the collector frees it unless a message does.
            await self._conn.execute(query("blobs", "mark_gc_pending"), params)
        await self._conn.execute(_q("drop_staging_blob"), params)
        blob = await record(self._conn, BlobInfo, _q("select_ready_blob"), params)
        if blob is None:
            raise NotFound("the uploaded blob disappeared while finishing")
        await self._conn.execute(
            _q("complete_upload"), params | {"stored_size_bytes": blob.stored_size_bytes}
        )
        return blob

    async def store_whole(
        self,
        session: UploadSession,
        chunks: list[ByteBuffer],
        finished: FinishedUpload,
        ttl_s: float,
    ) -> BlobInfo | None:
        """Stores an upload that arrived whole, with its completed session, in one round trip;
        None (nothing written) when a live session of that upload id exists already."""
        params = self._finish_params(session, finished) | {
            "expected_sha256": session.expected_sha256,
            "expected_size": session.expected_size,
            "mime_type": session.mime_type,
            "ttl_s": ttl_s,
        }
        cur = self._conn.cursor(row_factory=class_row(BlobInfo))
        await cur.execute(_q("store_whole_upload"), params)
        # The chunks go in the same round trip (pipeline mode), before the blob row is read.
        await self._insert_chunks("insert_blob_chunk", finished.sha256, 0, chunks)
        blob: BlobInfo | None = await cur.fetchone()
        return blob

    async def complete_known(
        self, upload_id: str, staging_sha256: bytes, blob: BlobInfo, mime_type: str, ttl_s: float
    ) -> None:
        """Records an upload answered from a blob the tenant already had."""
        await self._conn.execute(
            _q("complete_upload_known"),
            {
                "tenant_id": self._tenant,
                "upload_id": upload_id,
                "staging_sha256": staging_sha256,
                "sha256": blob.sha256,
                "size_bytes": blob.size_bytes,
                "stored_size_bytes": blob.stored_size_bytes,
                "mime_type": mime_type,
                "ttl_s": ttl_s,
            },
        )

    async def discard(self, upload_id: str) -> None:
        """Forgets an unfinished upload and frees what it staged."""
        await self._conn.execute(
            _q("discard_upload"), {"tenant_id": self._tenant, "upload_id": upload_id}
        )


class GcRepository:
    """Garbage collection of one tenant (or, in a control transaction, the list of tenants)."""

    def __init__(self, conn: AsyncConn, tenant_id: str | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def tenants(self, limit: int) -> list[str]:
        """Tenants that may hold garbage."""
        cur = await self._conn.execute(query("gc", "tenants"), {"limit": limit})
        return [row[0] for row in await cur.fetchall()]

    async def collect(self, grace_s: float) -> tuple[int, int, int]:
        """Frees the tenant's expired uploads and unreferenced blobs past the grace period,
        and forgets the tenant when nothing is left to collect: (uploads, blobs, bytes)."""
        params = {"tenant_id": self._tenant, "grace_s": grace_s}
        await self._conn.execute(query("gc", "lock_pending"), params)
        cur = await self._conn.execute(query("gc", "expire_uploads"), params)
        staged = [row[0] for row in await cur.fetchall()]
        cur = await self._conn.execute(query("gc", "collect_blobs"), params)
        collected = [row[0] for row in await cur.fetchall()]
        cur = await self._conn.execute(query("gc", "remaining"), params)
        row = await cur.fetchone()
        if row is not None and not row[0]:
            await self._conn.execute(query("gc", "forget_pending"), params)
        return len(staged), len(collected), sum(staged) + sum(collected)

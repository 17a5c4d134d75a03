"""Reference gRPC servers: the ceilings Python gRPC itself puts on transfers.

* ``python -m benchmarks.grpc_reference PORT`` stores nothing: UploadBlob reads and drops the
  stream; DownloadAttachment streams ``read_limit`` zero bytes from memory in 256 KiB messages;
  StoreMessage, StoreMessages and IngestRawMessage answer each message with its key and
  subject (or size), unstored; GetMessage answers with a message of a typical size (FULL);
  UpdateMessageStatus and RecordMessageEvents answer each event with a typical message's
  metadata.
* ``python -m benchmarks.grpc_reference PORT DATABASE_URL`` does, behind the same RPCs, exactly
  what the benchmark's database limits do and nothing else: UploadBlob COPYs the received bytes
  in 256 KiB rows into ``bench_bytea_ref`` in one transaction (``upload_id`` is the row id);
  DownloadAttachment streams the rows of ``bench_bytea`` whose id is ``blob_sha256``, read by
  the limit's own SELECT. No hashing, sessions, validation, tenants or tracing: the least a
  gRPC service in front of this database can cost.

The benchmark starts each in its own process, like the real server.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

CHUNK = 256 * 1024
ZEROS = bytes(CHUNK)
SELECT_ROWS = "SELECT data FROM bench_bytea WHERE id = %s ORDER BY seq"


def _answer(request: pb.StoreMessageRequest) -> pb.StoreMessageResponse:
    key = "email_01jdw2reference00000000000"
    return pb.StoreMessageResponse(
        storage_key=key,
        message=pb.Message(storage_key=key, tenant_id=request.tenant_id, subject=request.subject),
    )


# What a FULL GetMessage of the benchmark corpus weighs: ~4 KB of HTML, ~1 KB of text, headers.
_FULL = pb.Message(
    storage_key="email_01jdw2reference00000000000",
    subject="Quick question",
    text_body="t" * 1000,
    html_body="<p>" + "h" * 4000 + "</p>",
    headers=[pb.Header(name=f"X-Header-{i}", value="v" * 40) for i in range(10)],
)


# What an event's answer weighs: the message's metadata after the event.
_AFTER_EVENT = pb.Message(
    storage_key="email_01jdw2reference00000000000",
    tenant_id="00000000-0000-4000-8000-000000000000",
    email_account_id="acct-01",
    campaign_id="camp-001",
    lead_id="lead-001-00001",
    direction=pb.OUTBOUND,
    status=pb.OPENED,
    from_address=pb.Address(email="sam1@tryvectorpath.com", name="Sam Carter"),
    to=[pb.Address(email="lead-001-00001@example.com")],
    subject="Quick question about lead-001-00001",
    message_id_header="<email_seed00000001@mail.tryvectorpath.com>",
    sequence_step=1,
)


def _after_event(request: pb.UpdateMessageStatusRequest) -> pb.Message:
    message = pb.Message()
    message.CopyFrom(_AFTER_EVENT)
    message.storage_key = request.storage_key
    message.status = request.status
    return message


class NullStore(pb_grpc.EmailStoreServicer):
    """Moves bytes and messages, and nothing else."""

    async def StoreMessage(self, request: pb.StoreMessageRequest, context: Any) -> Any:
        return _answer(request)

    async def StoreMessages(
        self, request_iterator: AsyncIterator[pb.StoreMessageRequest], context: Any
    ) -> AsyncIterator[pb.StoreMessageResponse]:
        async for request in request_iterator:
            yield _answer(request)

    async def IngestRawMessage(
        self, request_iterator: AsyncIterator[pb.IngestRawMessageRequest], context: Any
    ) -> pb.StoreMessageResponse:
        size = 0
        async for request in request_iterator:
            size += len(request.chunk)
        return pb.StoreMessageResponse(message=pb.Message(raw_size_bytes=size))

    async def GetMessage(self, request: pb.GetMessageRequest, context: Any) -> pb.Message:
        return _FULL

    async def UpdateMessageStatus(
        self, request: pb.UpdateMessageStatusRequest, context: Any
    ) -> pb.Message:
        return _after_event(request)

    async def RecordMessageEvents(
        self, request_iterator: AsyncIterator[pb.UpdateMessageStatusRequest], context: Any
    ) -> AsyncIterator[pb.RecordMessageEventResponse]:
        async for request in request_iterator:
            yield pb.RecordMessageEventResponse(message=_after_event(request))

    async def UploadBlob(
        self, request_iterator: AsyncIterator[pb.UploadBlobRequest], context: Any
    ) -> pb.Blob:
        size = 0
        async for request in request_iterator:
            size += len(request.data)
        return pb.Blob(size_bytes=size)

    async def DownloadAttachment(
        self, request: pb.DownloadAttachmentRequest, context: Any
    ) -> AsyncIterator[pb.DownloadChunk]:
        left = request.read_limit
        while left > 0:
            piece = ZEROS if left >= CHUNK else ZEROS[:left]
            left -= len(piece)
            yield pb.DownloadChunk(data=piece)


class BareStore(pb_grpc.EmailStoreServicer):
    """The database limits' own COPY and SELECT behind the RPCs, on one connection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn
        self.lock = asyncio.Lock()

    async def UploadBlob(
        self, request_iterator: AsyncIterator[pb.UploadBlobRequest], context: Any
    ) -> pb.Blob:
        size = 0
        seq = 0
        async with (
            self.lock,
            self.conn.transaction(),
            self.conn.cursor().copy(
                "COPY bench_bytea_ref (id, seq, data) FROM STDIN (FORMAT binary)"
            ) as copy,
        ):
            copy.set_types(["int8", "int4", "bytea"])
            row_id = 0
            async for request in request_iterator:
                if request.upload_id:
                    row_id = int(request.upload_id)
                data = memoryview(request.data)
                for start in range(0, len(data), CHUNK):
                    await copy.write_row((row_id, seq, data[start : start + CHUNK]))
                    seq += 1
                size += len(data)
        return pb.Blob(size_bytes=size)

    async def DownloadAttachment(
        self, request: pb.DownloadAttachmentRequest, context: Any
    ) -> AsyncIterator[pb.DownloadChunk]:
        async with self.lock:
            cur = await self.conn.execute(
                SELECT_ROWS, (int(request.blob_sha256),), binary=True, prepare=True
            )
            rows = await cur.fetchall()
        for (data,) in rows:
            yield pb.DownloadChunk(data=data)


async def main(port: int, database_url: str | None) -> None:
    """Serves until killed."""
    servicer: pb_grpc.EmailStoreServicer = NullStore()
    if database_url:
        conn = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_bytea_ref (id bigint, seq int, data bytea)"
        )
        await conn.execute("ALTER TABLE bench_bytea_ref ALTER COLUMN data SET STORAGE EXTERNAL")
        servicer = BareStore(conn)
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    pb_grpc.add_EmailStoreServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))

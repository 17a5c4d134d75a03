"""A gRPC server that stores nothing: the ceiling Python gRPC itself puts on transfers.

UploadBlob reads and drops the stream; DownloadAttachment streams `read_limit` zero bytes from
memory in 256 KiB messages. Run as `python -m benchmarks.grpc_reference PORT`; the benchmark
starts it in its own process, like the real server.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

CHUNK = bytes(256 * 1024)


class NullStore(pb_grpc.EmailStoreServicer):
    """Moves bytes and nothing else."""

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
            piece = CHUNK if left >= len(CHUNK) else CHUNK[:left]
            left -= len(piece)
            yield pb.DownloadChunk(data=piece)


async def main(port: int) -> None:
    """Serves until killed."""
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    pb_grpc.add_EmailStoreServicer_to_server(NullStore(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))

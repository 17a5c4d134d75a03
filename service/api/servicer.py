"""The EmailStore servicer: proto in, use case, proto out. No SQL, no business rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf import empty_pb2
from opentelemetry import trace

from service.api import convert
from service.api.requests import Rejected
from service.api.status import to_rpc_status
from service.core import validation
from service.core.blobs import BlobService
from service.core.ingest import IngestService
from service.core.messages import MessageService
from service.errors import EmailStoreError, FieldViolation, InvalidArgument, Unimplemented
from service.models import DownloadRequest, UploadPart

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

# StoreMessages keeps this many requests of one stream in flight at once.
STREAM_WINDOW = 64
# Request-streaming methods whose items fail alone: an undecodable item is answered in the
# stream (the servicer receives it as a Rejected), and the stream goes on.
ITEMWISE_METHODS = frozenset({"/emailstore.v1.EmailStore/StoreMessages"})


def _tenant_attribute(tenant_id: str) -> None:
    trace.get_current_span().set_attribute("emailstore.tenant_id", tenant_id)


def _not_yet(rpc: str) -> Unimplemented:
    return Unimplemented(f"{rpc} is part of the API contract but not implemented yet")


class EmailStoreServicer(pb_grpc.EmailStoreServicer):
    """Implements emailstore.v1.EmailStore over the use cases in service.core."""

    def __init__(self, messages: MessageService, blobs: BlobService, ingest: IngestService) -> None:
        self.messages = messages
        self.blobs = blobs
        self.ingest = ingest

    async def IngestRawMessage(
        self, request_iterator: AsyncIterator[pb.IngestRawMessageRequest], context: Context
    ) -> pb.StoreMessageResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise InvalidArgument(
                "the first request must carry metadata",
                violations=[FieldViolation("metadata", "is required in the first request")],
            )
        meta = convert.raw_metadata(first.metadata)
        _tenant_attribute(meta.tenant_id)
        limit = self.ingest.config.max_message_bytes
        raw = bytearray()
        async for request in request_iterator:
            if request.WhichOneof("part") != "chunk":
                raise InvalidArgument(
                    "only the first request carries metadata; the others carry chunks",
                    violations=[FieldViolation("metadata", "must be sent once, first")],
                )
            raw += request.chunk
            # Refused as soon as it is too big: the rest of the stream is never buffered.
            validation.check_limit(
                "raw message size in bytes", len(raw), limit, "EMAILSTORE_MAX_MESSAGE_BYTES"
            )
        result = await self.ingest.ingest(meta, bytes(raw))
        return convert.store_response(result)

    async def GetRawMessage(
        self, request: pb.GetRawMessageRequest, context: Context
    ) -> AsyncIterator[pb.RawChunk]:
        _tenant_attribute(request.tenant_id)
        trace.get_current_span().set_attribute("emailstore.storage_key", request.storage_key)
        pieces = await self.ingest.raw_message(request.tenant_id, request.storage_key)
        async for piece in pieces:
            yield pb.RawChunk(data=piece)

    async def UploadBlob(
        self, request_iterator: AsyncIterator[pb.UploadBlobRequest], context: Context
    ) -> pb.Blob:
        async def parts() -> AsyncIterator[UploadPart]:
            async for request in request_iterator:
                yield convert.upload_part(request)

        blob = await self.blobs.upload(parts())
        return pb.Blob(
            sha256=blob.sha256, size_bytes=blob.size_bytes, stored_size_bytes=blob.stored_size_bytes
        )

    async def QueryUpload(
        self, request: pb.QueryUploadRequest, context: Context
    ) -> pb.QueryUploadResponse:
        _tenant_attribute(request.tenant_id)
        status = await self.blobs.query_upload(request.tenant_id, request.upload_id)
        return pb.QueryUploadResponse(
            committed_size=status.committed_size, complete=status.complete
        )

    async def FindMissingBlobs(
        self, request: pb.FindMissingBlobsRequest, context: Context
    ) -> pb.FindMissingBlobsResponse:
        _tenant_attribute(request.tenant_id)
        missing = await self.blobs.find_missing(request.tenant_id, list(request.sha256))
        return pb.FindMissingBlobsResponse(missing_sha256=missing)

    async def DownloadAttachment(
        self, request: pb.DownloadAttachmentRequest, context: Context
    ) -> AsyncIterator[pb.DownloadChunk]:
        _tenant_attribute(request.tenant_id)
        pieces = await self.blobs.download(
            DownloadRequest(
                tenant_id=request.tenant_id,
                storage_key=request.storage_key,
                attachment_id=request.attachment_id,
                blob_sha256=request.blob_sha256,
                read_offset=request.read_offset,
                read_limit=request.read_limit,
            )
        )
        async for piece in pieces:
            yield pb.DownloadChunk(data=piece)

    async def StoreMessage(
        self, request: pb.StoreMessageRequest, context: Context
    ) -> pb.StoreMessageResponse:
        _tenant_attribute(request.tenant_id)
        result = await self.messages.store_message(convert.store_request(request))
        return convert.store_response(result)

    async def StoreMessages(
        self,
        request_iterator: AsyncIterator[pb.StoreMessageRequest | Rejected],
        context: Context,
    ) -> AsyncIterator[pb.StoreMessageResponse]:
        # Requests are stored concurrently (up to STREAM_WINDOW in flight, each in its own
        # transaction) while responses go back strictly in request order.
        pending: asyncio.Queue[asyncio.Task[pb.StoreMessageResponse] | None] = asyncio.Queue(
            maxsize=STREAM_WINDOW
        )

        async def store_one(request: pb.StoreMessageRequest | Rejected) -> pb.StoreMessageResponse:
            try:
                if isinstance(request, Rejected):
                    raise request.error  # undecodable: this item fails, the stream goes on
                result = await self.messages.store_message(convert.store_request(request))
            except EmailStoreError as exc:
                return pb.StoreMessageResponse(error=to_rpc_status(exc))
            except Exception as exc:
                log.error("StoreMessages item failed", exc_info=exc)
                return pb.StoreMessageResponse(error=to_rpc_status(exc))
            return convert.store_response(result)

        async def read_requests() -> None:
            try:
                async for request in request_iterator:
                    await pending.put(asyncio.create_task(store_one(request)))
            finally:
                await pending.put(None)

        reader = asyncio.create_task(read_requests())
        stored = failed = 0
        try:
            while (task := await pending.get()) is not None:
                response = await task
                if response.HasField("error"):
                    failed += 1
                else:
                    stored += 1
                yield response
            await reader  # surfaces a broken request stream
        finally:
            reader.cancel()
            while not pending.empty():
                leftover = pending.get_nowait()
                if leftover is not None:
                    leftover.cancel()
            span = trace.get_current_span()
            span.set_attribute("emailstore.stored_messages", stored)
            span.set_attribute("emailstore.failed_messages", failed)

    async def GetMessage(self, request: pb.GetMessageRequest, context: Context) -> pb.Message:
        _tenant_attribute(request.tenant_id)
        trace.get_current_span().set_attribute("emailstore.storage_key", request.storage_key)
        message = await self.messages.get_message(
            request.tenant_id, request.storage_key, convert.view(request.view)
        )
        return convert.message(message)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        _tenant_attribute(request.tenant_id)
        page = await self.messages.list_messages(convert.list_request(request))
        return pb.ListMessagesResponse(
            messages=[convert.message(m) for m in page.messages],
            next_page_token=page.next_page_token,
        )

    async def DeleteMessage(
        self, request: pb.DeleteMessageRequest, context: Context
    ) -> empty_pb2.Empty:
        _tenant_attribute(request.tenant_id)
        trace.get_current_span().set_attribute("emailstore.storage_key", request.storage_key)
        await self.messages.delete_message(request.tenant_id, request.storage_key)
        return empty_pb2.Empty()

    async def GetStorageUsage(
        self, request: pb.GetStorageUsageRequest, context: Context
    ) -> pb.StorageUsage:
        _tenant_attribute(request.tenant_id)
        return convert.storage_usage(await self.messages.storage_usage(request.tenant_id))

    # ------------------------------------------ contract RPCs of later issues

    async def UpdateMessageStatus(self, request: Any, context: Context) -> Any:
        raise _not_yet("UpdateMessageStatus")

    async def SearchMessages(self, request: Any, context: Context) -> Any:
        raise _not_yet("SearchMessages")

    async def GetThread(self, request: Any, context: Context) -> Any:
        raise _not_yet("GetThread")

    async def ListMessageEvents(self, request: Any, context: Context) -> Any:
        raise _not_yet("ListMessageEvents")

    async def GetCampaignStats(self, request: Any, context: Context) -> Any:
        raise _not_yet("GetCampaignStats")

    async def ListChanges(self, request: Any, context: Context) -> Any:
        raise _not_yet("ListChanges")

    async def WatchChanges(self, request: Any, context: Context) -> Any:
        raise _not_yet("WatchChanges")
        yield

    async def ArchiveMessage(self, request: Any, context: Context) -> Any:
        raise _not_yet("ArchiveMessage")

    async def SetLegalHold(self, request: Any, context: Context) -> Any:
        raise _not_yet("SetLegalHold")

    async def SetRetentionPolicy(self, request: Any, context: Context) -> Any:
        raise _not_yet("SetRetentionPolicy")

    async def PurgeExpired(self, request: Any, context: Context) -> Any:
        raise _not_yet("PurgeExpired")

    async def EraseLead(self, request: Any, context: Context) -> Any:
        raise _not_yet("EraseLead")

    async def ExportMessages(self, request: Any, context: Context) -> Any:
        raise _not_yet("ExportMessages")
        yield

"""The EmailStore servicer: proto in, use case, proto out. No SQL, no business rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf import empty_pb2
from opentelemetry import trace

from service.api import convert
from service.api.requests import Rejected
from service.api.status import is_internal, to_rpc_status
from service.core import governance, validation
from service.core.analytics import AnalyticsService
from service.core.downloads import DownloadService
from service.core.events import EventService
from service.core.export import ExportService
from service.core.feed import FeedService
from service.core.governance import GovernanceService
from service.core.ingest import IngestService
from service.core.messages import MessageService
from service.core.search import SearchService
from service.core.uploads import UploadService
from service.errors import InvalidArgument
from service.models import Caller, UploadPart

log = logging.getLogger(__name__)

Context = grpc.aio.ServicerContext[Any, Any]

# StoreMessages keeps this many requests of one stream in flight at once.
STREAM_WINDOW = 64
# Request-streaming methods whose items fail alone: an undecodable item is answered in the
# stream (the servicer receives it as a Rejected), and the stream goes on.
ITEMWISE_METHODS = frozenset(
    {"/emailstore.v1.EmailStore/StoreMessages", "/emailstore.v1.EmailStore/RecordMessageEvents"}
)


@dataclass(frozen=True)
class UseCases:
    """What the servicer calls: the use cases of service.core."""

    messages: MessageService
    ingest: IngestService
    uploads: UploadService
    downloads: DownloadService
    events: EventService
    analytics: AnalyticsService
    search: SearchService
    feed: FeedService
    export: ExportService
    governance: GovernanceService


def _caller(tenant_id: str, storage_key: str = "", field: str = "tenant_id") -> Caller:
    """The request's caller (its tenant), noted on the server span with the key it names."""
    caller = validation.caller(tenant_id, field)
    span = trace.get_current_span()
    span.set_attribute("emailstore.tenant_id", caller.tenant_id)
    if storage_key:
        span.set_attribute("emailstore.storage_key", storage_key)
    return caller


class _Itemwise(Protocol):
    """A response of a stream whose items fail alone: with an `error` field."""

    def HasField(self, name: Any) -> bool: ...


Response = TypeVar("Response", bound=_Itemwise)


async def _itemwise(
    requests: AsyncIterator[Any],
    handle: Callable[[Any], Awaitable[Response]],
    response_type: Callable[..., Response],
) -> AsyncIterator[Response]:
    """The responses of a request stream whose items fail alone, in request order. Requests
    are handled concurrently (up to STREAM_WINDOW in flight: the use cases group them); an
    item that fails (or could not be decoded: a Rejected) answers with its error in `error`,
    and the stream goes on."""
    pending: asyncio.Queue[asyncio.Task[Response] | None] = asyncio.Queue(maxsize=STREAM_WINDOW)

    async def item(request: Any) -> Response:
        try:
            if isinstance(request, Rejected):
                raise request.error  # undecodable: this item fails, the stream goes on
            return await handle(request)
        except Exception as exc:
            if is_internal(exc):
                log.error("stream item failed", exc_info=exc)
            return response_type(error=to_rpc_status(exc))

    async def read_requests() -> None:
        try:
            async for request in requests:
                await pending.put(asyncio.create_task(item(request)))
        finally:
            await pending.put(None)

    reader = asyncio.create_task(read_requests())
    done = failed = 0
    try:
        while (task := await pending.get()) is not None:
            response = await task
            if response.HasField("error"):
                failed += 1
            else:
                done += 1
            yield response
        await reader  # surfaces a broken request stream
    finally:
        reader.cancel()
        while not pending.empty():
            leftover = pending.get_nowait()
            if leftover is not None:
                leftover.cancel()
        span = trace.get_current_span()
        span.set_attribute("emailstore.items_done", done)
        span.set_attribute("emailstore.items_failed", failed)


class EmailStoreServicer(pb_grpc.EmailStoreServicer):
    """Implements emailstore.v1.EmailStore over the use cases in service.core."""

    def __init__(self, cases: UseCases, max_message_bytes: int) -> None:
        self.cases = cases
        self.max_message_bytes = max_message_bytes

    async def StoreMessage(
        self, request: pb.StoreMessageRequest, context: Context
    ) -> pb.StoreMessageResponse:
        caller = _caller(request.tenant_id)
        result = await self.cases.messages.store_message(caller, convert.store_request(request))
        return convert.store_response(result)

    async def StoreMessages(
        self,
        request_iterator: AsyncIterator[pb.StoreMessageRequest | Rejected],
        context: Context,
    ) -> AsyncIterator[pb.StoreMessageResponse]:
        async def one(request: pb.StoreMessageRequest) -> pb.StoreMessageResponse:
            caller = validation.caller(request.tenant_id)
            result = await self.cases.messages.store_message(caller, convert.store_request(request))
            return convert.store_response(result)

        async for response in _itemwise(request_iterator, one, pb.StoreMessageResponse):
            yield response

    async def IngestRawMessage(
        self, request_iterator: AsyncIterator[pb.IngestRawMessageRequest], context: Context
    ) -> pb.StoreMessageResponse:
        first = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("part") != "metadata":
            raise InvalidArgument.field("metadata", "is required in the first request")
        caller = _caller(first.metadata.tenant_id, field="metadata.tenant_id")
        meta = convert.raw_metadata(first.metadata)
        raw = bytearray()
        async for request in request_iterator:
            if request.WhichOneof("part") != "chunk":
                raise InvalidArgument.field("metadata", "must be sent once, first")
            raw += request.chunk
            # Refused as soon as it is too big: the rest of the stream is never buffered.
            validation.check_limit(
                "raw message size in bytes",
                len(raw),
                self.max_message_bytes,
                "EMAILSTORE_MAX_MESSAGE_BYTES",
            )
        result = await self.cases.ingest.ingest(caller, meta, bytes(raw))
        return convert.store_response(result)

    async def GetRawMessage(
        self, request: pb.GetRawMessageRequest, context: Context
    ) -> AsyncIterator[pb.RawChunk]:
        caller = _caller(request.tenant_id, request.storage_key)
        pieces = await self.cases.ingest.raw_message(caller, request.storage_key)
        async for piece in pieces:
            yield pb.RawChunk(data=piece)

    async def UploadBlob(
        self, request_iterator: AsyncIterator[pb.UploadBlobRequest], context: Context
    ) -> pb.Blob:
        async def parts() -> AsyncIterator[UploadPart]:
            async for request in request_iterator:
                yield convert.upload_part(request)

        blob = await self.cases.uploads.upload(parts())
        return pb.Blob(
            sha256=blob.sha256, size_bytes=blob.size_bytes, stored_size_bytes=blob.stored_size_bytes
        )

    async def QueryUpload(
        self, request: pb.QueryUploadRequest, context: Context
    ) -> pb.QueryUploadResponse:
        caller = _caller(request.tenant_id)
        status = await self.cases.uploads.query_upload(caller, request.upload_id)
        return pb.QueryUploadResponse(
            committed_size=status.committed_size, complete=status.complete
        )

    async def FindMissingBlobs(
        self, request: pb.FindMissingBlobsRequest, context: Context
    ) -> pb.FindMissingBlobsResponse:
        caller = _caller(request.tenant_id)
        missing = await self.cases.uploads.find_missing(caller, list(request.sha256))
        return pb.FindMissingBlobsResponse(missing_sha256=missing)

    async def DownloadAttachment(
        self, request: pb.DownloadAttachmentRequest, context: Context
    ) -> AsyncIterator[pb.DownloadChunk]:
        caller = _caller(request.tenant_id, request.storage_key)
        pieces = await self.cases.downloads.download(caller, convert.download_request(request))
        async for piece in pieces:
            yield pb.DownloadChunk(data=piece)

    async def GetMessage(self, request: pb.GetMessageRequest, context: Context) -> pb.Message:
        caller = _caller(request.tenant_id, request.storage_key)
        message = await self.cases.messages.get_message(
            caller, request.storage_key, convert.view(request.view)
        )
        return convert.message(message)

    async def ListMessages(
        self, request: pb.ListMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        caller = _caller(request.tenant_id)
        page = await self.cases.messages.list_messages(caller, convert.list_request(request))
        return pb.ListMessagesResponse(
            messages=[convert.message(m) for m in page.messages],
            next_page_token=page.next_page_token,
        )

    async def DeleteMessage(
        self, request: pb.DeleteMessageRequest, context: Context
    ) -> empty_pb2.Empty:
        caller = _caller(request.tenant_id, request.storage_key)
        await self.cases.messages.delete_message(caller, request.storage_key)
        return empty_pb2.Empty()

    async def GetStorageUsage(
        self, request: pb.GetStorageUsageRequest, context: Context
    ) -> pb.StorageUsage:
        caller = _caller(request.tenant_id)
        return convert.storage_usage(await self.cases.messages.storage_usage(caller))

    async def UpdateMessageStatus(
        self, request: pb.UpdateMessageStatusRequest, context: Context
    ) -> pb.Message:
        caller = _caller(request.tenant_id, request.storage_key)
        result = await self.cases.events.record(caller, convert.status_event(request))
        return convert.message(result.message)

    async def RecordMessageEvents(
        self,
        request_iterator: AsyncIterator[pb.UpdateMessageStatusRequest | Rejected],
        context: Context,
    ) -> AsyncIterator[pb.RecordMessageEventResponse]:
        async def one(request: pb.UpdateMessageStatusRequest) -> pb.RecordMessageEventResponse:
            caller = validation.caller(request.tenant_id)
            result = await self.cases.events.record(caller, convert.status_event(request))
            return convert.event_response(result)

        async for response in _itemwise(request_iterator, one, pb.RecordMessageEventResponse):
            yield response

    async def SearchMessages(
        self, request: pb.SearchMessagesRequest, context: Context
    ) -> pb.ListMessagesResponse:
        caller = _caller(request.tenant_id)
        page = await self.cases.search.search(caller, convert.search_request(request))
        return pb.ListMessagesResponse(
            messages=[convert.message(m) for m in page.messages],
            next_page_token=page.next_page_token,
        )

    async def GetThread(self, request: pb.GetThreadRequest, context: Context) -> pb.Thread:
        caller = _caller(request.tenant_id)
        found = await self.cases.analytics.thread(caller, request.thread_id)
        return pb.Thread(thread_id=request.thread_id, messages=[convert.message(m) for m in found])

    async def ListMessageEvents(
        self, request: pb.ListMessageEventsRequest, context: Context
    ) -> pb.ListMessageEventsResponse:
        caller = _caller(request.tenant_id, request.storage_key)
        found = await self.cases.events.history(caller, request.storage_key)
        return pb.ListMessageEventsResponse(events=[convert.message_event(e) for e in found])

    async def GetCampaignStats(
        self, request: pb.GetCampaignStatsRequest, context: Context
    ) -> pb.CampaignStats:
        caller = _caller(request.tenant_id)
        stats = await self.cases.analytics.campaign_stats(
            caller, convert.campaign_stats_request(request)
        )
        return convert.campaign_stats(stats)

    async def ListChanges(
        self, request: pb.ListChangesRequest, context: Context
    ) -> pb.ListChangesResponse:
        caller = _caller(request.tenant_id)
        page = await self.cases.feed.list_changes(caller, request.since_sequence, request.page_size)
        return pb.ListChangesResponse(
            changes=[convert.change(c) for c in page.changes], next_sequence=page.next_sequence
        )

    async def WatchChanges(
        self, request: pb.WatchChangesRequest, context: Context
    ) -> AsyncIterator[pb.Change]:
        caller = _caller(request.tenant_id)
        async for change in self.cases.feed.watch(caller, request.since_sequence):
            yield convert.change(change)

    async def ArchiveMessage(
        self, request: pb.ArchiveMessageRequest, context: Context
    ) -> pb.Message:
        caller = _caller(request.tenant_id, request.storage_key)
        message = await self.cases.messages.archive_message(
            caller, request.storage_key, request.archived
        )
        return convert.message(message)

    async def SetLegalHold(self, request: pb.SetLegalHoldRequest, context: Context) -> pb.LegalHold:
        caller = _caller(request.tenant_id, request.storage_key)
        hold = await self.cases.governance.set_legal_hold(
            caller, convert.legal_hold_request(request)
        )
        return convert.legal_hold(hold)

    async def ListLegalHolds(
        self, request: pb.ListLegalHoldsRequest, context: Context
    ) -> pb.ListLegalHoldsResponse:
        caller = _caller(request.tenant_id)
        holds = await self.cases.governance.list_legal_holds(caller, request.include_lifted)
        return pb.ListLegalHoldsResponse(holds=[convert.legal_hold(h) for h in holds])

    async def SetRetentionPolicy(
        self, request: pb.SetRetentionPolicyRequest, context: Context
    ) -> pb.RetentionPolicy:
        caller = _caller(request.tenant_id)
        policy = await self.cases.governance.set_retention(caller, request.retention_days)
        return convert.retention_policy(caller.tenant_id, policy)

    async def GetRetentionPolicy(
        self, request: pb.GetRetentionPolicyRequest, context: Context
    ) -> pb.RetentionPolicy:
        caller = _caller(request.tenant_id)
        policy = await self.cases.governance.get_retention(caller)
        return convert.retention_policy(caller.tenant_id, policy)

    async def PurgeExpired(
        self, request: pb.PurgeExpiredRequest, context: Context
    ) -> pb.PurgeResult:
        caller = _caller(request.tenant_id)
        return convert.purge_result(await self.cases.governance.purge(caller, request.limit))

    async def EraseLead(self, request: pb.EraseLeadRequest, context: Context) -> pb.EraseResult:
        caller = _caller(request.tenant_id)
        subject = governance.erase_subject(request.lead_id, request.email)
        result = await self.cases.governance.erase(caller, subject, request.requested_by)
        return convert.erase_result(result)

    async def ExportMessages(
        self, request: pb.ExportMessagesRequest, context: Context
    ) -> AsyncIterator[pb.ExportChunk]:
        caller = _caller(request.tenant_id)
        async for piece in self.cases.export.export(caller, convert.export_request(request)):
            yield pb.ExportChunk(
                data=piece.data,
                messages_done=piece.messages_done,
                messages_total=piece.messages_total,
            )

"""ExportMessages: a filtered set of messages as one mbox (mboxrd) stream, in bounded memory.

The messages are listed a page at a time (ListMessages filters or a SearchMessages query, newest
first), and each is streamed from GetRawMessage's reader through the mbox quoter
(`service.codec.mbox`, which documents the byte-exact convention) into pieces of CHUNK_SIZE.
What is held at any moment: one page of metadata, one raw piece and one outgoing piece, and
the next message's reader, opened ahead (its content row: the pack's small parts).

messages_total, on the first piece, is the number of messages the filters select (one
count(*) over ListMessages' own conditions, `service/store/sql/export.sql`); 0 for a query,
whose matches are known only once found.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from opentelemetry import trace

from service.codec import mbox
from service.codec.blobs import CHUNK_SIZE, ChunkBuffer
from service.core import validation
from service.core.ingest import IngestService
from service.core.messages import MessageService
from service.core.ports import Transactions
from service.core.search import SearchService
from service.errors import InvalidArgument, NotFound
from service.models import (
    Caller,
    ExportInput,
    ListMessagesInput,
    Message,
    MessageFilter,
    SearchMessagesInput,
)

# Messages listed per page: metadata only, so a page is small; a round trip per 100 messages
# is nothing next to reading their content.
PAGE_SIZE = 100


@dataclass(frozen=True)
class ExportPiece:
    """The next bytes of the mbox; messages_done: messages complete so far, these included;
    messages_total: on the first piece, how many messages match (0 when unknown)."""

    data: bytes
    messages_done: int
    messages_total: int = 0


class ExportService:
    """Streams messages as mbox."""

    def __init__(
        self,
        db: Transactions,
        messages: MessageService,
        search: SearchService,
        ingest: IngestService,
    ) -> None:
        self.db = db
        self.messages = messages
        self.search = search
        self.ingest = ingest

    async def export(self, caller: Caller, request: ExportInput) -> AsyncIterator[ExportPiece]:
        """The mbox of the selected messages, newest first, in pieces of CHUNK_SIZE (the last
        shorter); nothing at all when no message matches. A message deleted while the export
        runs is left out."""
        if request.query and request.has_filter and request.filter != MessageFilter():
            raise InvalidArgument.field(
                "query", "cannot be combined with filters: give filters or a query, not both"
            )
        total = 0
        if not request.query:
            validation.list_messages(ListMessagesInput(request.filter, PAGE_SIZE))
            async with self.db.statement(caller, "count_export") as tx:
                total = await tx.export.count_messages(request.filter)
        done = exported_bytes = 0
        async for data, done in self._mbox(caller, request):
            yield ExportPiece(data, done, total if exported_bytes == 0 else 0)
            exported_bytes += len(data)
        span = trace.get_current_span()
        span.set_attribute("emailstore.export_messages", done)
        span.set_attribute("emailstore.export_bytes", exported_bytes)

    async def _mbox(self, caller: Caller, request: ExportInput) -> AsyncIterator[tuple[bytes, int]]:
        """The mbox in pieces of CHUNK_SIZE, each with the number of messages complete."""
        out = ChunkBuffer()
        done = 0
        async for message, pieces in self._opened(caller, request):
            sender = message.envelope.from_address
            out.append(mbox.from_line(sender.email if sender else "", message.times.created_at))
            quoter = mbox.Quoter()
            async for piece in pieces:
                out.append(quoter.feed(piece))
                for ready in out.take(out.size // CHUNK_SIZE * CHUNK_SIZE):
                    yield bytes(ready), done
            out.append(quoter.finish())
            out.append(mbox.END_OF_ENTRY)
            done += 1
            for ready in out.take(out.size // CHUNK_SIZE * CHUNK_SIZE):
                yield bytes(ready), done
        for rest in out.take(out.size):
            yield bytes(rest), done

    async def _opened(
        self, caller: Caller, request: ExportInput
    ) -> AsyncIterator[tuple[Message, AsyncIterator[bytes]]]:
        """The selected messages with their raw readers, the next message opened (its content
        row read) while the one before streams, so the round trips of one message overlap
        the bytes of the other. A message deleted since it was listed is left out."""
        ahead: tuple[Message, asyncio.Task[AsyncIterator[bytes]]] | None = None
        try:
            async for message in _then_none(self._selected(caller, request)):
                previous, ahead = ahead, None
                if message is not None:
                    key = message.storage_key
                    ahead = (message, asyncio.create_task(self.ingest.raw_message(caller, key)))
                if previous is not None:
                    pieces = await _unless_gone(previous[1])
                    if pieces is not None:
                        yield previous[0], pieces
        finally:
            if ahead is not None:  # the client went away: the message opened ahead is not read
                ahead[1].add_done_callback(_consume)
                ahead[1].cancel()

    async def _selected(self, caller: Caller, request: ExportInput) -> AsyncIterator[Message]:
        """The selected messages, a page at a time (the first page is read, and the request
        checked, before anything is sent)."""
        token = ""
        while True:
            if request.query:
                page = await self.search.search(
                    caller, SearchMessagesInput(request.query, PAGE_SIZE, token)
                )
            else:
                page = await self.messages.list_messages(
                    caller, ListMessagesInput(request.filter, PAGE_SIZE, token)
                )
            for message in page.messages:
                yield message
            token = page.next_page_token
            if not token:
                return


async def _unless_gone(
    opening: asyncio.Task[AsyncIterator[bytes]],
) -> AsyncIterator[bytes] | None:
    """The opened reader; None when the message was deleted since it was listed."""
    try:
        return await opening
    except NotFound:
        return None


def _consume(task: asyncio.Task[AsyncIterator[bytes]]) -> None:
    """Retrieves a discarded task's outcome (so no error is reported as never retrieved)."""
    if not task.cancelled():
        task.exception()


async def _then_none(messages: AsyncIterator[Message]) -> AsyncIterator[Message | None]:
    """The messages, then None (the loop's last turn, for the message opened ahead)."""
    async for message in messages:
        yield message
    yield None

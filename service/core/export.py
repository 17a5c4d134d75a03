"""ExportMessages: a filtered set of messages as one mbox (mboxrd) stream, in bounded memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from service.core.ingest import IngestService
from service.core.messages import MessageService
from service.core.ports import Transactions
from service.core.search import SearchService
from service.errors import Unimplemented
from service.models import Caller, ExportInput


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
        """The mbox of the selected messages, newest first, in pieces."""
        raise Unimplemented("ExportMessages is not implemented yet")
        yield ExportPiece(b"", 0)

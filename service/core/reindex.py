"""The search backfill: vectors for messages stored before SearchMessages existed.

Messages written before migration 0013 have no search vector and no address line, so text
and address terms cannot find them. `SearchBackfill` reads them back (oldest first, a batch
at a time, through the same content reader as GetMessage), builds their vectors with the
code that builds new messages' (service.codec.searchtext), and writes them in one statement
per batch, only where none is set yet. The server runs it in the background after it starts
(nothing to do once it is done: the partial index email_messages_unindexed is empty), and
`emailstore reindex` runs it on demand. Stopped at any moment, it goes on from what is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.codec import searchtext
from service.core.messages import MessageService
from service.core.ports import Transactions
from service.errors import NotFound
from service.models import Caller, Message, View

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillResult:
    """What a run did for one tenant."""

    tenant_id: str
    indexed: int


def vectors_of(message: Message) -> tuple[str, str, str]:
    """(storage_key, vector literal, addresses) of a message read in the FULL view."""
    content = message.content
    text, html = (content.text_body, content.html_body) if content else ("", "")
    envelope = message.envelope
    sender = (
        [[envelope.from_address.email, envelope.from_address.name]] if envelope.from_address else []
    )
    return (
        message.storage_key,
        searchtext.document(
            envelope.subject,
            searchtext.body_text(text, html),
            [a.filename for a in message.attachments if a.filename],
        ),
        searchtext.addresses(
            sender,
            [[a.email, a.name] for a in envelope.to],
            [[a.email, a.name] for a in envelope.cc],
        ),
    )


class SearchBackfill:
    """Builds the missing search vectors of a tenant's messages, a batch at a time."""

    def __init__(self, db: Transactions, messages: MessageService, batch: int = 200) -> None:
        self.db = db
        self.messages = messages
        self.batch = batch

    async def tenant(self, caller: Caller) -> BackfillResult:
        """Every message of the tenant without a vector gets one."""
        indexed = 0
        while True:
            async with self.db.statement(caller, "unindexed") as tx:
                keys = await tx.search.unindexed(self.batch)
            if not keys:
                return BackfillResult(caller.tenant_id, indexed)
            found = []
            for key in keys:
                try:
                    message = await self.messages.get_message(caller, key, View.FULL)
                except NotFound:
                    continue  # deleted meanwhile
                found.append(vectors_of(message))
            async with self.db.statement(caller, "set_vectors") as tx:
                indexed += await tx.search.set_vectors(found)
            if len(keys) < self.batch:
                return BackfillResult(caller.tenant_id, indexed)

    async def all_tenants(self) -> list[BackfillResult]:
        """Every known tenant, one after the other."""
        results = []
        after: str | None = None
        while True:
            async with self.db.control("known_tenants") as tx:
                tenants = await tx.tenants.known(after, 500)
            for tenant_id in tenants:
                results.append(await self.tenant(Caller(tenant_id)))
            if len(tenants) < 500:
                return results
            after = tenants[-1]

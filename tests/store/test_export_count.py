"""ExportMessages' count: the same messages ListMessages lists with the same filters."""

from __future__ import annotations

import uuid

from service.app import App
from service.models import Caller, Direction, ListMessagesInput, MessageFilter
from service.store.export import ExportRepository
from tests.factories import store_input


async def _count(app: App, caller: Caller, filter_: MessageFilter) -> int:
    async with app.db.statement(caller, "count_export") as tx:
        return await ExportRepository(tx.conn, caller.tenant_id).count_messages(filter_)


async def test_count_matches_the_listing(app: App, caller: Caller) -> None:
    """For each filter the count is the number of messages all pages of ListMessages give,
    archived ones only with include_archived, and never another tenant's."""
    for i in range(5):
        stored = await app.messages.store_message(
            caller, store_input(campaign_id="spring" if i % 2 else "autumn", subject=f"m{i}")
        )
    await app.messages.archive_message(caller, stored.message.storage_key, True)
    await app.messages.store_message(Caller(str(uuid.uuid4())), store_input(campaign_id="spring"))
    filters = [
        MessageFilter(),
        MessageFilter(include_archived=True),
        MessageFilter(campaign_id="spring"),
        MessageFilter(campaign_id="autumn", include_archived=True),
        MessageFilter(direction=Direction.INBOUND),
    ]
    for f in filters:
        page = await app.messages.list_messages(caller, ListMessagesInput(f, page_size=1000))
        assert await _count(app, caller, f) == len(page.messages), f
    assert await _count(app, caller, MessageFilter(include_archived=True)) == 5

"""Campaign statistics and conversations: what the platform's dashboards read."""

from __future__ import annotations

from service.core import validation
from service.core.ports import Transactions
from service.errors import NotFound
from service.models import Caller, CampaignStats, CampaignStatsInput, Message


class AnalyticsService:
    """GetCampaignStats and GetThread."""

    def __init__(self, db: Transactions) -> None:
        self.db = db

    async def campaign_stats(self, caller: Caller, request: CampaignStatsInput) -> CampaignStats:
        """The campaign's counts, per sequence step and per UTC day, aggregated by the
        database in one statement over the campaign's own messages."""
        validation.campaign_stats(request)
        async with self.db.statement(caller, "campaign_stats") as tx:
            return await tx.stats.campaign(request)

    async def thread(self, caller: Caller, thread_id: str) -> list[Message]:
        """A conversation's messages, oldest first; NotFound for one the tenant lacks."""
        wanted = validation.thread_id(thread_id)
        async with self.db.statement(caller, "get_thread") as tx:
            found = await tx.messages.thread(wanted, validation.MAX_THREAD_MESSAGES)
        if not found:
            raise NotFound(f"thread {wanted!r} not found")
        return found

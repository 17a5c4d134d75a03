"""The change feed: a tenant's pages of changes, the sequencer, pruning, and the listener that
wakes watchers when another server numbered changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from service.core.ports import FeedPage
from service.models import Change, ChangeKind, MessageStatus
from service.store.queries import query

log = logging.getLogger(__name__)

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database

CHANNEL = "emailstore_changes"


_KINDS = {k.value: k for k in ChangeKind}
_STATUSES = {s.value: s for s in MessageStatus}


class FeedRepository:
    """changes and feed_state (the connection is the unit of work's)."""

    def __init__(self, conn: AsyncConn, tenant_id: str | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def page(self, since: int, limit: int) -> FeedPage:
        """The tenant's changes after `since`, at most `limit`, in order (read as tuples:
        a page is up to a thousand rows, and ListChanges is read in bulk by ETLs)."""
        cur = self._conn.cursor()
        await cur.execute(
            query("feed", "page"),
            {"tenant_id": self._tenant, "since": since, "limit": limit},
            prepare=True,
        )
        found = await cur.fetchall()
        changes = [
            Change(
                sequence=sequence,
                storage_key=key,
                kind=_KINDS[kind],
                at=at,
                status=_STATUSES.get(status),
                campaign_id=campaign or "",
                lead_id=lead or "",
            )
            for _, sequence, key, kind, at, status, campaign, lead in found
            if sequence is not None
        ]
        return FeedPage(changes, int(found[0][0]) if found else 0)

    async def number_pending(self, limit: int) -> int | None:
        """Numbers the changes every ended transaction left, in commit order (the control
        plane's transaction); None when another sequencer holds the claim."""
        cur = await self._conn.execute(query("feed", "claim_sequencer"))
        claimed = await cur.fetchone()
        if not claimed or not claimed[0]:
            return None
        cur = await self._conn.execute(query("feed", "number_pending"), {"limit": limit})
        row = await cur.fetchone()
        numbered = int(row[0]) if row else 0
        if numbered:
            await self._conn.execute(query("feed", "notify"))
        return numbered

    async def prune(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` numbered changes older than `before` (the control plane's
        transaction); how many."""
        await self._conn.execute(query("feed", "claim_pruner"))
        cur = await self._conn.execute(query("feed", "prune"), {"before": before, "limit": limit})
        row = await cur.fetchone()
        return int(row[0]) if row else 0


class FeedListener:
    """LISTENs on the feed's channel on a connection of its own, and calls `wake` for every
    notification (changes numbered by any server) and whenever it (re)connects, since
    notifications sent meanwhile are lost. Reconnects with backoff while the database is
    away; watchers poll once a second anyway, so a lost wake-up only delays them."""

    def __init__(self, conninfo: str, wake: Callable[[], None]) -> None:
        self.conninfo = conninfo
        self.wake = wake
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts listening in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="feed-listener")

    async def stop(self) -> None:
        """Stops listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True, connect_timeout=5
                )
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    backoff = 0.2
                    self.wake()
                    async for _ in conn.notifies():
                        self.wake()
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                log.info("feed listener: %s; reconnecting", type(exc).__name__)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

"""The change feed: ListChanges, WatchChanges, and the background work that keeps it.

Every create, update (status event, archive, content change) and delete of a message appends
a change in the transaction that makes it (the write statements insert into `changes`). The
rows are numbered afterwards, in commit order, by the sequencer (migration 0012 says why a
sequence taken at write time would not do): every server runs `run_sequencer`, one of them at
a time numbers what committed transactions left, and notifies every server's watchers. So
`sequence` only grows as a reader follows the feed, and nothing committed is ever skipped; a
long transaction's change is numbered when it commits.

`WatchChanges` replays from `since_sequence`, then waits for a wake-up (the sequencer in this
process, or a NOTIFY from another one; and once a second in any case) and reads what is new:
the notification is only a wake-up, the data always comes from the table. When the database
goes away, the stream ends with UNAVAILABLE, and the caller resumes from the last sequence it
received. Changes older than EMAILSTORE_CHANGES_RETENTION_S are pruned; asking for changes after
a sequence that was pruned is FAILED_PRECONDITION: the caller has missed changes and must
resync from ListMessages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from service.config import Config
from service.core.ports import FeedPage, Transactions
from service.errors import FailedPrecondition, InvalidArgument, Unavailable
from service.models import Caller, Change, ChangePage

log = logging.getLogger(__name__)

DEFAULT_PAGE = 100
MAX_PAGE = 1000
SEQUENCER_INTERVAL_S = 0.05
SEQUENCER_BATCH = 10_000
PRUNE_BATCH = 10_000
WATCH_POLL_S = 1.0


class Wakeup:
    """A broadcast: `fired()` gives what to wait on; `fire()` wakes everyone waiting on it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fired(self) -> asyncio.Event:
        """The event the next fire() sets (take it before reading, so no fire is missed)."""
        return self._event

    def fire(self) -> None:
        """Wakes every waiter."""
        self._event.set()
        self._event = asyncio.Event()


def _since(value: int) -> int:
    if value < 0:
        raise InvalidArgument.field("since_sequence", "must not be negative")
    return value


def _page_size(value: int) -> int:
    if value < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE, MAX_PAGE)


def _checked(page: FeedPage, since: int) -> FeedPage:
    if since and since < page.pruned_through:
        raise FailedPrecondition(
            f"changes after sequence {since} are no longer kept (the feed keeps "
            f"changes after {page.pruned_through}): resync from ListMessages, then follow "
            f"the feed from the newest sequence"
        )
    return page


class FeedService:
    """ListChanges and WatchChanges, the sequencer and the pruner."""

    def __init__(self, config: Config, db: Transactions) -> None:
        self.config = config
        self.db = db
        self.wakeup = Wakeup()
        self._closing = asyncio.Event()

    async def list_changes(self, caller: Caller, since_sequence: int, page_size: int) -> ChangePage:
        """The tenant's changes after since_sequence (0: from the oldest kept), in order."""
        since, limit = _since(since_sequence), _page_size(page_size)
        async with self.db.statement(caller, "list_changes") as tx:
            page = _checked(await tx.feed.page(since, limit), since)
        last = page.changes[-1].sequence if page.changes else since
        return ChangePage(tuple(page.changes), last)

    async def watch(self, caller: Caller, since_sequence: int) -> AsyncIterator[Change]:
        """The tenant's changes after since_sequence, then each new one as it is numbered;
        ends with Unavailable when the database goes away or the server stops."""
        since = _since(since_sequence)
        while not self._closing.is_set():
            fired = self.wakeup.fired()
            async with self.db.statement(caller, "watch_changes") as tx:
                page = _checked(await tx.feed.page(since, MAX_PAGE), since)
            for change in page.changes:
                yield change
                since = change.sequence
            if len(page.changes) == MAX_PAGE:
                continue  # more to replay
            closing = asyncio.ensure_future(self._closing.wait())
            woken = asyncio.ensure_future(fired.wait())
            try:
                await asyncio.wait(
                    {closing, woken}, timeout=WATCH_POLL_S, return_when="FIRST_COMPLETED"
                )
            finally:
                closing.cancel()
                woken.cancel()
        raise Unavailable("the server is shutting down: resume from the last sequence received")

    def close(self) -> None:
        """Ends every watch (they answer UNAVAILABLE, to resume elsewhere)."""
        self._closing.set()

    async def number_pending(self) -> int:
        """One pass of the sequencer: how many changes it numbered (0 when another server's
        sequencer held the claim)."""
        total = 0
        while True:
            async with self.db.control("number_changes") as tx:
                numbered = await tx.feed.number_pending(SEQUENCER_BATCH)
            if numbered:
                total += numbered
                self.wakeup.fire()
            if not numbered or numbered < SEQUENCER_BATCH:
                return total

    async def prune(self, now: datetime | None = None) -> int:
        """Deletes the changes older than the retention, in bounded batches; how many."""
        before = (now or datetime.now(UTC)) - timedelta(seconds=self.config.changes_retention_s)
        total = 0
        while True:
            async with self.db.control("prune_changes") as tx:
                pruned = await tx.feed.prune(before, PRUNE_BATCH)
            total += pruned
            if pruned < PRUNE_BATCH:
                return total

    async def run_sequencer(self) -> None:
        """Numbers changes every SEQUENCER_INTERVAL_S until cancelled."""
        while True:
            try:
                await self.number_pending()
            except Unavailable:
                await asyncio.sleep(0.5)  # the database is away; health says so
            except Exception:
                log.warning("change sequencer pass failed", exc_info=True)
                await asyncio.sleep(0.5)
            await asyncio.sleep(SEQUENCER_INTERVAL_S)

    async def run_pruner(self) -> None:
        """Prunes old changes, often enough to honour a retention down to one second."""
        interval = min(60.0, max(0.5, self.config.changes_retention_s / 2))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.prune()
            except Unavailable:
                pass  # the database is away; the next pass prunes
            except Exception:
                log.warning("change pruning pass failed", exc_info=True)

"""Group commit: concurrent writes of one tenant, written by one unit of work.

Under light load a group is one item and nothing waits. Under heavy load a tenant's next items
queue while its group is in flight (one group at a time per tenant, up to `concurrency`
tenants at once) and make the next group, so the database commits, and the driver encodes,
once per group instead of once per item: a transaction's fixed cost (some hundreds of
microseconds of driver CPU here) is shared by the group.

Each item stays all-or-nothing: when a group fails for a reason that might belong to one of its
items, its items are written one by one, so a bad item fails alone. When the database is
unreachable, every item of the group fails the same way at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from opentelemetry import trace

from service import deadlines
from service.errors import TransientConflict, Unavailable

log = logging.getLogger(__name__)
tracer = trace.get_tracer("emailstore.core")

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    tenant_id: str
    future: asyncio.Future[Result] = field(repr=False)
    # The caller's span: the group's span links to every caller it writes for.
    span_context: trace.SpanContext = field(repr=False)
    # The caller's deadline (time.monotonic()), None when it set none.
    deadline: float | None = None


class GroupCommit(Generic[Item, Result]):
    """Writes items in per-tenant groups with `write_group(tenant_id, items)`, which returns
    one result per item, in order. `fits(group, item)` says whether an item may join a group of its tenant
    (by default, any may); `name` names the group's span."""

    def __init__(
        self,
        write_group: Callable[[str, list[Item]], Awaitable[list[Result]]],
        *,
        name: str,
        max_batch: int = 64,
        concurrency: int = 4,
        fits: Callable[[Sequence[Item], Item], bool] | None = None,
    ) -> None:
        self.write_group = write_group
        self.name = name
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.fits = fits
        self._queue: deque[_Pending[Item, Result]] = deque()
        # Tenants a flusher is writing a group for: one unit of work per tenant at a time, so
        # that its next items wait and make one larger group, not many small ones.
        self._writing: set[str] = set()
        self._flushers = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, tenant_id: str, item: Item) -> Result:
        """Writes the item (possibly together with others of its tenant); its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        span = trace.get_current_span().get_span_context()
        self._queue.append(_Pending(item, tenant_id, future, span, deadlines.current()))
        if self._flushers < self.concurrency and tenant_id not in self._writing:
            self._flushers += 1
            # A fresh context: the flusher serves many callers, not the one that woke it.
            task = loop.create_task(self._flush(), context=contextvars.Context())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    def _take_group(self) -> list[_Pending[Item, Result]]:
        """The oldest item of a tenant no other flusher is writing for, and the queued ones of
        that tenant that fit with it (none when every queued tenant is being written)."""
        tenant = next((p.tenant_id for p in self._queue if p.tenant_id not in self._writing), None)
        if tenant is None:
            return []
        group: list[_Pending[Item, Result]] = []
        items: list[Item] = []
        rest: deque[_Pending[Item, Result]] = deque()
        while self._queue:
            pending = self._queue.popleft()
            if (
                len(group) < self.max_batch
                and pending.tenant_id == tenant
                and (self.fits is None or not items or self.fits(items, pending.item))
            ):
                group.append(pending)
                items.append(pending.item)
            else:
                rest.append(pending)
        self._queue = rest
        return group

    async def _flush(self) -> None:
        try:
            while self._queue:
                group = self._take_group()
                if not group:
                    return  # the tenants queued have their flusher: it takes them next
                tenant = group[0].tenant_id
                self._writing.add(tenant)
                try:
                    await self._settle(group)
                finally:
                    self._writing.discard(tenant)
        finally:
            self._flushers -= 1

    async def _settle(self, group: list[_Pending[Item, Result]]) -> None:
        links = [trace.Link(p.span_context) for p in group if p.span_context.is_valid]
        parent = trace.set_span_in_context(trace.NonRecordingSpan(group[0].span_context))
        # The group waits for a connection as long as its most patient caller would.
        waits = [p.deadline for p in group]
        deadlines.set_deadline(None if None in waits else max(w for w in waits if w is not None))
        try:
            with tracer.start_as_current_span(
                self.name,
                context=parent,
                links=links,
                attributes={"emailstore.group_size": len(group)},
            ):
                results = await self.write_group(group[0].tenant_id, [p.item for p in group])
        except Exception as exc:
            # The database is unreachable: every item would fail the same way.
            unreachable = isinstance(exc, Unavailable) and not isinstance(exc, TransientConflict)
            if len(group) == 1 or unreachable:
                for pending in group:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                return
            log.info("group of %d failed (%s); writing one by one", len(group), type(exc).__name__)
            for pending in group:
                await self._settle([pending])
            return
        for pending, result in zip(group, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

"""Status events and campaign statistics of one tenant (the connection is the unit of work's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from psycopg.rows import class_row

from service.core.lifecycle import Lifecycle
from service.core.ports import (
    EventIdTaken,
    KnownEvent,
    MessageState,
    NewEvent,
    StateChange,
)
from service.models import (
    CampaignStats,
    CampaignStatsInput,
    DailyCounts,
    Direction,
    Message,
    MessageEvent,
    MessageStatus,
    StatusCounts,
    Timeline,
)
from service.store import rows
from service.store.messages import MessageRepository
from service.store.queries import query
from service.store.rows import MessageRow
from service.store.statements import records

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database

# Keys of stats.sql's per-status counts, as StatusCounts names them.
_COUNTS = (
    "total_messages",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "failed",
    "hard_bounces",
    "soft_bounces",
    "unique_leads",
    "unique_leads_replied",
)
_DAILY = ("sent", "delivered", "opened", "clicked", "replied", "bounced")


@dataclass(frozen=True)
class StateRow:
    """The lifecycle columns of a message, as lock_states reads them."""

    storage_key: str
    message_id_header: str
    direction: str
    status: str
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    opened_at: datetime | None
    clicked_at: datetime | None
    replied_at: datetime | None
    bounced_at: datetime | None
    failed_at: datetime | None
    bounce: dict[str, Any] | None


@dataclass(frozen=True)
class EventRow:
    """A message_events row as history reads it."""

    event_id: str | None
    status: str
    occurred_at: datetime
    detail: dict[str, str]
    source: str
    recorded_at: datetime


def _state(row: StateRow) -> MessageState:
    timeline = Timeline(
        created_at=row.created_at,
        updated_at=row.created_at,
        sent_at=row.sent_at,
        delivered_at=row.delivered_at,
        opened_at=row.opened_at,
        clicked_at=row.clicked_at,
        replied_at=row.replied_at,
        bounced_at=row.bounced_at,
        failed_at=row.failed_at,
    )
    life = Lifecycle.of(
        Direction(row.direction), MessageStatus(row.status), timeline, rows.bounce_info(row.bounce)
    )
    return MessageState(row.storage_key, row.message_id_header, row.created_at, life)


def _change(change: StateChange) -> dict[str, Any]:
    life = change.lifecycle
    return {
        "storage_key": change.storage_key,
        "status": life.status.value,
        **{name: t.isoformat() if t else None for name, t in life.timeline_fields().items()},
        "bounce": rows.stored_bounce(life.bounce),
    }


def _event(event: NewEvent) -> dict[str, Any]:
    return {
        "storage_key": event.storage_key,
        "event_id": event.event_id,
        "status": event.status.value,
        "occurred_at": event.occurred_at.isoformat(),
        "source": event.source,
        "detail": dict(event.detail),
        "fingerprint": rows.bytea(event.fingerprint),
    }


class EventRepository:
    """message_events, and the lifecycle columns of email_messages."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def lock(
        self, storage_keys: Sequence[str], message_ids: Sequence[str]
    ) -> list[MessageState]:
        """The messages with these keys or Message-IDs, locked until the transaction ends."""
        found = await records(
            self._conn,
            StateRow,
            query("events", "lock_states"),
            {
                "tenant_id": self._tenant,
                "storage_keys": list(storage_keys),
                "message_ids": list(message_ids),
            },
        )
        return [_state(r) for r in found]

    async def known(self, event_ids: Sequence[str]) -> list[KnownEvent]:
        """The events recorded before under these ids."""
        if not event_ids:
            return []
        cur = await self._conn.execute(
            query("events", "known"), {"tenant_id": self._tenant, "event_ids": list(event_ids)}
        )
        return [
            KnownEvent(event_id, key, bytes(fp) if fp is not None else None)
            for event_id, key, fp in await cur.fetchall()
        ]

    async def record(
        self,
        events: Sequence[NewEvent],
        changes: Sequence[StateChange],
        unchanged: Sequence[str] = (),
    ) -> list[Message]:
        """Inserts the events and stores the changed lifecycles in one statement; the changed
        messages and the `unchanged` ones (with their attachments)."""
        cur = self._conn.cursor(row_factory=class_row(MessageRow))
        try:
            await cur.execute(
                query("events", "record"),
                {
                    "tenant_id": self._tenant,
                    "events": rows.jsonb([_event(e) for e in events]),
                    "changes": rows.jsonb([_change(c) for c in changes]),
                    "unchanged": list(unchanged),
                },
            )
        except pg_errors.UniqueViolation as exc:
            raise EventIdTaken(exc.diag.constraint_name or "message_events_event_id") from exc
        found: list[MessageRow] = await cur.fetchall()
        return await MessageRepository(self._conn, self._tenant).with_attachments(found)

    async def history(self, storage_key: str) -> list[MessageEvent]:
        """A message's events, in the order they occurred."""
        found = await records(
            self._conn,
            EventRow,
            query("events", "history"),
            {"tenant_id": self._tenant, "storage_key": storage_key},
        )
        return [
            MessageEvent(
                event_id=r.event_id or "",
                status=MessageStatus(r.status),
                occurred_at=r.occurred_at,
                detail=dict(r.detail),
                source=r.source,
                recorded_at=r.recorded_at,
            )
            for r in found
        ]


class StatsRepository:
    """Campaign statistics, aggregated by the database (stats.sql)."""

    def __init__(self, conn: AsyncConn, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def campaign(self, request: CampaignStatsInput) -> CampaignStats:
        """The campaign's counts, per step and per day."""
        cur = await self._conn.execute(
            query("stats", "campaign"),
            {
                "tenant_id": self._tenant,
                "campaign_id": request.campaign_id,
                "created_after": request.created_after,
                "created_before": request.created_before,
            },
        )
        row = await cur.fetchone()
        if row is None:  # aggregates always return a row
            raise RuntimeError("campaign statistics returned nothing")
        counts, answers, reasons, days = row
        by_step: dict[int, dict[str, Any]] = {}
        for c in counts:
            by_step[c["step"]] = {k: c[k] for k in _COUNTS}
        for a in answers:
            entry = by_step.setdefault(a["step"], {})
            entry["inbound_replies"] = a["inbound_replies"]
            entry["auto_replies"] = a["auto_replies"]
        reason_counts: dict[int, dict[str, int]] = {}
        for r in reasons:
            reason_counts.setdefault(r["step"], {})[r["reason"]] = r["n"]

        def counts_of(step: int) -> StatusCounts:
            return StatusCounts(
                sequence_step=max(step, 0),
                bounces_by_reason=reason_counts.get(step, {}),
                **by_step.get(step, {}),
            )

        daily: dict[str, dict[str, int]] = {}
        for d in days:
            daily.setdefault(d["day"], {})[d["k"]] = d["n"]
        return CampaignStats(
            campaign_id=request.campaign_id,
            total=counts_of(-1),
            steps=tuple(counts_of(step) for step in sorted(s for s in by_step if s >= 0)),
            days=tuple(
                DailyCounts(day, **{k: n for k, n in daily[day].items() if k in _DAILY})
                for day in sorted(daily)
            ),
        )

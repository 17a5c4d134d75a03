"""Governance rows of one tenant: legal holds, the retention policy and its application,
purge candidates, erasure batches and their audit records (migration 0015)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from service.core.ports import ErasureRecord, HeldValues, PolicyRow, Subject
from service.models import HoldScope, LegalHold
from service.store.messages import subject_condition
from service.store.queries import query
from service.store.statements import record, records

AsyncConn = Any  # psycopg.AsyncConnection[Any]; see service.store.database


def _q(name: str) -> str:
    return query("governance", name)


@dataclass(frozen=True)
class _HoldRow:
    hold_id: str
    scope: str
    value: str
    reason: str
    placed_by: str
    placed_at: datetime
    lifted_at: datetime | None

    def model(self) -> LegalHold:
        return LegalHold(
            hold_id=self.hold_id,
            scope=HoldScope(self.scope),
            value=self.value,
            reason=self.reason,
            placed_by=self.placed_by,
            placed_at=self.placed_at,
            lifted_at=self.lifted_at,
        )


@dataclass(frozen=True)
class _ApplyRow:
    last_key: str | None
    visited: int
    changed: int


class GovernanceRepository:
    """Holds, retention and erasure records of one tenant (or, in a control transaction,
    the list of tenants with a policy to apply)."""

    def __init__(self, conn: AsyncConn, tenant_id: str | None) -> None:
        self._conn = conn
        self._tenant = tenant_id

    def _params(self, **values: Any) -> dict[str, Any]:
        if self._tenant is None:
            raise RuntimeError("a control transaction has no tenant's governance rows")
        return {"tenant_id": self._tenant, **values}

    # ------------------------------------------------------------- holds

    async def lock_holds(self, *, exclusive: bool) -> None:
        """The per-tenant hold lock, for the transaction: exclusive to place or lift a
        hold, shared to delete."""
        name = "lock_holds" if exclusive else "lock_holds_shared"
        await self._conn.execute(_q(name), self._params())

    async def holds(self, *, include_lifted: bool = False) -> list[LegalHold]:
        """The tenant's holds, oldest first."""
        found = await records(
            self._conn, _HoldRow, _q("holds"), self._params(include_lifted=include_lifted)
        )
        return [r.model() for r in found]

    async def place_hold(
        self, scope: HoldScope, value: str, reason: str, placed_by: str
    ) -> tuple[LegalHold, bool]:
        """Places a hold; (the hold, True), or (the one in force already, False)."""
        params = self._params(scope=scope.value, value=value, reason=reason, placed_by=placed_by)
        placed = await record(self._conn, _HoldRow, _q("place_hold"), params)
        if placed is not None:
            return placed.model(), True
        existing = await record(self._conn, _HoldRow, _q("hold_in_force"), params)
        if existing is None:  # the conflict was with a hold in force, under our lock
            raise RuntimeError("hold conflict without a hold in force")
        return existing.model(), False

    async def lift_hold(self, scope: HoldScope, value: str) -> LegalHold | None:
        """Lifts the hold in force on this scope and value; None when there is none."""
        found = await record(
            self._conn, _HoldRow, _q("lift_hold"), self._params(scope=scope.value, value=value)
        )
        return found.model() if found is not None else None

    async def normalise_address(self, email: str) -> str:
        """An address as the database compares it (emailstore_address_key)."""
        cur = await self._conn.execute(_q("normalise_address"), {"email": email})
        row = await cur.fetchone()
        return str(row[0]) if row is not None else email

    # ------------------------------------------------------------- retention

    async def policy(self) -> PolicyRow | None:
        """The tenant's policy row; None when it never had one."""
        return await record(self._conn, PolicyRow, _q("get_policy"), self._params())

    async def set_policy(self, retention_days: int) -> PolicyRow:
        """Sets the policy and queues its application to older messages."""
        found = await record(
            self._conn, PolicyRow, _q("set_policy"), self._params(retention_days=retention_days)
        )
        if found is None:
            raise RuntimeError("set_policy returned nothing")
        return found

    async def lock_policy(self) -> tuple[int, str | None] | None:
        """The retention in force and where its application is, locked; None when the
        tenant has no policy row."""
        cur = await self._conn.execute(_q("lock_policy"), self._params())
        row = await cur.fetchone()
        return (int(row[0]), row[1]) if row is not None else None

    async def apply_policy(self, days: int, after: str, limit: int) -> tuple[str | None, int]:
        """Brings a batch of messages after `after` to the policy: (last key, changed)."""
        found = await record(
            self._conn,
            _ApplyRow,
            _q("apply_policy"),
            self._params(days=days, after=after, limit=limit),
        )
        if found is None or found.last_key is None:
            return None, 0
        return found.last_key, found.changed

    async def advance_policy(self, after: str | None) -> None:
        """Notes where the application got to, or (None) that it is done."""
        if after is None:
            await self._conn.execute(_q("policy_applied"), self._params())
        else:
            await self._conn.execute(_q("advance_policy"), self._params(after=after))

    async def pending_tenants(self, limit: int) -> list[str]:
        """Control plane: tenants with a policy still to apply."""
        cur = await self._conn.execute(_q("pending_tenants"), {"limit": limit})
        return [row[0] for row in await cur.fetchall()]

    # ------------------------------------------------------------- purge, erasure

    async def expired(self, days: int, holds: HeldValues, limit: int) -> list[str]:
        """A batch of expired messages no hold covers, locked."""
        cur = await self._conn.execute(
            _q("expired"),
            self._params(
                days=days,
                held_keys=list(holds.keys),
                held_leads=list(holds.leads),
                held_emails=list(holds.emails),
                limit=limit,
            ),
        )
        return [row[0] for row in await cur.fetchall()]

    async def erase_batch(self, subject: Subject, limit: int) -> list[str]:
        """A batch of the subject's messages, locked."""
        condition, params = subject_condition(subject)
        statement = sql.SQL(_q("erase_batch")).format(subject=condition)
        cur = await self._conn.execute(statement, self._params(limit=limit, **params))
        return [row[0] for row in await cur.fetchall()]

    async def erasure(self, subject_hash: bytes, *, unfinished: bool) -> ErasureRecord | None:
        """The unfinished erasure of this subject, or (unfinished False) its latest."""
        name = "unfinished_erasure" if unfinished else "last_erasure"
        return await record(
            self._conn, ErasureRecord, _q(name), self._params(subject_hash=subject_hash)
        )

    async def start_erasure(
        self, kind: str, subject_hash: bytes, requested_by: str
    ) -> ErasureRecord | None:
        """A new erasure record; None when one is unfinished already."""
        return await record(
            self._conn,
            ErasureRecord,
            _q("start_erasure"),
            self._params(subject_kind=kind, subject_hash=subject_hash, requested_by=requested_by),
        )

    async def count_erasure(
        self,
        erasure_id: str,
        *,
        messages: int,
        events: int,
        attachments: int,
        changes: int,
        freed_bytes: int,
    ) -> None:
        """Adds what a batch erased to the record."""
        await self._conn.execute(
            _q("count_erasure"),
            self._params(
                erasure_id=erasure_id,
                messages=messages,
                events=events,
                attachments=attachments,
                changes=changes,
                freed_bytes=freed_bytes,
            ),
        )

    async def finish_erasure(self, erasure_id: str) -> ErasureRecord:
        """Marks the erasure done; its record."""
        found = await record(
            self._conn, ErasureRecord, _q("finish_erasure"), self._params(erasure_id=erasure_id)
        )
        if found is None:
            raise RuntimeError(f"erasure {erasure_id} vanished")
        return found

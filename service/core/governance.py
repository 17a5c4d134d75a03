"""Governance use cases: legal holds, retention and purge, GDPR erasure.

The rules every deletion follows (DeleteMessage, PurgeExpired, EraseLead):
- it takes the tenant's hold lock shared, then reads the holds in force (placing or lifting
  a hold takes the lock exclusively), so no deletion acts on holds older than the last one
  SetLegalHold answered for;
- it deletes nothing a hold covers: a tenant-wide hold covers everything, a message hold its
  message, a lead hold every message with that lead_id, an address hold every message naming
  the address (emailstore_address_keys in migration 0015).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Sequence

from opentelemetry import trace

from service.config import Config
from service.core import validation
from service.core.ports import ErasureRecord, HeldValues, Subject, Transactions, UnitOfWork
from service.errors import FailedPrecondition, InvalidArgument, NotFound
from service.models import (
    Caller,
    EraseResult,
    EraseSubject,
    HoldScope,
    LegalHold,
    LegalHoldInput,
    PurgeResult,
    RetentionPolicy,
)

log = logging.getLogger(__name__)

# The platform's retention for a tenant that never set one (migration 0015 has it too).
DEFAULT_RETENTION_DAYS = 2555
MAX_RETENTION_DAYS = 36500
DEFAULT_PURGE_LIMIT = 1000
MAX_PURGE_LIMIT = 100_000
MAX_REASON_CHARS = 1000
MAX_PLACED_BY_CHARS = 200
# Messages per transaction: short enough that writers never wait long on a purge or an
# erasure, long enough to amortise a transaction.
PURGE_BATCH = 500
ERASE_BATCH = 500
APPLY_BATCH = 2000


# ------------------------------------------------------------------ hold rules


def held_values(holds: Sequence[LegalHold]) -> HeldValues:
    """The values of the holds in force, by scope."""
    return HeldValues(
        keys=tuple(h.value for h in holds if h.scope is HoldScope.MESSAGE),
        leads=tuple(h.value for h in holds if h.scope is HoldScope.LEAD),
        emails=tuple(h.value for h in holds if h.scope is HoldScope.EMAIL),
    )


def covering(
    holds: Sequence[LegalHold], storage_key: str, lead_id: str, addresses: Sequence[str]
) -> LegalHold | None:
    """The oldest hold in force covering a message with this key, lead and addresses."""
    named = set(addresses)
    for h in holds:
        if (
            h.scope is HoldScope.TENANT
            or (h.scope is HoldScope.MESSAGE and h.value == storage_key)
            or (h.scope is HoldScope.LEAD and lead_id and h.value == lead_id)
            or (h.scope is HoldScope.EMAIL and h.value in named)
        ):
            return h
    return None


def refusal(hold: LegalHold, what: str) -> FailedPrecondition:
    """The error of a deletion a hold forbids, naming the hold."""
    scope = "the whole tenant" if hold.scope is HoldScope.TENANT else f"{hold.scope} {hold.value!r}"
    return FailedPrecondition(
        f"{what} is under legal hold {hold.hold_id} on {scope} "
        f"(reason: {hold.reason!r}, placed by {hold.placed_by!r})"
    )


async def guard(tx: UnitOfWork, subject: Subject, what: str, *, locked: bool = False) -> None:
    """Takes the hold lock shared (unless `locked`: taken already) and refuses
    (FailedPrecondition) when a hold covers any message of the subject."""
    if not locked:
        await tx.governance.lock_holds(exclusive=False)
    holds = await tx.governance.holds()
    if not holds:
        return
    tenant_wide = next((h for h in holds if h.scope is HoldScope.TENANT), None)
    if tenant_wide is not None:
        raise refusal(tenant_wide, what)
    # A hold on the subject itself (its lead, its address) refuses even with no message yet.
    for h in holds:
        if (h.scope is HoldScope.LEAD and subject.lead_id == h.value) or (
            h.scope is HoldScope.EMAIL and subject.email == h.value
        ):
            raise refusal(h, what)
    values = held_values(holds)
    found = await tx.messages.held(subject, values)
    if found:
        first = found[0]
        key = first.storage_key
        hold = covering(holds, key, first.lead_id, first.addresses)
        if hold is not None:
            raise refusal(hold, what if subject.keys else f"{what} (message {key!r})")


# ------------------------------------------------------------------ validation


def _hold_request(request: LegalHoldInput) -> None:
    v = validation.Violations()
    if request.scope is None:
        v.add("scope", "one of storage_key, lead_id, email or whole_tenant is required")
    elif request.scope is HoldScope.MESSAGE:
        validation.storage_key(request.value)
    elif request.scope is HoldScope.LEAD:
        if not request.value:
            v.add("lead_id", "is required")
        validation.check_id(v, "lead_id", request.value)
    elif request.scope is HoldScope.EMAIL:
        _email(v, "email", request.value)
    if request.hold:
        for field, value, limit in (
            ("reason", request.reason, MAX_REASON_CHARS),
            ("placed_by", request.placed_by, MAX_PLACED_BY_CHARS),
        ):
            if not value.strip():
                v.add(field, "is required to place a hold")
            elif len(value) > limit:
                v.add(field, f"must be at most {limit} characters")
            elif "\x00" in value:
                v.add(field, "must not contain NUL")
    v.raise_if_any()


def _email(v: validation.Violations, field: str, value: str) -> None:
    local, at, domain = value.rpartition("@")
    if not value:
        v.add(field, "is required")
    elif not at or not local or not domain or value != value.strip():
        v.add(field, f"is not an email address: {value[:60]!r}")
    elif len(value) > validation.MAX_EMAIL_CHARS or any(ord(c) < 32 for c in value):
        v.add(field, f"must be at most {validation.MAX_EMAIL_CHARS} characters, no controls")


def erase_subject(lead_id: str, email: str) -> EraseSubject:
    """The subject of an EraseLead request; InvalidArgument unless exactly one is given."""
    v = validation.Violations()
    if bool(lead_id) == bool(email):
        v.add("subject", "exactly one of lead_id or email is required")
    elif lead_id:
        validation.check_id(v, "lead_id", lead_id)
    else:
        _email(v, "email", email)
    v.raise_if_any()
    return EraseSubject("lead", lead_id) if lead_id else EraseSubject("email", email)


# ------------------------------------------------------------------ the use cases


class GovernanceService:
    """Holds, retention, purge and erasure, over units of work of the store."""

    def __init__(self, config: Config, db: Transactions) -> None:
        self.config = config
        self.db = db
        self._audit_key: bytes | None = None
        # Set when a policy changes: the background application starts at once.
        self.policy_changed = asyncio.Event()

    # ------------------------------------------------------------- holds

    async def set_legal_hold(self, caller: Caller, request: LegalHoldInput) -> LegalHold:
        """Places or lifts a hold; the hold."""
        _hold_request(request)
        scope = request.scope
        if scope is None:  # _hold_request refuses it; this keeps the type checker informed
            raise InvalidArgument("scope is required")
        async with self.db.tenant(caller, "set_legal_hold") as tx:
            await tx.governance.lock_holds(exclusive=True)
            value = request.value
            if scope is HoldScope.EMAIL:
                value = await tx.governance.normalise_address(value)
            elif scope is HoldScope.TENANT:
                value = ""
            if not request.hold:
                lifted = await tx.governance.lift_hold(scope, value)
                if lifted is None:
                    raise NotFound(f"no legal hold in force on {scope} {value!r}")
                return lifted
            if scope is HoldScope.MESSAGE and await tx.messages.by_key(value) is None:
                raise NotFound(f"message {value!r} not found")
            hold, placed = await tx.governance.place_hold(
                scope, value, request.reason.strip(), request.placed_by.strip()
            )
        span = trace.get_current_span()
        span.set_attribute("emailstore.hold_id", hold.hold_id)
        span.set_attribute("emailstore.hold_placed", placed)
        if placed:
            log.info("legal hold %s placed on %s by %r", hold.hold_id, scope, hold.placed_by)
        return hold

    async def list_legal_holds(self, caller: Caller, include_lifted: bool) -> list[LegalHold]:
        """The tenant's holds, oldest first."""
        async with self.db.statement(caller, "list_legal_holds") as tx:
            return await tx.governance.holds(include_lifted=include_lifted)

    # ------------------------------------------------------------- retention

    async def set_retention(self, caller: Caller, days: int) -> RetentionPolicy:
        """Sets the tenant's retention; older messages follow in the background."""
        if not 0 <= days <= MAX_RETENTION_DAYS:
            raise InvalidArgument.field(
                "retention_days", f"must be 0 (keep forever) to {MAX_RETENTION_DAYS:,}"
            )
        async with self.db.tenant(caller, "set_retention_policy") as tx:
            row = await tx.governance.set_policy(days)
        self.policy_changed.set()
        return RetentionPolicy(days, False, row.updated_at, applied=False)

    async def get_retention(self, caller: Caller) -> RetentionPolicy:
        """The tenant's retention in force."""
        async with self.db.statement(caller, "get_retention_policy") as tx:
            row = await tx.governance.policy()
        if row is None:
            return RetentionPolicy(DEFAULT_RETENTION_DAYS, True, None, applied=True)
        days = DEFAULT_RETENTION_DAYS if row.retention_days is None else row.retention_days
        return RetentionPolicy(
            days, row.retention_days is None, row.updated_at, applied=row.apply_after is None
        )

    async def apply_retention(self, caller: Caller) -> int:
        """Brings the tenant's older messages to its policy, a batch per transaction; how
        many changed."""
        changed = 0
        while True:
            async with self.db.tenant(caller, "apply_retention") as tx:
                found = await tx.governance.lock_policy()
                after = found[1] if found is not None else None
                if found is None or after is None:
                    await tx.governance.advance_policy(None)
                    return changed
                days = found[0]
                last, batch_changed = await tx.governance.apply_policy(days, after, APPLY_BATCH)
                changed += batch_changed
                await tx.governance.advance_policy(last)
                if last is None:
                    return changed

    async def apply_all(self) -> int:
        """Every tenant's pending policy application; how many messages changed."""
        changed = 0
        while True:
            async with self.db.control("retention_pending") as tx:
                tenants = await tx.governance.pending_tenants(100)
            if not tenants:
                return changed
            for tenant_id in tenants:
                changed += await self.apply_retention(Caller(tenant_id))

    # ------------------------------------------------------------- purge

    async def purge(self, caller: Caller, limit: int) -> PurgeResult:
        """Deletes up to `limit` expired messages no hold covers, a batch per transaction."""
        if limit < 0 or limit > MAX_PURGE_LIMIT:
            raise InvalidArgument.field("limit", f"must be 0 (default) to {MAX_PURGE_LIMIT:,}")
        limit = limit or DEFAULT_PURGE_LIMIT
        deleted = freed = 0
        full = False
        while deleted < limit:
            batch = min(PURGE_BATCH, limit - deleted)
            async with self.db.tenant(caller, "purge_expired") as tx:
                await tx.governance.lock_holds(exclusive=False)
                holds = await tx.governance.holds()
                if any(h.scope is HoldScope.TENANT for h in holds):
                    break
                row = await tx.governance.policy()
                days = (
                    DEFAULT_RETENTION_DAYS
                    if row is None or row.retention_days is None
                    else row.retention_days
                )
                keys = await tx.governance.expired(days, held_values(holds), batch)
                if not keys:
                    break
                gone = await tx.messages.delete_many(keys)
                if gone.unreferenced:
                    await tx.blobs.mark_gc_pending()
            deleted += gone.messages
            freed += gone.freed_bytes
            full = len(keys) == batch
        result = PurgeResult(deleted, freed, more=full and deleted >= limit)
        span = trace.get_current_span()
        span.set_attribute("emailstore.purged_messages", deleted)
        span.set_attribute("emailstore.freed_bytes", freed)
        return result

    async def purge_tenant(self, caller: Caller) -> PurgeResult:
        """Every expired message of the tenant that no hold covers, in calls of the largest
        limit."""
        deleted = freed = 0
        while True:
            result = await self.purge(caller, MAX_PURGE_LIMIT)
            deleted += result.deleted_messages
            freed += result.freed_bytes
            if not result.more:
                return PurgeResult(deleted, freed)

    async def purge_all(self) -> PurgeResult:
        """Applies pending policies, then purges every known tenant."""
        await self.apply_all()
        deleted = freed = 0
        after: str | None = None
        while True:
            async with self.db.control("purge_tenants") as tx:
                tenants = await tx.tenants.known(after, 500)
            if not tenants:
                break
            for tenant_id in tenants:
                result = await self.purge_tenant(Caller(tenant_id))
                deleted += result.deleted_messages
                freed += result.freed_bytes
            after = tenants[-1]
        if deleted:
            log.info("purge: %d expired message(s) deleted, %d bytes released", deleted, freed)
        return PurgeResult(deleted, freed)

    # ------------------------------------------------------------- erasure

    async def _subject_hash(self, caller: Caller, subject: EraseSubject) -> bytes:
        if self._audit_key is None:
            self._audit_key = await self.db.secret("erasure_audit")
        message = f"{caller.tenant_id}\n{subject.kind}\n{subject.value}".encode()
        return hmac.new(self._audit_key, message, hashlib.sha256).digest()

    async def erase(self, caller: Caller, subject: EraseSubject, requested_by: str) -> EraseResult:
        """Erases everything of a lead or an address, a batch per transaction; resumes an
        erasure cut short. Refused, deleting nothing, when a hold covers any of it."""
        v = validation.Violations()
        if len(requested_by) > MAX_PLACED_BY_CHARS or "\x00" in requested_by:
            v.add("requested_by", f"must be at most {MAX_PLACED_BY_CHARS} characters, no NUL")
        v.raise_if_any()
        async with self.db.tenant(caller, "erase_start") as tx:
            if subject.kind == "email":
                subject = EraseSubject(
                    "email", await tx.governance.normalise_address(subject.value)
                )
            where = (
                Subject(lead_id=subject.value)
                if subject.kind == "lead"
                else Subject(email=subject.value)
            )
            await guard(tx, where, f"erasure of {subject.kind} {subject.value!r}")
            digest = await self._subject_hash(caller, subject)
            job = await tx.governance.erasure(digest, unfinished=True)
            if job is None:
                if not await tx.governance.erase_batch(where, 1):
                    done = await tx.governance.erasure(digest, unfinished=False)
                    if done is not None:  # asked again: nothing new, the same answer
                        return _erase_result(done)
                job = await tx.governance.start_erasure(subject.kind, digest, requested_by)
                if job is None:
                    raise FailedPrecondition("an erasure of this subject is starting; retry")
        erasure_id = job.erasure_id
        while True:
            async with self.db.tenant(caller, "erase_batch") as tx:
                await tx.governance.lock_holds(exclusive=False)
                keys = await tx.governance.erase_batch(where, ERASE_BATCH)
                if not keys:
                    break
                await guard(
                    tx, Subject(keys=tuple(keys)), f"erasure of {subject.kind}", locked=True
                )
                gone = await tx.messages.delete_many(keys, erase_changes=True)
                await tx.messages.drop_unreferenced(gone.unreferenced)
                await tx.governance.count_erasure(
                    erasure_id,
                    messages=gone.messages,
                    events=gone.events,
                    attachments=gone.attachments,
                    changes=gone.changes,
                    freed_bytes=gone.freed_bytes,
                )
        async with self.db.tenant(caller, "erase_finish") as tx:
            finished = await tx.governance.finish_erasure(erasure_id)
        result = _erase_result(finished)
        span = trace.get_current_span()
        span.set_attribute("emailstore.erasure_id", erasure_id)
        span.set_attribute("emailstore.erased_messages", result.erased_messages)
        log.info(
            "erasure %s: %d message(s), %d event(s), %d change(s), %d bytes",
            erasure_id,
            result.erased_messages,
            result.erased_events,
            result.erased_changes,
            result.freed_bytes,
        )
        return result


def _erase_result(job: ErasureRecord) -> EraseResult:
    return EraseResult(
        erasure_id=job.erasure_id,
        erased_messages=job.erased_messages,
        erased_events=job.erased_events,
        erased_attachments=job.erased_attachments,
        erased_changes=job.erased_changes,
        freed_bytes=job.freed_bytes,
    )

"""In-memory stand-ins for the store's ports, for unit tests of core rules (no PostgreSQL).

They keep just enough state to answer what the rules ask: messages by key, request id and
raw-bytes digest; blobs with their reference counts. A unit of work that raises leaves the
state as it was, as a transaction would.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from service.core.ports import (
    BlobSize,
    BlobWrite,
    MessageConflict,
    ReadyMessage,
    StoredMessage,
    ThreadCandidate,
)
from service.models import Attachment, Caller, Message, Timeline

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class State:
    """What the fake database holds."""

    messages: dict[tuple[str, str], StoredMessage] = field(default_factory=dict)
    request_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    ingest_hashes: dict[tuple[str, str, bytes], str] = field(default_factory=dict)
    blobs: dict[tuple[str, bytes], list[int]] = field(default_factory=dict)  # size, stored, refs
    clock: int = 0
    tenants: set[str] = field(default_factory=set)


class FakeMessages:
    """MessageStore over State."""

    def __init__(self, state: State, tenant: str) -> None:
        self.state = state
        self.tenant = tenant

    async def insert(
        self, messages: Sequence[ReadyMessage], blobs: Sequence[BlobWrite]
    ) -> list[Message]:
        stored = []
        for ready in messages:
            new = ready.new
            key = (self.tenant, new.storage_key)
            taken = key in self.state.messages or (
                new.request_id is not None
                and (self.tenant, new.request_id) in self.state.request_ids
            )
            if new.ingest_hash is not None:
                raw = (self.tenant, new.owner.email_account_id, new.ingest_hash)
                taken = taken or raw in self.state.ingest_hashes
            if taken:
                raise MessageConflict(new.storage_key)
            self.state.clock += 1
            at = _EPOCH + timedelta(seconds=self.state.clock)
            message = Message(
                tenant_id=self.tenant,
                storage_key=new.storage_key,
                owner=new.owner,
                kind=new.kind,
                envelope=new.envelope,
                thread=ready.thread,
                times=Timeline(created_at=at, updated_at=at, sent_at=new.sent_at),
                size=ready.sizes,
                attachments=tuple(
                    Attachment(
                        a.attachment_id,
                        a.filename,
                        a.mime_type,
                        a.size_bytes or 0,
                        a.sha256.hex(),
                        a.disposition,
                        a.content_id,
                    )
                    for a in ready.attachments
                ),
                labels=dict(new.labels),
                parse=new.parse,
            )
            self.state.messages[key] = StoredMessage(message, new.fingerprint)
            if new.request_id is not None:
                self.state.request_ids[self.tenant, new.request_id] = new.storage_key
            if new.ingest_hash is not None:
                raw_key = (self.tenant, new.owner.email_account_id, new.ingest_hash)
                self.state.ingest_hashes[raw_key] = new.storage_key
            stored.append(message)
        for w in blobs:
            entry = self.state.blobs.setdefault(
                (self.tenant, w.blob.sha256), [w.blob.size_bytes, w.blob.stored_size_bytes, 0]
            )
            entry[2] += w.refs
        return stored

    async def by_key(self, storage_key: str) -> StoredMessage | None:
        return self.state.messages.get((self.tenant, storage_key))

    async def by_request_id(self, request_id: str) -> StoredMessage | None:
        key = self.state.request_ids.get((self.tenant, request_id))
        return None if key is None else await self.by_key(key)

    async def by_ingest_hash(self, email_account_id: str, digest: bytes) -> StoredMessage | None:
        key = self.state.ingest_hashes.get((self.tenant, email_account_id, digest))
        return None if key is None else await self.by_key(key)

    async def thread_candidates(self, message_ids: Sequence[str]) -> list[ThreadCandidate]:
        wanted = set(message_ids)
        return [
            ThreadCandidate(
                m.message.envelope.message_id_header,
                m.message.thread.thread_id,
                m.message.storage_key,
                m.message.times.created_at,
            )
            for (tenant, _), m in self.state.messages.items()
            if tenant == self.tenant and m.message.envelope.message_id_header in wanted
        ]


class FakeBlobs:
    """The parts of BlobStore a message write uses, over State."""

    def __init__(self, state: State, tenant: str) -> None:
        self.state = state
        self.tenant = tenant

    async def reference_existing(self, refs: Mapping[bytes, int]) -> dict[bytes, BlobSize]:
        found = {}
        for sha, count in refs.items():
            entry = self.state.blobs.get((self.tenant, sha))
            if entry is not None:
                entry[2] += count
                found[sha] = BlobSize(entry[0], entry[1])
        return found


class FakeTenants:
    """The tenant registry, as a set."""

    def __init__(self, state: State, tenant: str) -> None:
        self.state = state
        self.tenant = tenant

    async def register(self) -> None:
        self.state.tenants.add(self.tenant)


class FakeUnitOfWork:
    """A unit of work on State."""

    def __init__(self, state: State, tenant: str) -> None:
        self.messages = FakeMessages(state, tenant)
        self.blobs = FakeBlobs(state, tenant)
        self.tenants = FakeTenants(state, tenant)


class FakeDatabase:
    """Transactions over an in-memory State; a failed unit of work is rolled back."""

    def __init__(self) -> None:
        self.state = State()
        self.units: list[str] = []

    @asynccontextmanager
    async def tenant(
        self, caller: Caller, name: str, *, pipeline: bool = False
    ) -> AsyncIterator[Any]:
        self.units.append(name)
        before = copy.deepcopy(self.state)
        try:
            yield FakeUnitOfWork(self.state, caller.tenant_id)
        except BaseException:
            self.state.__dict__.update(before.__dict__)
            raise

    def statement(self, caller: Caller, name: str) -> AbstractAsyncContextManager[Any]:
        # One statement is all or nothing, like a unit of work.
        return self.tenant(caller, name)

    def refcount(self, tenant: str, sha: bytes) -> int:
        """References the fake holds to a blob (0 when it has none)."""
        entry = self.state.blobs.get((tenant, sha))
        return entry[2] if entry else 0

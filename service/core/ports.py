"""What the use cases need of storage: the unit of work and its repositories, as Protocols.

Core depends on these, never on the store's classes: `service.store` implements them over
PostgreSQL, and the unit tests of core rules implement them in memory. A use case opens a unit
of work (one transaction scoped to one tenant) and calls the repositories it hands out;
repositories never open transactions themselves, so a use case can store a message and
whatever else concerns it (an event, a change) atomically.

The records passed across are defined here too, with the rules of their fields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from service.codec.blobs import ByteBuffer, EncodedBlob
from service.codec.packs import Packed, Trained
from service.core.lifecycle import Lifecycle
from service.models import (
    BounceInfo,
    Caller,
    CampaignStats,
    CampaignStatsInput,
    Change,
    Classification,
    Envelope,
    Header,
    HoldScope,
    LegalHold,
    Message,
    MessageEvent,
    MessageFilter,
    MessageStatus,
    Owner,
    Parse,
    Sizes,
    StorageUsage,
    Thread,
)

if TYPE_CHECKING:
    from service.core.search import SearchQuery

# --------------------------------------------------------------------- records


@dataclass(frozen=True)
class NewAttachment:
    """An attachment row to insert. size_bytes is None for an attachment given by digest
    until the writer has found the blob (in the transaction that references it)."""

    attachment_id: str
    position: int
    filename: str
    mime_type: str
    disposition: str
    content_id: str
    sha256: bytes
    size_bytes: int | None = None
    part_path: str = ""


# A leaf body of an ingested message: a blob (its digest) or a body of the pack (its index).
PartRef = bytes | int


@dataclass(frozen=True)
class NewContent:
    """What a new message's content row holds: its pack (the small parts, compressed), and
    the blobs of the parts too large for it.

    text_sha256, html_sha256: the bodies' blobs, when not in the pack. skeleton_sha256:
    ingested mail, the blob of the skeleton (header blocks, boundary lines, preamble and
    epilogue, verbatim), when not in the pack; `parts` are the leaf bodies that slot into it,
    in order, each a blob or a body of the pack. inline_bytes: the size of the text and HTML
    kept in the pack (part of the message's raw size).
    """

    pack: Packed | None = None
    text_sha256: bytes | None = None
    html_sha256: bytes | None = None
    skeleton_sha256: bytes | None = None
    parts: tuple[PartRef, ...] = ()
    inline_bytes: int = 0

    def references(self) -> list[bytes]:
        """Every blob reference of the content rows (an ingested attachment is also a part)."""
        refs = [sha for sha in (self.text_sha256, self.html_sha256) if sha is not None]
        if self.skeleton_sha256 is not None:
            refs.append(self.skeleton_sha256)
        refs.extend(p for p in self.parts if isinstance(p, bytes))
        return refs


@dataclass(frozen=True)
class NewMessage:
    """A validated message, its bytes encoded, ready for the writer.

    fingerprint: SHA-256 of everything the caller sent that identifies the request, so that a
    repeat (same request_id or caller storage_key) can be told from a reuse.
    content_hash: see `Sizes.content_hash`. ingest_hash: SHA-256 of the raw bytes of an
    ingested message (the same bytes for the same mailbox are the same message), else None.
    thread_refs: the Message-IDs it may answer, in the order `core.threading` prefers them.
    raw_size_bytes: ingested mail, the raw size; None: the sum of the content's sizes.
    """

    tenant_id: str
    storage_key: str
    caller_chose_key: bool
    request_id: str | None
    fingerprint: bytes
    owner: Owner
    kind: Classification
    envelope: Envelope
    labels: Mapping[str, str]
    sent_at: datetime | None
    thread_refs: tuple[str, ...]
    new_thread_id: str
    content: NewContent
    attachments: tuple[NewAttachment, ...]
    # Distinct blobs whose bytes this message carries, sorted by digest (a fixed lock order),
    # and how many references the message holds to each.
    blobs: tuple[EncodedBlob, ...]
    blob_refs: Mapping[bytes, int]
    content_hash: bytes
    parse: Parse = field(default_factory=Parse)
    # References to blobs the tenant must already have (attachments given by digest).
    existing_refs: Mapping[bytes, int] = field(default_factory=dict)
    ingest_hash: bytes | None = None
    raw_size_bytes: int | None = None
    # BOUNCE messages: what the bounce says (the original's key is known once threaded).
    bounce: BounceInfo | None = None
    # What SearchMessages finds it by (service.codec.searchtext): the tsvector literal of its
    # subject, filenames and body, and its addresses and names, one per line.
    search_vector: str = ""
    search_addresses: str = ""

    @property
    def encoded_bytes(self) -> int:
        """Stored bytes this message sends to the database."""
        return sum(len(c) for b in self.blobs for c in b.chunks)


@dataclass(frozen=True)
class ReadyMessage:
    """A new message completed in its transaction: thread chosen, sizes known. The rows to
    insert are made from this alone."""

    new: NewMessage
    thread: Thread
    attachments: tuple[NewAttachment, ...]
    sizes: Sizes
    bounce: BounceInfo | None = None


@dataclass(frozen=True)
class BlobWrite:
    """A blob a group of messages writes: its bytes (stored only when new to the tenant) and
    the references and referencing messages it gains."""

    blob: EncodedBlob
    refs: int
    messages: int


@dataclass(frozen=True)
class BlobSize:
    """Size and stored size of a blob the tenant has."""

    size_bytes: int
    stored_size_bytes: int


@dataclass(frozen=True)
class ThreadCandidate:
    """A stored message a new one may answer (found by its Message-ID)."""

    message_id_header: str
    thread_id: str
    storage_key: str
    created_at: datetime
    # What a reply inherits from it, and whether it is ours (outbound).
    direction: str = "outbound"
    campaign_id: str = ""
    lead_id: str = ""
    sequence_step: int = 0


@dataclass(frozen=True)
class StoredMessage:
    """A message as found when looking for a repeat, with the fingerprint of its request."""

    message: Message
    fingerprint: bytes


@dataclass(frozen=True)
class StoredBlob:
    """A blob read whole: its codec and stored chunks in order."""

    codec: str
    chunks: tuple[bytes, ...]


@dataclass(frozen=True)
class BlobRef:
    """A blob to be read chunk by chunk: its digest, codec and number of chunks."""

    sha256: bytes
    codec: str
    chunk_count: int


@dataclass(frozen=True)
class StoredContent:
    """A message's content row: its pack (when it has one) and blobs, and (ingested mail) how
    it is kept raw. headers: rows written before packs keep them here (else in the pack)."""

    headers: tuple[Header, ...]
    text_sha256: bytes | None
    html_sha256: bytes | None
    skeleton_sha256: bytes | None
    parts: tuple[PartRef, ...]
    pack: bytes | None
    pack_size: int
    dictionary_id: int | None
    raw_size_bytes: int
    ingested: bool  # raw RFC 5322 mail, kept to be given back byte for byte


@dataclass(frozen=True)
class BlobInfo:
    """A ready blob: digest, sizes, codec and chunk size."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunk_size: int


@dataclass(frozen=True)
class UploadSession:
    """An upload as recorded: what was promised, and how far it got.

    staging_sha256: the key its chunks wait under until the real digest is known.
    persisted: False until the first bytes are committed (the row is written with them).
    """

    upload_id: str
    staging_sha256: bytes
    expected_sha256: bytes | None
    expected_size: int | None
    mime_type: str
    codec: str | None
    committed_size: int
    staged_bytes: int
    chunk_count: int
    sha256: bytes | None
    size_bytes: int | None
    stored_size_bytes: int | None
    complete: bool
    persisted: bool = True


@dataclass(frozen=True)
class FinishedUpload:
    """The blob an upload becomes: digest, sizes, codec and chunk count."""

    sha256: bytes
    size_bytes: int
    stored_size_bytes: int
    codec: str
    chunk_count: int


@dataclass(frozen=True)
class StoredDictionary:
    """A tenant's dictionary as stored, with its measured ratio on held-out samples."""

    dictionary_id: int
    data: bytes
    dict_ratio: float


@dataclass(frozen=True)
class GcResult:
    """What one collection pass freed."""

    tenants: int
    blobs: int
    uploads: int
    freed_bytes: int


# ------------------------------------------------------------------ repositories


@dataclass(frozen=True)
class Deleted:
    """What deleting messages did (MessageStore.delete_many)."""

    messages: int = 0
    unreferenced: tuple[bytes, ...] = ()
    freed_bytes: int = 0
    events: int = 0
    attachments: int = 0
    changes: int = 0


@dataclass(frozen=True)
class Subject:
    """Which messages: these keys, a lead's, or those naming an address (exactly one)."""

    keys: tuple[str, ...] | None = None
    lead_id: str = ""
    email: str = ""


@dataclass(frozen=True)
class HeldMessage:
    """A message a hold covers, with what decides which: its lead and named addresses."""

    storage_key: str
    lead_id: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class HeldValues:
    """The holds in force, by scope: held storage keys, lead ids and normalised addresses."""

    keys: tuple[str, ...] = ()
    leads: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRow:
    """A tenant's retention row: days (None: the platform's default), when it was set,
    and where bringing older messages to it has got to (None: done)."""

    retention_days: int | None
    updated_at: datetime
    apply_after: str | None


@dataclass(frozen=True)
class ErasureRecord:
    """An erasure's audit record, as counted so far."""

    erasure_id: str
    erased_messages: int
    erased_events: int
    erased_attachments: int
    erased_changes: int
    freed_bytes: int
    completed_at: datetime | None


class MessageConflict(Exception):
    """The message's storage_key, request_id or raw bytes for its mailbox are taken already;
    the transaction wrote nothing."""


class MessageStore(Protocol):
    """Messages, their content and attachment rows."""

    async def insert(
        self, messages: Sequence[ReadyMessage], blobs: Sequence[BlobWrite]
    ) -> list[Message]:
        """Inserts new messages with the blobs they reference (new bytes, and references
        counted); MessageConflict, and nothing written, when one is taken already."""
        ...

    async def by_key(self, storage_key: str) -> StoredMessage | None:
        """The message with this key."""
        ...

    async def by_request_id(self, request_id: str) -> StoredMessage | None:
        """The message stored by the request with this id."""
        ...

    async def by_ingest_hash(self, email_account_id: str, digest: bytes) -> StoredMessage | None:
        """The message ingested from these raw bytes for this mailbox."""
        ...

    async def thread_candidates(self, message_ids: Sequence[str]) -> list[ThreadCandidate]:
        """Stored messages with one of these Message-IDs."""
        ...

    async def thread(self, thread_id: str, limit: int) -> list[Message]:
        """A conversation's messages, oldest first (at most `limit`)."""
        ...

    async def full(self, storage_key: str) -> tuple[Message, StoredContent | None] | None:
        """The message with this key and its content row (None when it has none)."""
        ...

    async def content(self, storage_key: str) -> StoredContent | None:
        """The content row of a message."""
        ...

    async def to_recompress(
        self, after: str, limit: int, dictionary_id: int | None
    ) -> list[tuple[str, StoredContent, list[bytes]]]:
        """Content rows after a key not packed with the dictionary (or, with none, not packed
        at all), locked: (key, content, digests of the message's attachments)."""
        ...

    async def rewrite_content(self, key: str, content: NewContent, stored_delta: int) -> None:
        """Gives a content row a new layout, and its message's stored size the delta."""
        ...

    async def list(
        self, filter_: MessageFilter, after: tuple[datetime, str] | None, limit: int
    ) -> list[Message]:
        """Messages matching the filter, newest first, after (created_at, storage_key)."""
        ...

    async def set_archived(self, storage_key: str, archived: bool) -> Message | None:
        """Archives or unarchives the message, appending a change; None when it is missing
        or already so."""
        ...

    async def delete_many(self, keys: Sequence[str], *, erase_changes: bool = False) -> Deleted:
        """Deletes messages and releases their blob references, leaving a 'deleted' change
        each; with erase_changes, their earlier changes go too."""
        ...

    async def drop_unreferenced(self, digests: Sequence[bytes]) -> None:
        """Deletes these blobs and their chunks, if still unreferenced."""
        ...

    async def held(
        self, subject: Subject, holds: HeldValues, limit: int = 1
    ) -> tuple[HeldMessage, ...]:
        """Messages of the subject these holds cover."""
        ...

    async def usage(self) -> StorageUsage:
        """Counts and byte totals of the tenant."""
        ...


class BlobStore(Protocol):
    """Blobs and their chunks."""

    async def reference_existing(self, refs: Mapping[bytes, int]) -> dict[bytes, BlobSize]:
        """Adds references to blobs the tenant has (ready ones); the ones found."""
        ...

    async def find_ready(self, digests: Sequence[bytes]) -> set[bytes]:
        """Which of the digests the tenant has, ready to reference."""
        ...

    async def sizes(self, digests: Sequence[bytes]) -> dict[bytes, BlobSize]:
        """Sizes and stored sizes of these blobs (the ones the tenant has)."""
        ...

    async def release(self, refs: Mapping[bytes, tuple[int, int]]) -> list[bytes]:
        """Gives up (references, referencing messages) of blobs; those left with none."""
        ...

    async def refs(self, digests: Sequence[bytes]) -> dict[bytes, BlobRef]:
        """The blobs of these digests, to be read chunk by chunk."""
        ...

    async def read_whole(self, digests: Sequence[bytes]) -> dict[bytes, StoredBlob]:
        """These blobs with all their chunks (small blobs: headers, bodies, skeletons)."""
        ...

    async def mark_gc_pending(self) -> None:
        """Notes that the tenant may hold garbage now."""
        ...


class BlobReads(Protocol):
    """Reads of one statement each, in a transaction of its own (one round trip)."""

    async def blob(self, sha256: bytes) -> BlobInfo | None:
        """A ready blob of the tenant."""
        ...

    async def open(
        self,
        sha256: bytes | None,
        storage_key: str | None,
        attachment_id: str | None,
        offset: int,
        limit: int,
        chunks: int,
    ) -> tuple[BlobInfo, list[bytes]] | None:
        """A blob (by digest, or by message and attachment) and up to `chunks` stored chunks of
        the range; None when there is no such blob or attachment."""
        ...

    async def chunks(self, sha256: bytes, first: int, last: int) -> list[bytes]:
        """Stored chunks first..last of a blob; NotFound when one is missing."""
        ...


class UploadStore(Protocol):
    """Resumable upload sessions and their staged chunks."""

    async def get(self, upload_id: str) -> UploadSession | None:
        """The live session of an upload id."""
        ...

    async def append(
        self,
        session: UploadSession,
        previous_size: int,
        chunks: list[ByteBuffer],
        new_size: int,
        codec: str,
        ttl_s: float,
    ) -> bool:
        """Stages chunks and advances the committed size from previous_size (recording a new
        session first); False, nothing staged, when the session is elsewhere by now."""
        ...

    async def promote(self, session: UploadSession, finished: FinishedUpload) -> BlobInfo:
        """Turns the staged chunks into the tenant's blob (or drops them: it had the bytes)
        and completes the session."""
        ...

    async def store_whole(
        self,
        session: UploadSession,
        chunks: list[ByteBuffer],
        finished: FinishedUpload,
        ttl_s: float,
    ) -> BlobInfo | None:
        """Stores an upload that came whole, with its completed session; None (nothing
        written) when a live session of that upload id exists."""
        ...

    async def complete_known(
        self, upload_id: str, staging_sha256: bytes, blob: BlobInfo, mime_type: str, ttl_s: float
    ) -> None:
        """Records an upload answered from a blob the tenant had."""
        ...

    async def discard(self, upload_id: str) -> None:
        """Forgets an unfinished upload and what it staged."""
        ...


class GcStore(Protocol):
    """Garbage collection: expired uploads and blobs nothing references."""

    async def tenants(self, limit: int) -> list[str]:
        """Tenants that may hold garbage (a control-plane read across tenants)."""
        ...

    async def collect(self, grace_s: float) -> tuple[int, int, int]:
        """One tenant's pass: (expired uploads, freed blobs, freed bytes)."""
        ...


class DictionaryStore(Protocol):
    """A tenant's zstd dictionaries."""

    async def latest(self) -> StoredDictionary | None:
        """The newest dictionary."""
        ...

    async def get(self, dictionary_id: int) -> StoredDictionary | None:
        """A dictionary by id."""
        ...

    async def samples(self, limit: int) -> list[tuple[bytes, int | None]]:
        """The newest packs, with the dictionary each needs."""
        ...

    async def next_id(self) -> int:
        """The id the next dictionary gets."""
        ...

    async def add(self, trained: Trained) -> bool:
        """Saves a dictionary and makes it the tenant's current one; False when one with its
        id exists (another process trained it meanwhile)."""
        ...

    async def undictionaried(self, limit: int) -> int:
        """Packs written without a dictionary, counted up to `limit`."""
        ...

    async def recent_ratio(self, dictionary_id: int, limit: int) -> float:
        """Compressed/raw of the newest packs made with this dictionary (0: none)."""
        ...

    async def drop_unused(self, current: int) -> list[int]:
        """Deletes the dictionaries older than `current` no pack needs; their ids."""
        ...


class TenantStore(Protocol):
    """The control-plane list of tenants with mail."""

    async def register(self) -> None:
        """Notes that the transaction's tenant has mail."""
        ...

    async def known(self, after: str | None, limit: int) -> list[str]:
        """Known tenants after `after`, in order."""
        ...


@dataclass(frozen=True)
class MessageState:
    """A stored message as an event finds it: its key, Message-ID, when it was stored, and
    its lifecycle."""

    storage_key: str
    message_id_header: str
    created_at: datetime
    lifecycle: Lifecycle


@dataclass(frozen=True)
class KnownEvent:
    """An event recorded before under an event id, and the fingerprint of what it said."""

    event_id: str
    storage_key: str
    fingerprint: bytes | None


@dataclass(frozen=True)
class NewEvent:
    """An event row to insert."""

    storage_key: str
    status: MessageStatus
    occurred_at: datetime
    source: str  # "caller" | "ingest"
    detail: Mapping[str, str]
    event_id: str | None = None
    fingerprint: bytes | None = None


@dataclass(frozen=True)
class StateChange:
    """A message's lifecycle after a group of events, to store."""

    storage_key: str
    lifecycle: Lifecycle


class EventStore(Protocol):
    """Status events and the lifecycle columns of the messages they concern."""

    async def lock(
        self, storage_keys: Sequence[str], message_ids: Sequence[str]
    ) -> list[MessageState]:
        """The messages with these keys or Message-IDs, locked until the transaction ends."""
        ...

    async def known(self, event_ids: Sequence[str]) -> list[KnownEvent]:
        """The events recorded before under these ids."""
        ...

    async def record(
        self,
        events: Sequence[NewEvent],
        changes: Sequence[StateChange],
        unchanged: Sequence[str] = (),
    ) -> list[Message]:
        """Inserts the events and stores the changed lifecycles in one statement; the changed
        messages, and those with the `unchanged` keys as they stand. EventIdTaken when an
        event id was recorded meanwhile."""
        ...

    async def history(self, storage_key: str) -> list[MessageEvent]:
        """A message's events, in the order they occurred."""
        ...


class StatsStore(Protocol):
    """Campaign statistics, aggregated by the database."""

    async def campaign(self, request: CampaignStatsInput) -> CampaignStats:
        """The campaign's counts, per step and per day."""
        ...


class EventIdTaken(Exception):
    """An event id of the group was recorded by another transaction meanwhile."""


class SearchStore(Protocol):
    """SearchMessages over the tenant's messages."""

    async def search(
        self, query: SearchQuery, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[Message], int]:
        """Unarchived messages matching the query, newest first, after (created_at,
        storage_key), at most `limit`; and how many statements it took to find them."""
        ...

    async def unindexed(self, limit: int) -> list[str]:
        """Keys of messages without a search vector (stored before it existed), oldest
        first."""
        ...

    async def set_vectors(self, vectors: Sequence[tuple[str, str, str]]) -> int:
        """(storage_key, vector literal, addresses) of messages that have none; how many
        were set."""
        ...


@dataclass(frozen=True)
class FeedPage:
    """Changes after a sequence, and the highest sequence pruned when they were read."""

    changes: list[Change]
    pruned_through: int


class FeedStore(Protocol):
    """The change feed: a tenant's pages; on the control plane, numbering and pruning."""

    async def page(self, since: int, limit: int) -> FeedPage:
        """The tenant's changes after `since`, at most `limit`, in order."""
        ...

    async def number_pending(self, limit: int) -> int | None:
        """Numbers the changes ended transactions left, in commit order; None when another
        sequencer holds the claim."""
        ...

    async def prune(self, before: datetime, limit: int) -> int:
        """Deletes up to `limit` numbered changes older than `before`; how many."""
        ...


class ExportStore(Protocol):
    """ExportMessages' own reads."""

    async def count_messages(self, filter_: MessageFilter) -> int:
        """How many messages ListMessages would list with these filters (all pages)."""
        ...


class GovernanceStore(Protocol):
    """Legal holds, retention, purge and erasure rows of the transaction's tenant."""

    async def lock_holds(self, *, exclusive: bool) -> None:
        """The tenant's hold lock: exclusive to place or lift, shared to delete."""
        ...

    async def holds(self, *, include_lifted: bool = False) -> list[LegalHold]:
        """The tenant's holds, oldest first."""
        ...

    async def place_hold(
        self, scope: HoldScope, value: str, reason: str, placed_by: str
    ) -> tuple[LegalHold, bool]:
        """(the new hold, True), or (the one in force on this scope and value, False)."""
        ...

    async def lift_hold(self, scope: HoldScope, value: str) -> LegalHold | None:
        """The lifted hold; None when none is in force."""
        ...

    async def normalise_address(self, email: str) -> str:
        """An address as the database compares it."""
        ...

    async def policy(self) -> PolicyRow | None:
        """The tenant's retention row."""
        ...

    async def set_policy(self, retention_days: int) -> PolicyRow:
        """Sets the retention and queues its application."""
        ...

    async def lock_policy(self) -> tuple[int, str | None] | None:
        """The retention in force and its application's position, locked."""
        ...

    async def apply_policy(self, days: int, after: str, limit: int) -> tuple[str | None, int]:
        """One batch of older messages brought to the policy: (last key, changed)."""
        ...

    async def advance_policy(self, after: str | None) -> None:
        """Where the application got to; None: done."""
        ...

    async def pending_tenants(self, limit: int) -> list[str]:
        """Control plane: tenants with a policy to apply."""
        ...

    async def expired(self, days: int, holds: HeldValues, limit: int) -> list[str]:
        """Expired messages no hold covers, locked."""
        ...

    async def erase_batch(self, subject: Subject, limit: int) -> list[str]:
        """A batch of the subject's messages, locked."""
        ...

    async def erasure(self, subject_hash: bytes, *, unfinished: bool) -> ErasureRecord | None:
        """The subject's unfinished erasure, or its latest."""
        ...

    async def start_erasure(
        self, kind: str, subject_hash: bytes, requested_by: str
    ) -> ErasureRecord | None:
        """A new erasure record; None when one is unfinished."""
        ...

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
        """Adds a batch's counts."""
        ...

    async def finish_erasure(self, erasure_id: str) -> ErasureRecord:
        """Marks it done."""
        ...


class UnitOfWork(Protocol):
    """The repositories of one transaction, all bound to its connection."""

    @property
    def messages(self) -> MessageStore: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def uploads(self) -> UploadStore: ...

    @property
    def gc(self) -> GcStore: ...

    @property
    def reads(self) -> BlobReads: ...

    @property
    def dictionaries(self) -> DictionaryStore: ...

    @property
    def tenants(self) -> TenantStore: ...

    @property
    def events(self) -> EventStore: ...

    @property
    def stats(self) -> StatsStore: ...

    @property
    def search(self) -> SearchStore: ...

    @property
    def feed(self) -> FeedStore: ...

    @property
    def governance(self) -> GovernanceStore: ...

    @property
    def export(self) -> ExportStore: ...


class Transactions(Protocol):
    """Opens units of work."""

    def tenant(
        self, caller: Caller, name: str, *, pipeline: bool = False
    ) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction scoped to the caller's tenant (row-level security shows only its
        rows). Pipeline mode sends statements without waiting for each result: for many
        writes in a row."""
        ...

    def statement(self, caller: Caller, name: str) -> AbstractAsyncContextManager[UnitOfWork]:
        """Statements scoped to the caller's tenant, each a transaction of its own: reads,
        and writes that are one statement whole."""
        ...

    async def secret(self, name: str) -> bytes:
        """A key kept in the database (service_secrets)."""
        ...

    def control(self, name: str) -> AbstractAsyncContextManager[UnitOfWork]:
        """A transaction for the control plane (tenant-less tables: only `gc.tenants`)."""
        ...


ChunkStream = AsyncIterator[bytes]

"""Governance at a million messages: purge, erasure, export and import (issue 14).

One tenant with 1,000,000 outbound messages in 100 interleaved campaigns, their replies and
their events, seeded by COPY (benchmarks/seed.py). The first `--gov-expired` of them (the
oldest, as in a store that has been filling for years: the first rows of the heap) and their
replies were stored eight years ago, past the default retention of 2,555 days; every row
carries the expiry the writer gives it (created_at + 2,555 days). Measured in the same run,
against the real `emailstore serve`:

* bare psycopg purge - what a user could write instead: a minimal schema (messages with an
  expiry index, events cascading from them) seeded with as many rows, as many of them
  expired, deleted `DELETE ... WHERE (key) IN (SELECT ... WHERE expires_at <= now()
  ORDER BY expires_at LIMIT 500)` in a loop, one transaction per batch, no gRPC;
* PurgeExpired in calls of `--gov-purge-limit` until `more` is false: the first half alone,
  the second half while 32 callers keep storing messages with StoreMessage; those callers'
  messages/s beside the same callers' messages/s with no purge running;
* the database and table sizes and dead tuples after seeding, after the purge, after
  autovacuum had time to run, and after an explicit VACUUM (timed);
* EraseLead of a lead with 1,000 messages (events, attachments shared with another lead)
  and of an address named in 1,000 messages, beside a bare DELETE of a lead's 1,000 rows;
* ExportMessages and `emailstore export` / `emailstore import` of `--gov-export` ingested
  replies (benchmarks/ingest.py's small-reply mix), MB/s beside Python's `mailbox` writing
  and reading the same mbox.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from benchmarks import harness, seed
from benchmarks.corpus import outbound
from benchmarks.harness import Result
from benchmarks.ingest import service_ingest, small_reply_mix
from benchmarks.requests import store_request
from service.store import rows

PER_CAMPAIGN = 10_000
# The default retention (service/core/governance.py) and how far back expired rows are moved.
RETENTION = timedelta(days=2555)
AGE = timedelta(days=8 * 365)
_TIMES = (
    "created_at",
    "updated_at",
    "sent_at",
    "delivered_at",
    "opened_at",
    "clicked_at",
    "replied_at",
    "bounced_at",
    "failed_at",
)
ERASE_LEAD = "lead-erase-0001"
KEEP_LEAD = "lead-keep-0001"
ERASE_EMAIL = "erase.me@example.org"
IMPORT_CALLERS = 16

BARE_SCHEMA = """
CREATE TABLE bare_messages (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, campaign_id text NOT NULL,
    lead_id text NOT NULL, to_email text NOT NULL, subject text NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL, expires_at timestamptz,
    PRIMARY KEY (tenant_id, storage_key)
);
CREATE TABLE bare_events (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, event_id text NOT NULL,
    status text NOT NULL, occurred_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, event_id),
    FOREIGN KEY (tenant_id, storage_key) REFERENCES bare_messages ON DELETE CASCADE
);
"""
BARE_INDEXES = """
CREATE INDEX bare_messages_expiry ON bare_messages (tenant_id, expires_at);
CREATE INDEX bare_messages_lead ON bare_messages (tenant_id, lead_id);
CREATE INDEX bare_events_message ON bare_events (tenant_id, storage_key);
"""
BARE_PURGE = """
DELETE FROM bare_messages WHERE (tenant_id, storage_key) IN (
    SELECT tenant_id, storage_key FROM bare_messages
    WHERE tenant_id = %(tenant)s AND expires_at <= now()
    ORDER BY expires_at LIMIT 500)
"""
BARE_ERASE = "DELETE FROM bare_messages WHERE tenant_id = %(tenant)s AND lead_id = %(lead)s"


@dataclass(frozen=True)
class Sizes:
    """Sizes and tuple counts of a database at one moment."""

    database: int
    messages: int
    events: int
    changes: int
    live: int
    dead_messages: int
    dead_events: int
    autovacuums: int


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f}"


# ------------------------------------------------------------------ seeding


def aging(expired: int) -> Callable[[rows.MessageRow], rows.MessageRow]:
    """The seed's row rewrite: outbound messages below `expired` (and their replies) moved
    AGE into the past; every row given the expiry the writer gives (stored + retention)."""

    def rewrite(row: rows.MessageRow) -> rows.MessageRow:
        index = int(row.storage_key[-8:])  # email_seed%08d, email_seedr%08d for a reply
        if index >= expired:
            return replace(row, expires_at=row.created_at + RETENTION)
        times = {c: getattr(row, c) - AGE for c in _TIMES if getattr(row, c) is not None}
        return replace(row, **times, expires_at=row.created_at - AGE + RETENTION)

    return rewrite


def seed_bare(url: str, tenant: str, stored: int, expired: int, campaigns: int) -> None:
    """The minimal schema with `stored` messages (the first `expired` of them expired), two
    events each, and a lead of 1,000 messages to erase."""
    rng = random.Random(5)
    with psycopg.connect(url) as conn:
        conn.execute(BARE_SCHEMA)
        with conn.cursor() as cur:
            columns = (
                "tenant_id, storage_key, campaign_id, lead_id, to_email, subject, status, "
                "created_at, expires_at"
            )
            with cur.copy(f"COPY bare_messages ({columns}) FROM STDIN") as copy:
                for i in range(stored + 1000):
                    at = seed.START + timedelta(seconds=rng.uniform(0, seed.DAYS * 86400))
                    if i < expired:
                        at -= AGE
                    lead = (
                        ERASE_LEAD
                        if i >= stored
                        else f"lead-{i % campaigns:03d}-{(i // campaigns) % seed.LEADS:05d}"
                    )
                    copy.write_row(
                        (
                            tenant,
                            seed.storage_key(i),
                            seed.campaign_id(i % campaigns),
                            lead,
                            f"{lead}@example.com",
                            f"Quick question about {lead}",
                            "delivered",
                            at,
                            at + RETENTION,
                        )
                    )
            columns = "tenant_id, storage_key, event_id, status, occurred_at"
            with cur.copy(f"COPY bare_events ({columns}) FROM STDIN") as copy:
                for i in range(stored + 1000):
                    for n, status in enumerate(("sent", "delivered")):
                        copy.write_row(
                            (tenant, seed.storage_key(i), f"esp-{i}-{n}", status, seed.START)
                        )
        conn.commit()
        conn.execute(BARE_INDEXES)
        conn.commit()


def vacuum(url: str, *, analyze: bool = False) -> float:
    """VACUUM (ANALYZE) the database as its owner; the seconds it took."""
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)" if analyze else "VACUUM")
    return time.perf_counter() - start


def sizes(url: str, messages: str = "email_messages", events: str = "message_events") -> Sizes:
    """The database's size, its tables' and their tuples now."""
    with psycopg.connect(url, autocommit=True) as conn:

        def one(sql: str, *params: Any) -> Any:
            row = conn.execute(sql, params).fetchone()
            assert row is not None
            return row[0] if len(row) == 1 else row

        def table(name: str) -> tuple[int, int, int, int]:
            found = conn.execute(
                "SELECT pg_total_relation_size(relid), n_live_tup, n_dead_tup, autovacuum_count "
                "FROM pg_stat_user_tables WHERE relname = %s",
                (name,),
            ).fetchone()
            return found or (0, 0, 0, 0)

        m, e = table(messages), table(events)
        return Sizes(
            database=int(one("SELECT pg_database_size(current_database())")),
            messages=int(m[0]),
            events=int(e[0]),
            changes=int(table("changes")[0]),
            live=int(m[1]),
            dead_messages=int(m[2]),
            dead_events=int(e[2]),
            autovacuums=int(m[3]) + int(e[3]),
        )


async def _settled_sizes(url: str, **kwargs: str) -> Sizes:
    # Backends report their tuple counts within a second or so of going idle.
    await asyncio.sleep(2)
    return await asyncio.to_thread(sizes, url, **kwargs)


# ------------------------------------------------------------------ writers


def _write_requests(tenant: str) -> Iterator[list[pb.StoreMessageRequest]]:
    """New outbound messages for the tenant, a thousand at a time, without end."""
    for n in range(1_000_000):
        yield [store_request(tenant, e) for e in outbound(0, 1000, 1000 + n)]


class Writers:
    """StoreMessage from `concurrency` callers, each taking the next new message as it
    finishes one, until stopped."""

    def __init__(self, stub: pb_grpc.EmailStoreStub, tenant: str, concurrency: int) -> None:
        self.stub = stub
        self.concurrency = concurrency
        self._requests = _write_requests(tenant)
        self._pending: deque[pb.StoreMessageRequest] = deque()
        self._stop = asyncio.Event()
        self.done = 0

    async def _worker(self) -> None:
        while not self._stop.is_set():
            if not self._pending:
                self._pending.extend(next(self._requests))
            await self.stub.StoreMessage(self._pending.popleft())
            self.done += 1

    async def run(self, name: str, until: Callable[[], Any]) -> Result:
        """Writes until `until()` (awaited) returns; the messages/s meanwhile."""
        self._stop.clear()
        before = self.done
        start = time.perf_counter()
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        try:
            await until()
        finally:
            self._stop.set()
            await asyncio.gather(*workers)
        return Result(name, self.done - before, time.perf_counter() - start)


# ------------------------------------------------------------------ purge


async def purge(
    stub: pb_grpc.EmailStoreStub, tenant: str, limit: int, until: int | None = None
) -> tuple[int, float, int]:
    """PurgeExpired in calls of `limit` until `more` is false (or `until` are deleted):
    (deleted, seconds, calls)."""
    deleted = calls = 0
    start = time.perf_counter()
    while True:
        result = await stub.PurgeExpired(pb.PurgeExpiredRequest(tenant_id=tenant, limit=limit))
        deleted += result.deleted_messages
        calls += 1
        if not result.more or (until is not None and deleted >= until):
            return deleted, time.perf_counter() - start, calls


def bare_purge(url: str, tenant: str) -> tuple[int, float]:
    """The bare delete loop, one batch per transaction, until nothing is left:
    (deleted, seconds)."""
    deleted = 0
    start = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            gone = conn.execute(BARE_PURGE, {"tenant": tenant}).rowcount
            if gone <= 0:
                return deleted, time.perf_counter() - start
            deleted += gone


async def wait_for_autovacuum(url: str, deleted: int, seconds: float) -> tuple[float, Sizes]:
    """Waits up to `seconds` for the dead tuples of the message table to fall under a tenth
    of what was deleted; (the seconds waited, the sizes then)."""
    start = time.perf_counter()
    while True:
        now = await asyncio.to_thread(sizes, url)
        waited = time.perf_counter() - start
        if now.dead_messages <= deleted // 10 or waited >= seconds:
            return waited, now
        await asyncio.sleep(5)


# ------------------------------------------------------------------ erasure


def _decks(count: int) -> list[bytes]:
    rng = random.Random(21)
    return [b"%PDF-1.7\n" + rng.randbytes(rng.randint(18_000, 26_000)) for _ in range(count)]


def _erasure_requests(
    tenant: str, count: int, decks: list[bytes]
) -> tuple[
    list[pb.StoreMessageRequest], list[pb.StoreMessageRequest], list[pb.StoreMessageRequest]
]:
    """The lead's messages (a fifth with a deck), the other lead's (every one with a deck,
    sharing the blobs), and messages to the address (each with a lead of its own)."""
    emails = outbound(0, 2 * count + 50, 77)
    lead, keep, address = [], [], []
    for i, email in enumerate(emails[:count]):
        request = store_request(tenant, email)
        request.lead_id = ERASE_LEAD
        del request.to[:]
        request.to.append(pb.Address(email=f"{ERASE_LEAD}@example.net", name="Erin Lead"))
        if i % 5 == 0:
            request.attachments.append(
                pb.AttachmentInput(
                    filename="deck.pdf", mime_type="application/pdf", content=decks[i % len(decks)]
                )
            )
        lead.append(request)
    for i, email in enumerate(emails[count : count + 50]):
        request = store_request(tenant, email)
        request.lead_id = KEEP_LEAD
        request.attachments.append(
            pb.AttachmentInput(
                filename="deck.pdf", mime_type="application/pdf", content=decks[i % len(decks)]
            )
        )
        keep.append(request)
    for i, email in enumerate(emails[count + 50 :]):
        request = store_request(tenant, email)
        request.lead_id = f"lead-addr-{i:05d}"
        del request.to[:]
        request.to.append(pb.Address(email=ERASE_EMAIL, name="Erica Me"))
        address.append(request)
    return lead, keep, address


async def _store_streamed(
    stub: pb_grpc.EmailStoreStub, requests: list[pb.StoreMessageRequest], streams: int = 4
) -> list[str]:
    async def send(batch: list[pb.StoreMessageRequest]) -> AsyncIterator[pb.StoreMessageRequest]:
        for request in batch:
            yield request

    async def stream(batch: list[pb.StoreMessageRequest]) -> list[str]:
        keys = []
        async for response in stub.StoreMessages(send(batch)):
            if response.HasField("error"):
                raise RuntimeError(response.error.message)
            keys.append(response.storage_key)
        return keys

    found = await asyncio.gather(*(stream(requests[i::streams]) for i in range(streams)))
    return [key for keys in found for key in keys]


async def _record_events(stub: pb_grpc.EmailStoreStub, tenant: str, keys: list[str]) -> int:
    """A delivery and an open for every message, over RecordMessageEvents; how many."""

    async def send() -> AsyncIterator[pb.UpdateMessageStatusRequest]:
        for n, key in enumerate(keys):
            for status in (pb.DELIVERED, pb.OPENED):
                yield pb.UpdateMessageStatusRequest(
                    tenant_id=tenant,
                    storage_key=key,
                    status=status,
                    event_id=f"wh-erase-{n}-{status}",
                    detail={"ip": "198.51.100.23"},
                )

    recorded = 0
    async for response in stub.RecordMessageEvents(send()):
        if response.HasField("error"):
            raise RuntimeError(response.error.message)
        recorded += 1
    return recorded


async def erasure(stub: pb_grpc.EmailStoreStub, tenant: str, count: int) -> list[str]:
    """Stores the lead's and the address's messages, erases both; the table rows."""
    lead, keep, address = _erasure_requests(tenant, count, _decks(10))
    await _store_streamed(stub, keep)
    lead_keys = await _store_streamed(stub, lead)
    address_keys = await _store_streamed(stub, address)
    events = await _record_events(stub, tenant, lead_keys + address_keys)
    print(
        f"  stored {len(lead_keys):,} messages of {ERASE_LEAD}, {len(address_keys):,} to "
        f"{ERASE_EMAIL}, {events:,} events",
        flush=True,
    )
    lines = []
    for what, request in (
        (
            f"EraseLead by lead_id ({count:,} messages)",
            pb.EraseLeadRequest(tenant_id=tenant, lead_id=ERASE_LEAD, requested_by="bench"),
        ),
        (
            f"EraseLead by email ({count:,} messages)",
            pb.EraseLeadRequest(tenant_id=tenant, email=ERASE_EMAIL, requested_by="bench"),
        ),
    ):
        start = time.perf_counter()
        result = await stub.EraseLead(request)
        seconds = time.perf_counter() - start
        print(f"  {what}: {seconds:.2f} s, {result.erased_messages:,} erased", flush=True)
        lines.append(
            f"| {what} | {result.erased_messages:,} | {result.erased_events:,} | "
            f"{result.erased_attachments:,} | {result.erased_changes:,} | "
            f"{result.freed_bytes / 1e6:,.1f} | {seconds:.2f} | "
            f"≤ 2 s → {_verdict(seconds <= 2 and result.erased_messages == count)} |"
        )
    # The shared decks stay: the other lead still has them.
    kept = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, lead_id=KEEP_LEAD))
    if not kept.messages or not kept.messages[0].attachments:
        raise RuntimeError("the other lead's attachments went with the erasure")
    return lines


def bare_erase(url: str, tenant: str) -> tuple[int, float]:
    """The bare DELETE of the lead's rows (its events cascade): (rows, seconds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        start = time.perf_counter()
        gone = conn.execute(BARE_ERASE, {"tenant": tenant, "lead": ERASE_LEAD}).rowcount
        return gone, time.perf_counter() - start


# ------------------------------------------------------------------ export and import


def stdlib_write(path: Path, messages: list[bytes]) -> float:
    """Seconds for `mailbox.mbox` to add every message to a new file."""
    start = time.perf_counter()
    box = mailbox.mbox(path, create=True)
    box.lock()
    try:
        for raw in messages:
            box.add(raw)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return time.perf_counter() - start


def stdlib_read(path: Path) -> tuple[int, float]:
    """Messages in the mbox, and the seconds `mailbox.mbox` takes to read each one's bytes."""
    start = time.perf_counter()
    box = mailbox.mbox(path, create=False)
    count = 0
    for message in box:
        if not bytes(message):
            raise RuntimeError("an empty message")
        count += 1
    box.close()
    return count, time.perf_counter() - start


async def export_rpc(stub: pb_grpc.EmailStoreStub, tenant: str, path: Path) -> tuple[int, float]:
    """ExportMessages of the whole tenant into a file: (messages, seconds)."""
    done = 0
    start = time.perf_counter()
    with path.open("wb") as out:
        async for chunk in stub.ExportMessages(pb.ExportMessagesRequest(tenant_id=tenant)):
            out.write(chunk.data)
            done = chunk.messages_done
    return done, time.perf_counter() - start


async def _cli(*arguments: str) -> tuple[int, float, str]:
    """`emailstore ARGUMENTS` in its own process: (exit code, seconds, its output)."""
    command = str(Path(sys.executable).parent / "emailstore")
    environment = {**os.environ, "EMAILSTORE_LOG_LEVEL": "WARNING"}
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        command,
        *arguments,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, time.perf_counter() - start, output.decode()[-2000:]


async def _import_by_rpc(port: int, path: Path) -> tuple[int, float]:
    """The same import without the CLI: IngestRawMessage of each entry, 16 callers."""
    entries = [bytes(m) for m in mailbox.mbox(path, create=False)]
    seconds = await service_ingest(port, str(uuid.uuid4()), entries)
    return len(entries), seconds


async def transfer(
    stub: pb_grpc.EmailStoreStub, port: int, url: str, count: int, folder: Path
) -> list[str]:
    """Ingests the mix into a fresh tenant, exports it, imports the export into another;
    the table rows."""
    tenant = str(uuid.uuid4())
    messages = small_reply_mix(count, seed=13)
    raw_mb = sum(len(m) for m in messages) / 1e6
    start = time.perf_counter()
    await service_ingest(port, tenant, messages)
    await harness.analyze(url)
    print(
        f"  ingested {count:,} replies ({raw_mb:,.1f} MB) in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    written = folder / "stdlib.mbox"
    write_s = await asyncio.to_thread(stdlib_write, written, messages)
    exported = folder / "export.mbox"
    done, rpc_s = await export_rpc(stub, tenant, exported)
    if done != count:
        raise RuntimeError(f"ExportMessages: {done:,} of {count:,} messages")
    size = exported.stat().st_size
    print(f"  ExportMessages: {size / 1e6 / rpc_s:,.1f} MB/s", flush=True)
    read_count, read_s = await asyncio.to_thread(stdlib_read, exported)
    if read_count != count:
        raise RuntimeError(f"mailbox reads {read_count:,} of {count:,} exported messages")
    target = f"127.0.0.1:{port}"
    cli_file = folder / "cli.mbox"
    code, cli_export_s, output = await _cli(
        "export", "--tenant", tenant, "--target", target, "--output", str(cli_file)
    )
    if code != 0 or cli_file.stat().st_size != size:
        raise RuntimeError(f"emailstore export failed ({code}): {output}")
    imported = str(uuid.uuid4())
    code, import_s, output = await _cli(
        "import",
        "--tenant",
        imported,
        "--target",
        target,
        "--account",
        "inbox-1",
        "--concurrency",
        str(IMPORT_CALLERS),
        str(exported),
    )
    import_name = f"emailstore import, {IMPORT_CALLERS} in flight (IngestRawMessage)"
    if code != 0:
        print(f"  emailstore import failed ({code}): {output}", flush=True)
        _, import_s = await _import_by_rpc(port, exported)
        import_name = f"IngestRawMessage of each entry, {IMPORT_CALLERS} callers (no CLI)"
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=imported))
    if code == 0 and usage.message_count != count:
        raise RuntimeError(f"emailstore import: {usage.message_count:,} of {count:,} stored")
    print(f"  import: {size / 1e6 / import_s:,.1f} MB/s", flush=True)
    mb = size / 1e6
    written_mb = written.stat().st_size / 1e6

    def row(name: str, megabytes: float, seconds: float, reference: float) -> str:
        rate = megabytes / seconds
        return (
            f"| {name} | {count:,} | {megabytes:,.1f} | {seconds:.2f} | {rate:,.1f} | "
            f"{rate / reference:.2f} |"
        )

    write_rate, read_rate = written_mb / write_s, mb / read_s
    return [
        row("mailbox.mbox: add() every message (writing)", written_mb, write_s, write_rate),
        row("ExportMessages, one stream, to a file", mb, rpc_s, write_rate),
        row("emailstore export (CLI process, from start to exit)", mb, cli_export_s, write_rate),
        row("mailbox.mbox: iterate, bytes() of each (reading)", mb, read_s, read_rate),
        row(import_name + " (from start to exit)", mb, import_s, read_rate),
    ]


# ------------------------------------------------------------------ the run


async def run(admin_url: str, args: Any) -> str:
    """Seeds, measures, returns the tables."""
    stored = args.gov_stored
    expired = min(args.gov_expired, stored)
    campaigns = max(1, stored // PER_CAMPAIGN)
    tenant = str(uuid.uuid4())
    url = harness.database(admin_url, "bench_governance")
    bare_url = harness.database(admin_url, "bench_governance_bare", migrate=False)
    start = time.perf_counter()
    done = seed.seed(url, tenant, 0, stored, range(campaigns), rewrite=aging(expired))
    rows_stored = done.outbound + done.inbound
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT count(*) FROM email_messages WHERE expires_at <= now()"
        ).fetchone()
        autovacuum = conn.execute("SHOW autovacuum").fetchone()
    assert found is not None
    assert autovacuum is not None
    due = int(found[0])  # the expired messages and their replies
    seed_bare(bare_url, tenant, rows_stored, due, campaigns)
    vacuum(url, analyze=True)
    vacuum(bare_url, analyze=True)
    print(
        f"  seeded {rows_stored:,} messages ({due:,} expired), {done.events:,} events, and the "
        f"bare schema, vacuumed, in {time.perf_counter() - start:.0f} s "
        f"(autovacuum {autovacuum[0]})",
        flush=True,
    )
    seeded = sizes(url)
    bare_seeded = sizes(bare_url, messages="bare_messages", events="bare_events")

    # The purge must not run on its own schedule during the measurements.
    server, port = await harness.start_server(
        url, args.pool, env={"EMAILSTORE_PURGE_INTERVAL_S": "0"}
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            erase_lines = await erasure(stub, tenant, args.gov_erase)
            bare_erased, bare_erase_s = await asyncio.to_thread(bare_erase, bare_url, tenant)

            bare_deleted, bare_s = await asyncio.to_thread(bare_purge, bare_url, tenant)
            bare = Result(
                "bare psycopg: DELETE ... IN (SELECT ... ORDER BY expires_at LIMIT 500) "
                "until none, events cascading",
                bare_deleted,
                bare_s,
            )
            print(f"  {bare.name}: {bare.rate:,.0f}/s", flush=True)
            bare_purged = await _settled_sizes(
                bare_url, messages="bare_messages", events="bare_events"
            )
            bare_vacuum_s = await asyncio.to_thread(vacuum, bare_url)
            bare_vacuumed = await _settled_sizes(
                bare_url, messages="bare_messages", events="bare_events"
            )

            writers = Writers(stub, tenant, args.concurrency)
            await writers.run("warm-up", lambda: asyncio.sleep(5))
            await harness.analyze(url)
            alone = await writers.run(
                f"StoreMessage, {args.concurrency} callers, no purge running",
                lambda: asyncio.sleep(args.gov_write_seconds),
            )
            print(f"  {alone.name}: {alone.rate:,.0f}/s", flush=True)
            before = await _settled_sizes(url)

            limit = args.gov_purge_limit
            first, first_s, first_calls = await purge(stub, tenant, limit, until=due // 2)
            purge_alone = Result(
                f"PurgeExpired, calls of limit {limit:,}, no writers", first, first_s
            )
            print(f"  {purge_alone.name}: {purge_alone.rate:,.0f}/s", flush=True)
            halfway = await _settled_sizes(url)
            rest: list[tuple[int, float, int]] = []

            async def purge_rest() -> None:
                rest.append(await purge(stub, tenant, limit))

            during = await writers.run(
                f"StoreMessage, {args.concurrency} callers, during the purge", purge_rest
            )
            second, second_s, second_calls = rest[0]
            purge_loaded = Result(
                f"PurgeExpired, calls of limit {limit:,}, while {args.concurrency} callers "
                "store messages",
                second,
                second_s,
            )
            print(f"  {purge_loaded.name}: {purge_loaded.rate:,.0f}/s", flush=True)
            print(f"  {during.name}: {during.rate:,.0f}/s", flush=True)
            purged = await _settled_sizes(url)
            waited, after_wait = await wait_for_autovacuum(
                url, first + second, args.gov_autovacuum_wait
            )
            vacuum_s = await asyncio.to_thread(vacuum, url)
            vacuumed = await _settled_sizes(url)
            print(f"  VACUUM after the purge: {vacuum_s:.1f} s", flush=True)

            folder = Path(tempfile.mkdtemp(prefix="emailstore-gov-"))
            try:
                transfer_lines = await transfer(stub, port, url, args.gov_export, folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        await harness.stop_server(server)

    total = Result("PurgeExpired, all", first + second, first_s + second_s)
    lines = [
        f"{rows_stored:,} messages stored, {due:,} of them expired; "
        f"{first_calls + second_calls} PurgeExpired calls; the writers stored "
        f"{writers.done:,} messages in all (warm-up included)",
        "",
        "| purge | messages | seconds | messages/s | x bare | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in (bare, purge_alone, purge_loaded, total):
        target = "" if r is bare else f"≥ 2,000/s → {_verdict(r.rate >= 2000)}"
        lines.append(
            f"| {r.name} | {r.messages:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / bare.rate:.2f} | {target} |"
        )
    lines += [
        "",
        "| writes | messages | seconds | messages/s | x no purge |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in (alone, during):
        lines.append(
            f"| {r.name} | {r.messages:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / alone.rate:.2f} |"
        )
    lines += [
        "",
        "| database | moment | database MiB | messages MiB | events MiB | changes MiB | "
        "live messages | dead messages | dead events | autovacuums so far |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def size_row(db: str, moment: str, s: Sizes) -> str:
        return (
            f"| {db} | {moment} | {_mib(s.database)} | {_mib(s.messages)} | {_mib(s.events)} | "
            f"{_mib(s.changes)} | {s.live:,} | {s.dead_messages:,} | {s.dead_events:,} | "
            f"{s.autovacuums} |"
        )

    lines += [
        size_row("service", "seeded, VACUUM ANALYZE", seeded),
        size_row("service", "after the writes with no purge", before),
        size_row("service", "after the first half of the purge (no writers)", halfway),
        size_row("service", "right after the purge", purged),
        size_row("service", f"{waited:.0f} s later (autovacuum's turn)", after_wait),
        size_row("service", f"after VACUUM ({vacuum_s:.1f} s)", vacuumed),
        size_row("bare", "seeded, VACUUM ANALYZE", bare_seeded),
        size_row("bare", "right after the purge", bare_purged),
        size_row("bare", f"after VACUUM ({bare_vacuum_s:.1f} s)", bare_vacuumed),
        "",
        "| erasure | messages | events | attachments | changes | MB freed | seconds | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        *erase_lines,
        f"| bare psycopg: DELETE of the lead's rows, events cascading | {bare_erased:,} | "
        f"{2 * bare_erased:,} | | | | {bare_erase_s:.2f} | |",
        "",
        "| export and import | messages | MB | seconds | MB/s | x mailbox |",
        "|---|---:|---:|---:|---:|---:|",
        *transfer_lines,
    ]
    return "\n".join(lines)

"""Find and follow at a million messages: search, reads, the change feed, the write cost.

One tenant with 1,000,000 messages in 100 campaigns seeded by COPY (benchmarks/seed.py: the
service's rows, search vectors built by the service's own searchtext code, and a change per
message), then, against the real `emailstore serve`:

* SearchMessages p50/p99 (one caller) for each query class: a common word, a rare word, a
  phrase, an address substring, operators combined;
* the same classes by a bare psycopg query a user could write instead: to_tsvector over the
  same text in a GIN index, `ORDER BY created_at DESC LIMIT 50` (the planner trap);
* GetMessage FULL p50/p99 of messages stored through StoreMessages into the same tenant, and
  ListMessages by campaign (a page of 100);
* ListChanges: changes per second paging through the feed; WatchChanges: the latency from a
  StoreMessage's answer to its change arriving on a watch;
* the write path before and after (with `--find-before-tree DIR`: a checkout of the code before
  the search vector and the feed, e.g. `git worktree add /tmp/pre13 <commit>`): StoreMessage
  messages/s, 32 callers, each on a fresh database, same run;
* index sizes per message.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
import psycopg
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from benchmarks import harness, seed
from benchmarks.corpus import outbound
from benchmarks.requests import store_request

PER_CAMPAIGN = 10_000

# Query classes, as a user types them; what each finds is printed with it.
QUERIES = {
    "common word": "quick",
    "rare word": seed.RARE_WORD,
    "phrase": '"quick question"',
    "rare phrase": f'"{seed.RARE_PHRASE}"',
    "address substring": "to:lead-042-0001",
    "address domain (common)": "from:tryvectorpath",
    "operators combined": f"from:sam3 -status:bounced step:2 {seed.MID_WORD}",
    "campaign + word": "campaign:camp-003 pricing",
    "has:attachment (none seeded)": "has:attachment",
}

BARE_SCHEMA = """
CREATE TABLE bare_messages (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, created_at timestamptz NOT NULL,
    subject text NOT NULL, body text NOT NULL, from_email text NOT NULL,
    PRIMARY KEY (tenant_id, storage_key)
);
"""
BARE_INDEXES = """
CREATE INDEX bare_created ON bare_messages (tenant_id, created_at DESC);
CREATE INDEX bare_fts ON bare_messages USING gin (to_tsvector('simple', subject || ' ' || body));
ANALYZE bare_messages;
"""
BARE_SEARCH = """
SELECT storage_key FROM bare_messages
WHERE tenant_id = %(tenant)s
  AND to_tsvector('simple', subject || ' ' || body) @@ {tsquery}
ORDER BY created_at DESC LIMIT 50
"""
BARE_QUERIES = {
    "common word": ("plainto_tsquery('simple', %(q)s)", "quick"),
    "rare word": ("plainto_tsquery('simple', %(q)s)", seed.RARE_WORD),
    "phrase": ("phraseto_tsquery('simple', %(q)s)", "quick question"),
    "rare phrase": ("phraseto_tsquery('simple', %(q)s)", seed.RARE_PHRASE),
}


def _percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return ordered[len(ordered) // 2] * 1000, p99 * 1000


async def _timed(calls: int, call: Any) -> tuple[float, float, Any]:
    times: list[float] = []
    result = None
    for i in range(calls + 2):
        start = time.perf_counter()
        result = await call()
        if i >= 2:
            times.append(time.perf_counter() - start)
    p50, p99 = _percentiles(times)
    return p50, p99, result


def seed_bare(url: str, tenant: str, stored: int) -> None:
    """The bare table with the same subjects and bodies as the service's seed."""
    with psycopg.connect(url) as conn:
        conn.execute(BARE_SCHEMA)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY bare_messages (tenant_id, storage_key, created_at, subject, body, "
                "from_email) FROM STDIN"
            ) as copy,
        ):
            for i, (created, subject, body, sender) in enumerate(seed.texts(0, stored)):
                copy.write_row((tenant, seed.storage_key(i), created, subject, body, sender))
        conn.commit()
        conn.execute(BARE_INDEXES)
        conn.commit()


async def _store_unary(port: int, count: int, warmup: int, concurrency: int) -> float:
    """StoreMessage from `concurrency` callers into a fresh tenant: messages/s."""
    tenant = str(uuid.uuid4())
    requests = [store_request(tenant, e) for e in outbound(0, count + warmup, 42)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        await harness.run_concurrently(requests[:warmup], concurrency, stub.StoreMessage)
        seconds = await harness.run_concurrently(requests[warmup:], concurrency, stub.StoreMessage)
        return count / seconds


async def write_cost(admin_url: str, args: Any) -> list[str]:
    """StoreMessage messages/s now, and with the code before search and the feed."""
    lines = []
    trees = [("after: search vector and change feed", None)]
    if args.find_before_tree:
        trees.insert(0, ("before: the code without them", args.find_before_tree))
    rates = []
    for n, (name, tree) in enumerate(trees):
        url = harness.database(admin_url, f"bench_find_write_{n}", migrate=tree is None)
        server, port = await harness.start_server(url, args.pool, server_tree=tree)
        try:
            rate = await _store_unary(port, args.find_writes, 500, args.concurrency)
        finally:
            await harness.stop_server(server)
        rates.append(rate)
        print(f"  StoreMessage {name}: {rate:,.0f}/s", flush=True)
        lines.append(
            f"| StoreMessage, {args.concurrency} callers, {name} | {rate:,.0f} | "
            f"{rate / rates[0]:.2f} |"
        )
    return [
        "| write path | messages/s | x before |",
        "|---|---:|---:|",
        *lines,
    ]


async def _watch_latency(stub: pb_grpc.EmailStoreStub, samples: int) -> tuple[float, float]:
    tenant = str(uuid.uuid4())
    call = stub.WatchChanges(pb.WatchChangesRequest(tenant_id=tenant))
    stream: AsyncIterator[pb.Change] = call.__aiter__()
    times: list[float] = []
    for i in range(samples):
        await stub.StoreMessage(store_request(tenant, outbound(i, 1, 5)[0]))
        stored_at = time.perf_counter()
        await asyncio.wait_for(stream.__anext__(), timeout=10)
        times.append(time.perf_counter() - stored_at)
        await asyncio.sleep(0.02)
    call.cancel()
    return _percentiles(times)


def _index_sizes(url: str, rows: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname IN ('email_messages', 'changes') ORDER BY 2 DESC"
        ).fetchall()
    return [f"| {name} | {size / 2**20:,.1f} MiB | {size / rows:,.0f} |" for name, size in found]


async def run(admin_url: str, args: Any) -> str:
    """Seeds, measures, returns the tables."""
    stored = args.find_stored
    campaigns = max(1, stored // PER_CAMPAIGN)
    tenant = str(uuid.uuid4())
    write_lines = await write_cost(admin_url, args)
    url = harness.database(admin_url, "bench_find")
    start = time.perf_counter()
    done = seed.seed(url, tenant, 0, stored, range(campaigns), changes=True)
    print(
        f"  seeded {done.outbound + done.inbound:,} messages in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    bare_url = harness.database(admin_url, "bench_find_bare", migrate=False)
    seed_bare(bare_url, tenant, stored)
    server, port = await harness.start_server(url, args.pool)
    lines = [
        "| query | class | found (first page) | p50 ms | p99 ms | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.EmailStoreStub(channel)
            worst50 = worst99 = 0.0
            for name, q in QUERIES.items():
                request = pb.SearchMessagesRequest(tenant_id=tenant, query=q, page_size=50)
                p50, p99, page = await _timed(
                    args.find_calls, lambda r=request: stub.SearchMessages(r)
                )
                worst50, worst99 = max(worst50, p50), max(worst99, p99)
                lines.append(f"| `{q}` | {name} | {len(page.messages)} | {p50:.1f} | {p99:.1f} | |")
                print(f"  SearchMessages {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
            ok = worst50 <= 100 and worst99 <= 500
            lines.append(
                f"| every class | | | {worst50:.1f} | {worst99:.1f} | p50 ≤ 100, p99 ≤ 500 → "
                f"{'PASS' if ok else 'MISS'} |"
            )
            with psycopg.connect(bare_url, autocommit=True) as bare:
                for name, (tsquery, q) in BARE_QUERIES.items():
                    sql = BARE_SEARCH.format(tsquery=tsquery)
                    times = []
                    found = []
                    for i in range(min(args.find_calls, 20) + 1):
                        t = time.perf_counter()
                        found = bare.execute(sql, {"tenant": tenant, "q": q}).fetchall()
                        if i:
                            times.append(time.perf_counter() - t)
                    p50, p99 = _percentiles(times)
                    lines.append(
                        f"| bare psycopg: `{q}` | {name} | {len(found)} | {p50:.1f} | {p99:.1f} | |"
                    )

            # Reads of messages stored through the API, at a million stored.
            emails = outbound(0, 2000, 9)

            async def send() -> AsyncIterator[pb.StoreMessageRequest]:
                for e in emails:
                    yield store_request(tenant, e)

            keys = [r.storage_key async for r in stub.StoreMessages(send())]
            sample = keys[::4]
            it = iter(sample * 2)
            get50, get99, _ = await _timed(
                len(sample) - 2,
                lambda: stub.GetMessage(
                    pb.GetMessageRequest(tenant_id=tenant, storage_key=next(it), view=pb.FULL)
                ),
            )
            listing = pb.ListMessagesRequest(
                tenant_id=tenant, campaign_id=seed.campaign_id(campaigns // 2), page_size=100
            )
            list50, list99, page = await _timed(args.find_calls, lambda: stub.ListMessages(listing))
            assert len(page.messages) == 100

            # The feed: page through it; then watch.
            since, got = 0, 0
            start = time.perf_counter()
            while got < args.find_changes:
                changes = await stub.ListChanges(
                    pb.ListChangesRequest(tenant_id=tenant, since_sequence=since, page_size=1000)
                )
                if not changes.changes:
                    break
                got += len(changes.changes)
                since = changes.next_sequence
            feed_rate = got / (time.perf_counter() - start)
            watch50, watch99 = await _watch_latency(stub, args.find_watch)
    finally:
        await harness.stop_server(server)
    rows = stored
    reads = [
        "| read | p50 ms | p99 ms | target |",
        "|---|---:|---:|---|",
        f"| GetMessage FULL, one caller | {get50:.2f} | {get99:.2f} | p50 ≤ 5, p99 ≤ 25 → "
        f"{'PASS' if get50 <= 5 and get99 <= 25 else 'MISS'} |",
        f"| ListMessages by campaign, page of 100 | {list50:.2f} | {list99:.2f} | p50 ≤ 15 → "
        f"{'PASS' if list50 <= 15 else 'MISS'} |",
        f"| WatchChanges: StoreMessage answered → change received | {watch50:.1f} | {watch99:.1f} | < 1,000 |",
        "",
        "| feed | changes | changes/s | target |",
        "|---|---:|---:|---|",
        f"| ListChanges, pages of 1,000 | {got:,} | {feed_rate:,.0f} | ≥ 20,000/s → "
        f"{'PASS' if feed_rate >= 20000 else 'MISS'} |",
        "",
        "| index | size | bytes per message |",
        "|---|---:|---:|",
        *_index_sizes(url, rows),
    ]
    return "\n".join([*lines, "", *reads, "", *write_lines])

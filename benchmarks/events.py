"""Lifecycle: status events at a million stored messages, and campaign statistics.

One tenant, 100 campaigns of 10,000 outbound messages (and the replies they drew, and their
events), seeded by COPY (benchmarks/seed.py). Measured in the same run:

* bare psycopg writer - what a user could write instead: a minimal schema (a messages table
  with per-status times, an events table unique by event id), seeded with as many rows; per
  event one transaction that inserts the event (skipping a repeated id) and updates the
  message's status and time; 32 concurrent tasks on a pool of 10, no gRPC;
* UpdateMessageStatus - the real `emailstore serve`, 32 concurrent unary callers;
* RecordMessageEvents - the same server, the events sent over 4 concurrent streams;
* GetCampaignStats p50/p90 of a 10,000-message campaign, one caller, with 100,000 and with
  1,000,000 messages stored (its cost must follow the campaign, not the tenant).

The events are deliveries, opens and clicks of random messages of every campaign, each with
its own ESP event id, a few repeated (webhooks retry).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import psycopg
import psycopg_pool
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp

from benchmarks import blobs, harness, seed

PER_CAMPAIGN = 10_000
_STATUSES = {"delivered": pb.DELIVERED, "opened": pb.OPENED, "clicked": pb.CLICKED}
_RANK = ["queued", "sent", "delivered", "opened", "clicked", "replied"]

BARE_SCHEMA = """
CREATE TABLE bare_messages (
    tenant_id uuid NOT NULL, storage_key text NOT NULL, campaign_id text NOT NULL,
    lead_id text NOT NULL, sequence_step int NOT NULL, status text NOT NULL,
    created_at timestamptz NOT NULL, sent_at timestamptz,
    delivered_at timestamptz, opened_at timestamptz, clicked_at timestamptz,
    PRIMARY KEY (tenant_id, storage_key)
);
CREATE INDEX bare_messages_campaign ON bare_messages (tenant_id, campaign_id, created_at);
CREATE TABLE bare_events (
    id bigserial PRIMARY KEY, tenant_id uuid NOT NULL, storage_key text NOT NULL,
    event_id text NOT NULL, status text NOT NULL, occurred_at timestamptz NOT NULL,
    detail jsonb NOT NULL, UNIQUE (tenant_id, event_id)
);
"""
BARE_INSERT_EVENT = """
INSERT INTO bare_events (tenant_id, storage_key, event_id, status, occurred_at, detail)
VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, event_id) DO NOTHING RETURNING id
"""
# The status only moves forward (its rank), each time is the earliest reported.
BARE_UPDATE = """
UPDATE bare_messages SET
    status = CASE WHEN array_position(%(rank)s::text[], status)
                       < array_position(%(rank)s::text[], %(status)s) THEN %(status)s
                  ELSE status END,
    {column} = LEAST(coalesce({column}, %(at)s), %(at)s)
WHERE tenant_id = %(tenant)s AND storage_key = %(key)s
"""


@dataclass(frozen=True)
class Event:
    """One webhook event."""

    storage_key: str
    status: str
    at: datetime
    event_id: str


@dataclass(frozen=True)
class Rate:
    """Events recorded per second."""

    name: str
    events: int
    seconds: float

    @property
    def rate(self) -> float:
        """Events per second."""
        return self.events / self.seconds


def events(count: int, stored: int, rng: random.Random) -> list[Event]:
    """`count` events for random stored messages, 2% of them repeats of an earlier one."""
    made: list[Event] = []
    for i in range(count):
        if made and rng.random() < 0.02:
            made.append(rng.choice(made))
            continue
        index = rng.randrange(stored)
        status = rng.choice(tuple(_STATUSES))
        at = datetime.fromtimestamp(1_761_955_200 + rng.uniform(0, 86400 * 30), UTC)
        made.append(Event(seed.storage_key(index), status, at, f"wh-{uuid.uuid4().hex}-{i}"))
    return made


def _request(tenant: str, event: Event) -> pb.UpdateMessageStatusRequest:
    occurred = Timestamp()
    occurred.FromDatetime(event.at)
    return pb.UpdateMessageStatusRequest(
        tenant_id=tenant,
        storage_key=event.storage_key,
        status=_STATUSES[event.status],
        occurred_at=occurred,
        event_id=event.event_id,
        detail={"ip": "198.51.100.23", "user_agent": "Mozilla/5.0"},
    )


# ---------------------------------------------------------------- the bare writer


def seed_bare(url: str, tenant: str, stored: int, campaigns: int) -> None:
    """The bare schema with as many messages and events as the service's tables."""
    with psycopg.connect(url) as conn:
        conn.execute(BARE_SCHEMA)
        with conn.cursor() as cur:
            columns = (
                "tenant_id, storage_key, campaign_id, lead_id, sequence_step, status, "
                "created_at, sent_at, delivered_at, opened_at, clicked_at"
            )
            rng = random.Random(3)
            with cur.copy(f"COPY bare_messages ({columns}) FROM STDIN") as copy:
                for i in range(stored):
                    at = seed.START + timedelta(seconds=rng.uniform(0, seed.DAYS * 86400))
                    later = [at + timedelta(hours=h) for h in (1, 20, 30)]
                    reached = rng.choice((1, 1, 2, 2, 3))
                    copy.write_row(
                        (
                            tenant,
                            seed.storage_key(i),
                            seed.campaign_id(i % campaigns),
                            f"lead-{(i // campaigns) % seed.LEADS}",
                            1 + min((i // campaigns) // seed.LEADS, 2),
                            ("delivered", "opened", "clicked")[reached - 1],
                            at,
                            at,
                            *[t if n < reached else None for n, t in enumerate(later)],
                        )
                    )
            columns = "tenant_id, storage_key, event_id, status, occurred_at, detail"
            with cur.copy(f"COPY bare_events ({columns}) FROM STDIN") as copy:
                for i in range(stored):
                    for n in range(2):
                        copy.write_row(
                            (tenant, seed.storage_key(i), f"esp-{i}-{n}", "sent", seed.START, "{}")
                        )
        conn.commit()
        conn.execute("ANALYZE")


async def bare_writer(url: str, tenant: str, made: list[Event], concurrency: int) -> Rate:
    """Per event: insert it, and unless it was a repeat update the message; one transaction."""
    async with psycopg_pool.AsyncConnectionPool(url, min_size=10, max_size=10, open=False) as pool:
        await pool.open(wait=True)

        async def record(event: Event) -> None:
            async with pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(
                    BARE_INSERT_EVENT,
                    (
                        tenant,
                        event.storage_key,
                        event.event_id,
                        event.status,
                        event.at,
                        psycopg.types.json.Jsonb(
                            {"ip": "198.51.100.23", "user_agent": "Mozilla/5.0"}
                        ),
                    ),
                )
                if await cursor.fetchone() is None:
                    return
                await conn.execute(
                    BARE_UPDATE.format(column=f"{event.status}_at"),
                    {
                        "rank": _RANK,
                        "status": event.status,
                        "at": event.at,
                        "tenant": tenant,
                        "key": event.storage_key,
                    },
                )

        seconds = await harness.run_concurrently(made, concurrency, record)
    return Rate(
        f"bare psycopg writer: insert event + update message, {concurrency} tasks, pool 10",
        len(made),
        seconds,
    )


# ---------------------------------------------------------------- the service


async def unary(
    port: int, tenant: str, made: list[Event], concurrency: int, what: str = ""
) -> Rate:
    """UpdateMessageStatus from `concurrency` callers over one channel."""
    requests = [_request(tenant, e) for e in made]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)

        async def call(request: pb.UpdateMessageStatusRequest) -> None:
            await stub.UpdateMessageStatus(request)

        seconds = await harness.run_concurrently(requests, concurrency, call)
    return Rate(f"{what}UpdateMessageStatus, {concurrency} concurrent callers", len(made), seconds)


async def streamed(port: int, tenant: str, made: list[Event], streams: int, what: str = "") -> Rate:
    """RecordMessageEvents over `streams` concurrent streams."""
    requests = [_request(tenant, e) for e in made]

    async def send(
        batch: list[pb.UpdateMessageStatusRequest],
    ) -> AsyncIterator[pb.UpdateMessageStatusRequest]:
        for request in batch:
            yield request

    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)

        async def stream(batch: list[pb.UpdateMessageStatusRequest]) -> None:
            async for response in stub.RecordMessageEvents(send(batch)):
                if response.HasField("error"):
                    raise RuntimeError(response.error.message)

        start = time.perf_counter()
        await asyncio.gather(*(stream(requests[i::streams]) for i in range(streams)))
        seconds = time.perf_counter() - start
    return Rate(f"{what}RecordMessageEvents, {streams} streams", len(made), seconds)


async def stats_latency(
    port: int, tenant: str, campaign: str, calls: int
) -> tuple[float, float, int]:
    """GetCampaignStats of one campaign, one caller: p50 and p90 in ms, and its messages."""
    times: list[float] = []
    total = 0
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.EmailStoreStub(channel)
        request = pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id=campaign)
        for i in range(calls + 3):
            start = time.perf_counter()
            stats = await stub.GetCampaignStats(request)
            if i >= 3:  # the first calls warm the caches
                times.append(time.perf_counter() - start)
            total = stats.total_messages
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.9)] * 1000, total


# What a user would write for a campaign's figures on the minimal schema: counts per step
# and in all, unique leads, and the events of each day, in one statement.
BARE_STATS = """
WITH o AS MATERIALIZED (
    SELECT lead_id, sequence_step, status, sent_at, delivered_at, opened_at, clicked_at
    FROM bare_messages WHERE tenant_id = %(tenant)s AND campaign_id = %(campaign)s
), counts AS (
    SELECT sequence_step, count(*) AS total,
           count(*) FILTER (WHERE sent_at IS NOT NULL) AS sent,
           count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,
           count(*) FILTER (WHERE opened_at IS NOT NULL) AS opened,
           count(*) FILTER (WHERE clicked_at IS NOT NULL) AS clicked,
           count(DISTINCT lead_id) AS leads
    FROM o GROUP BY GROUPING SETS ((sequence_step), ())
), days AS (
    SELECT sent_at::date AS day, 'sent' AS k, count(*) AS n FROM o
    WHERE sent_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT delivered_at::date, 'delivered', count(*) FROM o
    WHERE delivered_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT opened_at::date, 'opened', count(*) FROM o
    WHERE opened_at IS NOT NULL GROUP BY 1
    UNION ALL SELECT clicked_at::date, 'clicked', count(*) FROM o
    WHERE clicked_at IS NOT NULL GROUP BY 1
)
SELECT (SELECT jsonb_agg(to_jsonb(c)) FROM counts c), (SELECT jsonb_agg(to_jsonb(d)) FROM days d)
"""


def bare_stats_latency(url: str, tenant: str, campaign: str, calls: int) -> tuple[float, float]:
    """The bare campaign query on the minimal schema, one caller: p50 and p90 in ms."""
    times: list[float] = []
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        for i in range(calls + 3):
            start = time.perf_counter()
            conn.execute(BARE_STATS, {"tenant": tenant, "campaign": campaign}).fetchall()
            if i >= 3:
                times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1000, times[int(len(times) * 0.9)] * 1000


def _size(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


async def run(admin_url: str, args: Any) -> str:
    """Seeds, measures, and returns the table."""
    stored = args.events_stored
    campaigns = max(1, stored // PER_CAMPAIGN)
    small = max(PER_CAMPAIGN, stored // 10)
    tenant = str(uuid.uuid4())
    url = harness.database(admin_url, "bench_events")
    bare_url = harness.database(admin_url, "bench_events_bare", migrate=False)
    lines: list[str] = []
    start = time.perf_counter()
    first = max(1, small // PER_CAMPAIGN)
    seed.seed(url, tenant, 0, small, range(first))
    print(f"  seeded {small:,} messages in {time.perf_counter() - start:.0f} s", flush=True)
    server, port = await harness.start_server(url, args.pool)
    try:
        at_small = await stats_latency(port, tenant, seed.campaign_id(0), args.stats_calls)
        size_small = _size(url)
        print(f"  GetCampaignStats at {small:,}: p50 {at_small[0]:.1f} ms", flush=True)
        start = time.perf_counter()
        # The rest in other campaigns: the measured campaign keeps its 10,000 messages.
        if stored > small:
            seed.seed(url, tenant, small, stored, range(first, campaigns), seed=8)
        print(
            f"  seeded {stored:,} messages in all in {time.perf_counter() - start:.0f} s",
            flush=True,
        )
        at_large = await stats_latency(port, tenant, seed.campaign_id(0), args.stats_calls)
        # A campaign of the second seed: its rows spread over the whole table.
        spread = seed.campaign_id((first + campaigns) // 2)
        at_large_spread = await stats_latency(port, tenant, spread, args.stats_calls)
        print(f"  GetCampaignStats at {stored:,}: p50 {at_large[0]:.1f} ms", flush=True)
        size_large = _size(url)

        seed_bare(bare_url, tenant, stored, campaigns)
        bare_stats = bare_stats_latency(bare_url, tenant, spread, args.stats_calls)
        rng = random.Random(11)
        made = events(args.events + args.events_stream, stored, rng)
        warm = events(500, stored, rng)
        bare = await bare_writer(bare_url, tenant, made[: args.events], args.concurrency)
        print(f"  {bare.name}: {bare.rate:,.0f}/s", flush=True)
        await unary(port, tenant, warm, args.concurrency)
        one = await unary(port, tenant, made[: args.events], args.concurrency)
        print(f"  {one.name}: {one.rate:,.0f}/s", flush=True)
        many = await streamed(port, tenant, made[args.events :], args.streams)
        print(f"  {many.name}: {many.rate:,.0f}/s", flush=True)
    finally:
        await harness.stop_server(server)
    async with blobs.ReferenceServer() as reference:
        alone = "gRPC alone: "
        null_one = await unary(reference.port, tenant, made[: args.events], args.concurrency, alone)
        null_many = await streamed(reference.port, tenant, made[args.events :], args.streams, alone)
    print(f"  {null_one.name}: {null_one.rate:,.0f}/s", flush=True)

    lines += [
        "| events | events | seconds | events/s | x bare writer | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    targets = {
        one.name: f"≥ 0.5x → {_verdict(one.rate >= 0.5 * bare.rate)}",
        many.name: f"≥ 3,000/s and ≥ 1.0x → {_verdict(many.rate >= 3000 and many.rate >= bare.rate)}",
    }
    for r in (bare, one, many, null_one, null_many):
        lines.append(
            f"| {r.name} | {r.events:,} | {r.seconds:.2f} | {r.rate:,.0f} | "
            f"{r.rate / bare.rate:.2f} | {targets.get(r.name, '')} |"
        )
    flat = max(at_large[0], at_large_spread[0]) <= 1.5 * at_small[0] + 5
    worst = max(at_small[0], at_large[0], at_large_spread[0])
    lines += [
        "",
        "| GetCampaignStats, one caller | campaign's messages | stored | database | p50 ms | p90 ms | target |",
        "|---|---:|---:|---:|---:|---:|---|",
        f"| {seed.campaign_id(0)} | {at_small[2]:,} | {small:,} | {size_small / 2**20:,.0f} MiB | "
        f"{at_small[0]:.1f} | {at_small[1]:.1f} | |",
        f"| {seed.campaign_id(0)} | {at_large[2]:,} | {stored:,} | {size_large / 2**20:,.0f} MiB | "
        f"{at_large[0]:.1f} | {at_large[1]:.1f} | |",
        f"| {spread} (rows spread over the table) | {at_large_spread[2]:,} | "
        f"{stored:,} | {size_large / 2**20:,.0f} MiB | {at_large_spread[0]:.1f} | "
        f"{at_large_spread[1]:.1f} | p50 ≤ 50 ms, flat → {_verdict(worst <= 50 and flat)} |",
        f"| bare psycopg: the same counts and days on the minimal schema, {spread} | "
        f"{PER_CAMPAIGN:,} | {stored:,} | {_size(bare_url) / 2**20:,.0f} MiB | "
        f"{bare_stats[0]:.1f} | {bare_stats[1]:.1f} | |",
    ]
    return "\n".join(lines)

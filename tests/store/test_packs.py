"""Packs and per-tenant dictionaries on a real PostgreSQL: what is written reads back exactly,
whatever dictionary it was made with, whatever happens to the dictionaries."""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import Any

import psycopg
import pytest

from service import models
from service.app import App
from service.config import Config
from service.core.downloads import DownloadService
from service.core.recompress import Recompressor
from service.errors import DataLoss
from service.models import Caller, DownloadRequest, RawMessageInput, View
from tests.factories import store_input
from tests.mime_corpus import corpus

FIRST = ["Jane", "Omar", "Li", "Priya", "Lukas", "Sofia", "Mateo", "Aisha"]
COMPANIES = ["Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Hooli"]


@pytest.fixture
def config() -> Config:
    """Dictionaries trained on demand only (so the tests decide when), from few samples."""
    return Config(listen="127.0.0.1:0", dict_training=False, dict_min_samples=20)


def _cold(i: int, template: int = 0) -> models.StoreMessageInput:
    rng = random.Random(i)
    name, company = rng.choice(FIRST), rng.choice(COMPANIES)
    pitch = [
        "I noticed {c} is hiring SDRs. We help teams like yours book 30% more meetings.",
        "Saw that {c} opened an office in Berlin; our customers there cut bounce rates by half.",
    ][template].format(c=company)
    return store_input(
        lead_id=f"lead-{i}",
        text_body=f"Hi {name},\n\n{pitch}\n\nWorth a quick chat next week?\n\nBest,\nSam",
        html_body=f"<p>Hi {name},</p><p>{pitch}</p><p>Worth a quick chat?</p><p>Best,<br>Sam</p>",
        headers=(
            models.Header("X-Campaign", f"camp-{template}"),
            models.Header("List-Unsubscribe", f"<https://acme.io/u/{i}>"),
        ),
    )


async def _snapshot(app: App, caller: Caller) -> dict[str, Any]:
    """What every message of the tenant reads back as: FULL view, raw bytes, attachments."""
    page = await app.messages.list_messages(caller, models.ListMessagesInput(page_size=1000))
    downloads = DownloadService(app.db)
    seen = {}
    for listed in page.messages:
        full = await app.messages.get_message(caller, listed.storage_key, View.FULL)
        raw = b""
        if full.parse.status != "structured":  # (a rendering has random MIME boundaries)
            pieces = await app.ingest.raw_message(caller, full.storage_key)
            raw = b"".join([p async for p in pieces])
        blobs = []
        for a in full.attachments:
            request = DownloadRequest(storage_key=full.storage_key, attachment_id=a.id)
            blobs.append(b"".join([p async for p in await downloads.download(caller, request)]))
        seen[full.storage_key] = (full.content, full.envelope, raw, blobs)
    return seen


async def _store_mix(app: App, caller: Caller, start: int, count: int, template: int) -> None:
    """Cold emails, one with a large body (a blob), one with attachments; ingested mail."""
    for i in range(start, start + count):
        await app.messages.store_message(caller, _cold(i, template))
    big = "<p>" + "A long newsletter paragraph. " * 4000 + "</p>"
    deck = models.AttachmentInput(filename="deck.pdf", content=b"%PDF" + bytes(range(256)) * 9)
    await app.messages.store_message(
        caller, store_input(html_body=big, attachments=(deck,), lead_id=f"big-{start}")
    )
    meta = RawMessageInput(owner=models.Owner(f"acct-{start}"), direction=models.Direction.INBOUND)
    for raw in corpus().values():
        await app.ingest.ingest(caller, meta, raw)


async def test_round_trip_across_dictionaries_and_retraining(app: App, tenant: str) -> None:
    """Mail written before any dictionary, with a first one, and with a retrained one reads
    back exactly, every kind of content (bodies inline and in blobs, headers, attachments,
    ingested raw bytes)."""
    caller = Caller(tenant)
    await _store_mix(app, caller, 0, 40, template=0)
    before = await _snapshot(app, caller)
    first = await app.dictionaries.train(caller)
    assert first is not None
    assert first.dict_ratio < first.plain_ratio
    await _store_mix(app, caller, 100, 40, template=0)
    second = await app.dictionaries.train(caller)
    assert second is not None
    assert second.dictionary.dictionary_id == first.dictionary.dictionary_id + 1
    await _store_mix(app, caller, 200, 40, template=1)
    after = await _snapshot(app, caller)
    assert {k: v for k, v in after.items() if k in before} == before
    with psycopg.connect(app.db.conninfo) as conn:
        used = dict(conn.execute("SELECT dictionary_id, count(*) FROM email_content GROUP BY 1"))
    assert set(used) == {None, 1, 2}  # all three generations are there, and readable

    # A fresh process (empty dictionary cache) reads them too.
    fresh = App(app.config, app.db.conninfo, pool_size=2)
    await fresh.open()
    try:
        assert await _snapshot(fresh, caller) == after
    finally:
        await fresh.close()


async def test_dictionary_shrinks_cold_email(app: App, tenant: str) -> None:
    """With a dictionary, a personalised cold email's pack is a fraction of one made alone."""
    caller = Caller(tenant)
    for i in range(60):
        await app.messages.store_message(caller, _cold(i))
    await app.dictionaries.train(caller)
    stored = [await app.messages.store_message(caller, _cold(i)) for i in range(1000, 1020)]
    with psycopg.connect(app.db.conninfo) as conn:
        rows = conn.execute(
            "SELECT dictionary_id, avg(octet_length(pack)), avg(pack_size) FROM email_content"
            " GROUP BY 1 ORDER BY 1 NULLS FIRST"
        ).fetchall()
    (_, plain, raw), (dictionary_id, with_dict, _) = rows
    assert dictionary_id == 1
    assert with_dict < plain / 2
    assert with_dict < raw / 6
    usage = await app.messages.storage_usage(caller)
    assert usage.saved_by_dictionary_bytes > 0
    assert usage.disk_bytes > 0
    assert stored[0].message.size.stored_size_bytes < stored[0].message.size.raw_size_bytes / 4


async def test_missing_or_damaged_dictionary_is_data_loss_naming_the_message(
    app: App, tenant: str
) -> None:
    """A pack whose dictionary is gone or damaged, or a damaged pack, reads as DATA_LOSS
    naming the message: never garbage."""
    caller = Caller(tenant)
    plain = await app.messages.store_message(caller, store_input(text_body="plain " * 300))
    for i in range(40):
        await app.messages.store_message(caller, _cold(i))
    await app.dictionaries.train(caller)
    stored = await app.messages.store_message(caller, _cold(999))
    key = stored.message.storage_key

    async def read_fresh() -> None:
        fresh = App(app.config, app.db.conninfo, pool_size=2)
        await fresh.open()
        try:
            await fresh.messages.get_message(caller, key, View.FULL)
        finally:
            await fresh.close()

    with psycopg.connect(app.db.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE zstd_dictionaries SET data = 'not a dictionary'::bytea")
    with pytest.raises(DataLoss, match=f"{key}.*dictionary 1.*damaged"):
        await read_fresh()

    with psycopg.connect(app.db.conninfo, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # past the foreign key
        conn.execute("DELETE FROM zstd_dictionaries")
    with pytest.raises(DataLoss, match=f"{key}.*dictionary 1.*missing"):
        await read_fresh()

    with psycopg.connect(app.db.conninfo, autocommit=True) as conn:
        conn.execute(
            "UPDATE email_content SET pack = set_byte(pack, 20, 255 - get_byte(pack, 20))"
            " WHERE storage_key = %s",
            (plain.message.storage_key,),
        )
    with pytest.raises(DataLoss, match=f"{plain.message.storage_key}.*damaged"):
        await app.messages.get_message(caller, plain.message.storage_key, View.FULL)


async def test_writes_go_on_while_a_dictionary_is_trained(app: App, tenant: str) -> None:
    """Stores running during a training all land and read back, with or without it."""
    caller = Caller(tenant)
    for i in range(40):
        await app.messages.store_message(caller, _cold(i))
    training = asyncio.create_task(app.dictionaries.train(caller))
    results = await asyncio.gather(
        *(app.messages.store_message(caller, _cold(i)) for i in range(100, 160))
    )
    assert await training is not None
    for result in results:
        got = await app.messages.get_message(caller, result.message.storage_key, View.FULL)
        assert got.content is not None
        assert got.content.text_body.startswith("Hi ")


class _Crash(Exception):
    pass


async def test_recompress_killed_mid_batch_loses_nothing(app: App, tenant: str) -> None:
    """A recompress that dies in the middle of a batch leaves every message readable as
    before (the batch rolls back); run again, it finishes; blob references stay exact."""
    caller = Caller(tenant)
    await _store_mix(app, caller, 0, 30, template=0)
    before = await _snapshot(app, caller)
    await app.dictionaries.train(caller)
    usage_before = await app.messages.storage_usage(caller)

    class Dying(Recompressor):
        calls = 0

        async def _rewrite(self, *args: Any, **kwargs: Any) -> Any:
            Dying.calls += 1
            if Dying.calls == 17:  # the second batch, half way through
                raise _Crash
            return await super()._rewrite(*args, **kwargs)

    dying = Dying(app.db, app.dictionaries, 3, app.config.inline_max_bytes, batch=10)
    with pytest.raises(_Crash):
        await dying.tenant(caller)
    assert await _snapshot(app, caller) == before
    with psycopg.connect(app.db.conninfo) as conn:
        done = conn.execute("SELECT count(*) FROM email_content WHERE dictionary_id = 1").fetchone()
    assert done == (10,)  # the first batch, whole

    job = Recompressor(app.db, app.dictionaries, 3, app.config.inline_max_bytes, batch=10)
    result = await job.tenant(caller)
    assert result.rewritten > 0
    assert await _snapshot(app, caller) == before
    usage = await app.messages.storage_usage(caller)
    assert usage.message_count == usage_before.message_count
    assert usage.stored_bytes < usage_before.stored_bytes
    with psycopg.connect(app.db.conninfo) as conn:
        # Packs made with the dictionary, or kept uncompressed where zstd does not pay.
        left = conn.execute(
            "SELECT count(*) FROM email_content WHERE dictionary_id IS DISTINCT FROM 1"
            " AND substring(pack for 4) = '\x28b52ffd'::bytea"
        ).fetchone()
        # Every blob's reference count is what the rows referencing it add up to.
        drift = conn.execute(
            """
            WITH refs AS (
                SELECT text_sha256 AS sha FROM email_content WHERE text_sha256 IS NOT NULL
                UNION ALL SELECT html_sha256 FROM email_content WHERE html_sha256 IS NOT NULL
                UNION ALL SELECT raw_sha256 FROM email_content WHERE raw_sha256 IS NOT NULL
                UNION ALL SELECT decode(p #>> '{}', 'hex') FROM email_content,
                    jsonb_array_elements(raw_parts) p WHERE jsonb_typeof(p) = 'string'
                UNION ALL SELECT sha256 FROM attachments)
            SELECT b.sha256, b.refcount, (SELECT count(*) FROM refs WHERE sha = b.sha256)
            FROM blobs b WHERE b.refcount <> (SELECT count(*) FROM refs WHERE sha = b.sha256)
            """
        ).fetchall()
    assert left == (0,)
    assert drift == []


async def test_upgraded_rows_move_into_packs(app: App, tenant: str, database_url: str) -> None:
    """Rows of the old layout (bodies in blobs, headers in the row) are packed by recompress,
    their small blobs released, and read back the same."""
    old = App(Config(listen="127.0.0.1:0", inline_max_bytes=0), database_url, pool_size=2)
    await old.open()
    caller = Caller(tenant)
    try:
        for i in range(30):
            await old.messages.store_message(caller, _cold(i))
    finally:
        await old.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        # As rows written before packs: no pack, headers in the row.
        conn.execute(
            "UPDATE email_content c SET pack = NULL, pack_size = 0, headers = h.headers"
            ' FROM (SELECT storage_key, \'[["X-Campaign", "camp-0"]]\'::jsonb AS headers'
            "       FROM email_content) h WHERE h.storage_key = c.storage_key"
        )
    before = await _snapshot(app, caller)
    result = await Recompressor(app.db, app.dictionaries, 3, 64 * 1024).tenant(caller)
    assert result.rewritten == 30
    bodies = {
        b for i in range(30) for b in (_cold(i).content.text_body, _cold(i).content.html_body)
    }
    assert result.released_blobs == len(bodies)  # every text and HTML body
    assert result.dictionary_id == 1
    assert await _snapshot(app, caller) == before
    digest = hashlib.sha256(_cold(0).content.text_body.encode()).digest()
    with psycopg.connect(database_url) as conn:
        assert conn.execute(
            "SELECT refcount FROM blobs WHERE sha256 = %s", (digest,)
        ).fetchone() == (0,)

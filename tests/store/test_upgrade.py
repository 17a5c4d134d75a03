"""A database written by an earlier release upgrades, and reads back exactly.

tests/fixtures/layout_<version>.json.gz holds every row a release wrote for a corpus of
messages (scripts/make_layout_fixture.py, run with that release's code), and what that
release answered for each message. The test loads the rows into a database migrated to that
release's last migration, applies the newer migrations, and checks that the current code
answers the same: the FULL view, the raw bytes, each attachment's bytes, the storage usage.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from google.protobuf.json_format import MessageToDict
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

from service import models
from service.api import convert
from service.app import App
from service.config import Config
from service.core.downloads import DownloadService
from service.core.recompress import Recompressor
from service.core.reindex import SearchBackfill
from service.models import Caller, DownloadRequest
from service.store.migrations import apply_migrations

FIXTURES = sorted((Path(__file__).parents[1] / "fixtures").glob("layout_*.json.gz"))
# Referenced rows first.
INSERT_ORDER = ("blobs", "blob_chunks", "email_messages", "email_content", "attachments")
JSON_COLUMNS = {"recipients", "labels", "headers", "raw_parts"}
# Fields that name the moment of writing, or the layout: not part of what must read back.
VOLATILE = {"storedSizeBytes"}


def _value(column: str, value: Any) -> Any:
    if isinstance(value, dict) and "$bytes" in value:
        return base64.b64decode(value["$bytes"])
    if isinstance(value, dict) and "$time" in value:
        return datetime.fromisoformat(value["$time"])
    if column in JSON_COLUMNS:
        return Jsonb(value)
    return value


@pytest.fixture(params=FIXTURES, ids=[f.name for f in FIXTURES])
def old_database(request: pytest.FixtureRequest, pg_server_url: str) -> Iterator[tuple[str, Any]]:
    """A database as the fixture's release left it (its rows loaded at its migration)."""
    payload = json.loads(gzip.decompress(request.param.read_bytes()))
    name = f"emailstore_up_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(pg_server_url, dbname=name)
    try:
        apply_migrations(url, up_to=payload["migration"])
        with psycopg.connect(url) as conn:
            for table in INSERT_ORDER:
                for row in payload["rows"][table]:
                    columns = list(row)
                    quoted = ", ".join(f'"{c}"' for c in columns)
                    conn.execute(
                        f"INSERT INTO {table} ({quoted}) "
                        f"VALUES ({', '.join(['%s'] * len(columns))})",
                        [_value(c, row[c]) for c in columns],
                    )
            conn.execute("INSERT INTO gc_pending (tenant_id) SELECT DISTINCT tenant_id FROM blobs")
            if payload["migration"] >= 8:  # the release kept its tenant list (migration 0008)
                conn.execute(
                    "INSERT INTO known_tenants (tenant_id) "
                    "SELECT DISTINCT tenant_id FROM email_messages ON CONFLICT DO NOTHING"
                )
        yield url, payload["expected"]
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _answers(app: App, tenant: str) -> dict[str, Any]:
    caller = Caller(tenant)
    downloads = DownloadService(app.db)
    page = await app.messages.list_messages(caller, models.ListMessagesInput(page_size=1000))
    found = {}
    for listed in page.messages:
        full = await app.messages.get_message(caller, listed.storage_key, models.View.FULL)
        raw = b"".join([p async for p in await app.ingest.raw_message(caller, full.storage_key)])
        attachments = {}
        for a in full.attachments:
            request = DownloadRequest(storage_key=full.storage_key, attachment_id=a.id)
            data = b"".join([p async for p in await downloads.download(caller, request)])
            attachments[a.id] = hashlib.sha256(data).hexdigest()
        found[full.storage_key] = {
            "full": {
                k: v for k, v in MessageToDict(convert.message(full)).items() if k not in VOLATILE
            },
            "raw_sha256": (
                hashlib.sha256(raw).hexdigest() if full.parse.status != "structured" else None
            ),
            "attachments": attachments,
        }
    return found


def _migration(url: str) -> int:
    """The last migration applied to a database."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    assert row is not None
    return int(row[0])


def _without_volatile(messages: dict[str, Any]) -> dict[str, Any]:
    return {
        key: m | {"full": {k: v for k, v in m["full"].items() if k not in VOLATILE}}
        for key, m in messages.items()
    }


async def test_old_database_upgrades_and_reads_back_exactly(
    old_database: tuple[str, Any], config: Config
) -> None:
    """After migrating, every message of the old release reads back as it did: headers,
    bodies, raw bytes, attachments; and the usage figures of raw content are unchanged."""
    url, expected = old_database
    written_at = _migration(url)
    apply_migrations(url)
    app = App(config, url, pool_size=4)
    await app.open()
    try:
        for tenant, answers in expected.items():
            got = await _answers(app, tenant)
            assert got == _without_volatile(answers["messages"])
            usage = MessageToDict(
                convert.storage_usage(await app.messages.storage_usage(Caller(tenant)))
            )
            for field in ("messageCount", "attachmentCount", "rawBytes"):
                assert usage.get(field) == answers["usage"].get(field), field
        if written_at >= 8:
            return  # written in packs already: nothing for recompress to move
        # Then `emailstore recompress` moves the old rows into packs: still the same answers.
        job = Recompressor(app.db, app.dictionaries, config.zstd_level, config.inline_max_bytes)
        for tenant, answers in expected.items():
            result = await job.tenant(Caller(tenant))
            assert result.rewritten == len(answers["messages"])
            assert await _answers(app, tenant) == _without_volatile(answers["messages"])
    finally:
        await app.close()


def test_migration_0006_backfills_message_refs_as_the_write_path_counted(
    old_database: tuple[str, Any],
) -> None:
    """Migration 0006, run over messages stored before it, counts the referencing messages of
    each blob as the write path does (the fixture's rows were counted by the write path)."""
    url, _ = old_database
    if _migration(url) != 7:
        pytest.skip("re-runs migration 0006 on the schema of 0007 only")
    query = "SELECT tenant_id, sha256, refcount, message_refs FROM blobs ORDER BY 1, 2"
    with psycopg.connect(url, autocommit=True) as conn:
        written = conn.execute(query).fetchall()
        assert any(row[2] > row[3] for row in written)  # an attachment that is also a part
        # Back to the schema before 0006, then migrate again.
        conn.execute("ALTER TABLE blobs DROP COLUMN message_refs")
        conn.execute("DELETE FROM schema_migrations WHERE version = 6")
    assert [m.name for m in apply_migrations(url, up_to=7)] == ["message_refs"]
    with psycopg.connect(url) as conn:
        assert conn.execute(query).fetchall() == written


async def test_old_messages_become_searchable_after_the_backfill(
    old_database: tuple[str, Any], config: Config
) -> None:
    """Messages an older release stored have no search vector: the backfill builds them
    from their content, after which a word of each one's subject finds it, and a second run
    has nothing left to do."""
    url, expected = old_database
    apply_migrations(url)
    app = App(config, url, pool_size=4)
    await app.open()
    try:
        backfill = SearchBackfill(app.db, app.messages, batch=3)
        results = await backfill.all_tenants()
        total = sum(len(answers["messages"]) for answers in expected.values())
        assert sum(r.indexed for r in results) == total
        assert sum(r.indexed for r in await backfill.all_tenants()) == 0
        for tenant, answers in expected.items():
            for key, answer in answers["messages"].items():
                words = [w for w in answer["full"].get("subject", "").split() if w.isalpha()]
                if not words:
                    continue
                page = await app.search.search(
                    Caller(tenant), models.SearchMessagesInput(query=max(words, key=len))
                )
                assert key in {m.storage_key for m in page.messages}, (key, words)
    finally:
        await app.close()


async def test_old_messages_get_the_default_expiry_and_read_back_otherwise_exactly(
    old_database: tuple[str, Any], config: Config
) -> None:
    """Migration 0015 rewrites no row: every tenant starts with its (default) policy pending,
    and the background pass gives each older message created_at + 2,555 days, in batches;
    apart from that expiry, everything reads back as the release wrote it."""
    url, expected = old_database
    apply_migrations(url)
    app = App(config, url, pool_size=4)
    await app.open()
    try:
        for tenant in expected:
            before = await app.governance.get_retention(Caller(tenant))
            assert (before.retention_days, before.is_default, before.applied) == (2555, True, False)
        total = sum(len(answers["messages"]) for answers in expected.values())
        assert await app.governance.apply_all() == total
        assert await app.governance.apply_all() == 0
        for tenant, answers in expected.items():
            policy = await app.governance.get_retention(Caller(tenant))
            assert (policy.is_default, policy.applied) == (True, True)
            found = await _answers(app, tenant)
            for key, message in found.items():
                full = dict(message["full"])
                expires = datetime.fromisoformat(full.pop("expiresAt"))
                created = datetime.fromisoformat(full["createdAt"])
                assert expires - created == timedelta(days=2555), key
                assert full == _without_volatile(answers["messages"])[key]["full"], key
    finally:
        await app.close()

"""Writes tests/fixtures/layout_<version>.json.gz: a database as this release writes it.

Run with the code of the release whose layout the fixture keeps (layout_0007: the last commit
before migration 0008 changed how small content is stored; layout_0010: the last release
before the lifecycle columns of 0011):

    .venv/bin/python scripts/make_layout_fixture.py

It stores a corpus of messages through the service's own use cases on a fresh embedded
PostgreSQL: structured messages (bodies, headers, labels, attachments inline and by digest,
a shared attachment, internationalised addresses, a deleted message) and ingested ones (the
MIME corpus of tests/mime_corpus.py, a bounce, an out-of-office reply). It then saves every
row of every tenant table, and what the service answers for each message: the FULL view, the
raw bytes' SHA-256, each attachment's bytes' SHA-256, and the storage usage. The upgrade test
(tests/store/test_upgrade.py) loads the rows into a database at the same migration and checks
that the current code, after migrating, answers exactly the same.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import shutil
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service import models  # noqa: E402
from service.app import App  # noqa: E402
from service.config import Config  # noqa: E402
from service.core.downloads import DownloadService  # noqa: E402
from service.models import Caller, DownloadRequest, RawMessageInput  # noqa: E402
from service.store.embedded import EmbeddedPostgres  # noqa: E402
from service.store.migrations import apply_migrations, load_migrations  # noqa: E402
from tests.factories import store_input  # noqa: E402
from tests.mime_corpus import OUT_OF_OFFICE, PDF, bounce_for, corpus  # noqa: E402

TABLES = ("blobs", "blob_chunks", "email_messages", "email_content", "attachments")
TENANTS = ("1f2a3b4c-0000-4000-8000-00000000000a", "1f2a3b4c-0000-4000-8000-00000000000b")


def _json(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$time": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def _write(app: App) -> None:
    first, second = Caller(TENANTS[0]), Caller(TENANTS[1])
    m = app.messages
    deck = models.AttachmentInput(filename="deck.pdf", mime_type="application/pdf", content=PDF)
    for i in range(6):
        await m.store_message(
            first,
            store_input(
                lead_id=f"lead-{i}",
                text_body=f"Hi lead {i}, worth a chat?",
                html_body=f"<p>Hi lead {i},</p><p>Worth a chat?</p>",
                labels={"step": str(i % 2)},
                attachments=(deck,) if i % 2 else (),
                request_id=f"req-{i}",
            ),
        )
    with_deck = await m.store_message(first, store_input(attachments=(deck,), subject="deck"))
    digest = with_deck.message.attachments[0].sha256
    await m.store_message(
        first,
        store_input(
            subject="by digest",
            attachments=(models.AttachmentInput(filename="again.pdf", blob_sha256=digest),),
        ),
    )
    await m.store_message(
        first,
        store_input(
            storage_key="international",
            from_address=models.Address("søren@acme.dk", "Søren Ærø"),
            to=(models.Address("用户@例子.广告"),),
            subject="Hej",
        ),
    )
    gone = await m.store_message(first, store_input(subject="deleted soon"))
    await m.delete_message(first, gone.message.storage_key)
    meta = RawMessageInput(owner=models.Owner("acct-in"), direction=models.Direction.INBOUND)
    for name, raw in corpus().items():
        await app.ingest.ingest(first, meta, raw)
        del name
    await app.ingest.ingest(first, meta, bounce_for("<email_x@acme.io>"))
    await app.ingest.ingest(first, meta, OUT_OF_OFFICE)
    await m.store_message(second, store_input(attachments=(deck,), subject="other tenant"))


async def _expected(app: App) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    from service.api import convert

    downloads = DownloadService(app.db)
    answers: dict[str, Any] = {}
    for tenant in TENANTS:
        caller = Caller(tenant)
        page = await app.messages.list_messages(caller, models.ListMessagesInput(page_size=1000))
        per_message = {}
        for listed in page.messages:
            full = await app.messages.get_message(caller, listed.storage_key, models.View.FULL)
            raw = b"".join(
                [p async for p in await app.ingest.raw_message(caller, full.storage_key)]
            )
            attachments = {}
            for a in full.attachments:
                request = DownloadRequest(storage_key=full.storage_key, attachment_id=a.id)
                data = b"".join([p async for p in await downloads.download(caller, request)])
                attachments[a.id] = hashlib.sha256(data).hexdigest()
            per_message[full.storage_key] = {
                "full": MessageToDict(convert.message(full)),
                "raw_sha256": hashlib.sha256(raw).hexdigest()
                if full.parse.status != "structured"
                else None,
                "attachments": attachments,
            }
        usage = await app.messages.storage_usage(caller)
        answers[tenant] = {
            "messages": per_message,
            "usage": MessageToDict(convert.storage_usage(usage)),
        }
    return answers


async def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="emailstore-fixture-"))
    embedded = EmbeddedPostgres(folder / "pg")
    url = embedded.start()
    version = max(m.version for m in load_migrations())
    try:
        apply_migrations(url)
        app = App(Config(), url, pool_size=4)
        await app.open()
        try:
            await _write(app)
            expected = await _expected(app)
        finally:
            await app.close()
        rows: dict[str, list[dict[str, Any]]] = {}
        with psycopg.connect(url) as conn:
            for table in TABLES:
                cur = conn.execute(f"SELECT * FROM {table}")
                names = [d.name for d in cur.description or ()]
                rows[table] = [
                    {n: _json(v) for n, v in zip(names, row, strict=True)} for row in cur
                ]
    finally:
        embedded.stop()
        shutil.rmtree(folder, ignore_errors=True)
    out = ROOT / "tests" / "fixtures" / f"layout_{version:04d}.json.gz"
    payload = {"migration": version, "rows": rows, "expected": expected}
    out.write_bytes(
        gzip.compress(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode(), 9, mtime=0)
    )
    print(f"wrote {out} ({out.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))

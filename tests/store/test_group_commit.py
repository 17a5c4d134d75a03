"""Group commit: concurrent stores share transactions, yet each message succeeds or fails alone."""

from __future__ import annotations

import asyncio
import dataclasses

import psycopg
import pytest

from service import models
from service.config import Config
from service.core import drafts, validation
from service.core.messages import MessageService, draft
from service.core.ports import NewMessage
from service.core.writer import CONFLICT, MessageWriter
from service.models import Caller, Message
from service.store.database import Database
from tests.conftest import SPANS
from tests.factories import store_input


def _new(config: Config, tenant: str, **overrides: object) -> NewMessage:
    """A message ready for the writer, as StoreMessage makes it."""
    valid = validation.store_message(store_input(**overrides), config)
    packing = drafts.Packing(config.zstd_level, config.inline_max_bytes)
    return drafts.build(draft(Caller(tenant), valid), packing, config.message_id_domain)


async def test_concurrent_stores_are_grouped_and_all_land(
    messages: MessageService, tenant: str, database_url: str
) -> None:
    """200 concurrent stores: fewer transactions than messages, every message stored intact."""
    SPANS.clear()
    results = await asyncio.gather(
        *(
            messages.store_message(
                Caller(tenant), store_input(lead_id=f"lead-{i}", text_body=f"t{i}")
            )
            for i in range(200)
        )
    )
    groups = [s for s in SPANS.get_finished_spans() if s.name == "write group"]
    sizes = [int((s.attributes or {})["emailstore.group_size"]) for s in groups]
    assert sum(sizes) == 200
    assert max(sizes) > 1
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT lead_id, storage_key FROM email_messages").fetchall()
    assert sorted(rows) == sorted((r.message.owner.lead_id, r.message.storage_key) for r in results)


async def test_a_failing_message_fails_alone(
    db: Database, messages: MessageService, config: Config, tenant: str
) -> None:
    """A message the database refuses fails by itself; the rest of its group is stored."""
    attachment = (models.AttachmentInput(filename="a.txt", content=b"a"),)
    good = [_new(config, tenant, lead_id=f"l{i}", attachments=attachment) for i in range(5)]
    # An attachment disposition the table's CHECK constraint refuses.
    refused = dataclasses.replace(good[2].attachments[0], disposition="sideways")
    bad = dataclasses.replace(good[2], attachments=(refused,))
    batch = [*good[:2], bad, *good[3:]]
    writer = MessageWriter(db, concurrency=1)
    outcomes = await asyncio.gather(*(writer.write(m) for m in batch), return_exceptions=True)
    assert [type(o) for o in outcomes] == [
        Message,
        Message,
        psycopg.errors.CheckViolation,
        Message,
        Message,
    ]
    usage = await messages.storage_usage(Caller(tenant))
    assert usage.message_count == 4


async def test_repeat_in_the_same_group_is_a_conflict_not_an_error(
    db: Database, config: Config, tenant: str
) -> None:
    """Two copies of one storage key queued together: one inserted, the other a conflict."""
    new = _new(config, tenant, storage_key="same")
    writer = MessageWriter(db, concurrency=1)
    outcomes = await asyncio.gather(writer.write(new), writer.write(new), writer.write(new))
    assert sum(isinstance(o, Message) for o in outcomes) == 1
    assert sum(o is CONFLICT for o in outcomes) == 2


@pytest.mark.parametrize("size", [1, 300_000])
async def test_small_and_large_messages_round_trip(
    messages: MessageService, tenant: str, size: int
) -> None:
    """Grouped (small) and solo (large) writes both store the exact bodies."""
    from service.models import View

    body = "x" * size
    stored = await messages.store_message(Caller(tenant), store_input(html_body=body))
    got = await messages.get_message(Caller(tenant), stored.message.storage_key, View.FULL)
    assert got.content is not None
    assert got.content.html_body == body

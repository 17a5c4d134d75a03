"""Every index earns its place: each one serves a statement the service runs, shown by EXPLAIN.

`USES` names, for every index of the schema, the statement it is there for: one of the named
statements of service/store/sql (as the store runs them), or the foreign-key check PostgreSQL
runs when a referenced row is deleted. The test fails when an index has no entry (a new index
must say what it is for) and when the planner does not use the index for its statement. The
tables hold mail the service stored (two tenants, campaigns, leads, mailboxes), analysed;
sequential scans are off, as the control tables hold a row or two here.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from service import models
from service.app import App
from service.core import search
from service.core.ports import Subject
from service.models import Caller, MessageFilter
from service.store import queries
from service.store import search as search_store
from service.store.database import APP_ROLE
from service.store.messages import _conditions, subject_condition
from tests.factories import store_input

TENANT = str(uuid.uuid4())
DIGEST = bytes(32)


@dataclass(frozen=True)
class Use:
    """The statement an index is for: a named statement (aggregate, name) with parameters, or
    literal SQL (the foreign-key checks PostgreSQL runs); `unique_only` for an index that is
    there for a uniqueness rule no statement reads through."""

    why: str
    aggregate: str = ""
    name: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    statement: str | sql.Composable = ""
    unique_only: bool = False


def _page(**criteria: Any) -> Use:
    where, params = _conditions(TENANT, MessageFilter(**criteria), None)
    text = sql.SQL(queries.load("messages")["select_page"]).format(where=where)
    shown = ", ".join(criteria) or "no filter"
    return Use(
        f"ListMessages ({shown}), newest first", statement=text, params=params | {"limit": 50}
    )


def _search(text: str) -> Use:
    # SearchMessages' second step: the matches of terms too rare for the newest messages.
    where, match, params = search_store.conditions(TENANT, search.parse(text), None)
    statement = sql.SQL(queries.load("search")["search_matches"]).format(where=where, match=match)
    return Use(
        f"SearchMessages {text!r}, rare terms", statement=statement, params=params | {"limit": 50}
    )


def _search_ordered(text: str) -> Use:
    # SearchMessages without text or address terms: one newest-first statement.
    where, match, params = search_store.conditions(TENANT, search.parse(text), None)
    statement = sql.SQL(queries.load("search")["search_ordered"]).format(where=where, match=match)
    return Use(
        f"SearchMessages {text!r}, newest first", statement=statement, params=params | {"limit": 50}
    )


def _erase_by_email(email: str) -> Use:
    condition, params = subject_condition(Subject(email=email))
    statement = sql.SQL(queries.load("governance")["erase_batch"]).format(subject=condition)
    return Use(
        "EraseLead and address holds: the messages naming an address",
        statement=statement,
        params=params | {"limit": 500},
    )


def _fk_check(table: str, column: str, deleted_from: str) -> Use:
    # The statement PostgreSQL's referential-integrity trigger runs for each deleted row.
    text = (
        f"SELECT 1 FROM ONLY {table} x WHERE tenant_id = %(tenant_id)s AND {column} = %(key)s"
        " FOR KEY SHARE OF x"
    )
    return Use(
        f"foreign-key check when a row of {deleted_from} is deleted (the collector)",
        statement=text,
        params={"key": DIGEST},
    )


USES: dict[str, Use] = {
    "email_messages_pkey": Use(
        "GetMessage, DeleteMessage, repeats", "messages", "select_by_key", {"storage_key": "k"}
    ),
    "email_messages_request_id": Use(
        "a repeated request_id finds its message",
        "messages",
        "select_by_request_id",
        {"request_id": "r"},
    ),
    "email_messages_ingest_hash": Use(
        "the same raw bytes for the same mailbox (IMAP re-sync)",
        "messages",
        "select_by_ingest_hash",
        {"email_account_id": "a", "ingest_hash": DIGEST},
    ),
    "email_messages_message_id": Use(
        "threading: the messages a new one answers, by Message-ID",
        "messages",
        "thread_candidates",
        {"message_ids": ["<a@b>"]},
    ),
    "email_messages_created": _page(),
    "email_messages_campaign": _page(campaign_id="c"),
    "email_messages_lead": _page(lead_id="l"),
    "email_messages_account": _page(email_account_id="a"),
    "email_messages_thread": _page(thread_id="t"),
    "email_content_pkey": Use(
        "GetMessage FULL, GetRawMessage", "messages", "select_content", {"storage_key": "k"}
    ),
    "email_content_text": _fk_check("email_content", "text_sha256", "blobs"),
    "email_content_html": _fk_check("email_content", "html_sha256", "blobs"),
    "email_content_raw": _fk_check("email_content", "raw_sha256", "blobs"),
    "attachments_pkey": Use(
        "a message's attachments", "messages", "select_attachments", {"storage_keys": ["k"]}
    ),
    "attachments_blob": _fk_check("attachments", "sha256", "blobs"),
    "blobs_pkey": Use("a blob by digest", "blobs", "sizes", {"sha256": [DIGEST]}),
    "blob_chunks_pkey": Use(
        "a blob's chunks in order", "blobs", "read_whole", {"sha256": [DIGEST]}
    ),
    "blobs_unreferenced": Use(
        "the collector: blobs nothing references past the grace period",
        "gc",
        "collect_blobs",
        {"grace_s": 60},
    ),
    "gc_pending_pkey": Use("the collector locks a tenant", "gc", "lock_pending"),
    "upload_sessions_pkey": Use(
        "resuming an upload", "uploads", "select_upload", {"upload_id": str(uuid.uuid4())}
    ),
    "zstd_dictionaries_pkey": Use(
        "reading a pack: its dictionary", "dictionaries", "get", {"dictionary_id": 1}
    ),
    "dictionary_tenants_pkey": Use(
        "a new dictionary becomes the tenant's current one",
        "dictionaries",
        "add",
        {
            "dictionary_id": 1,
            "data": b"d",
            "samples": 1,
            "sample_bytes": 1,
            "dict_ratio": 0.1,
            "plain_ratio": 0.3,
        },
    ),
    "known_tenants_pkey": Use(
        "background work walks the tenants in order",
        "tenants",
        "known",
        {"after": str(uuid.UUID(int=0)), "limit": 100},
    ),
    "service_secrets_pkey": Use(
        "the page-token key is read by name",
        statement="SELECT value FROM service_secrets WHERE name = 'page_token'",
    ),
    "schema_migrations_pkey": Use("each migration is recorded once", unique_only=True),
    "message_events_pkey": Use(
        "ListMessageEvents: a message's events in time order (and deleting its message)",
        "events",
        "history",
        {"storage_key": "k"},
    ),
    "email_messages_answers": Use(
        "GetCampaignStats: the inbound mail answering a campaign's messages",
        "stats",
        "campaign",
        {"campaign_id": "camp-1", "created_after": None, "created_before": None},
    ),
    "email_messages_unindexed": Use(
        "the search backfill: messages stored before search existed, oldest first",
        "search",
        "unindexed",
        {"limit": 200},
    ),
    "changes_pkey": Use(
        "the sequencer numbers each pending change by its key",
        "feed",
        "number_pending",
        {"limit": 100},
    ),
    "changes_sequence": Use(
        "ListChanges / WatchChanges: a tenant's changes after a sequence, in order",
        "feed",
        "page",
        {"since": 0, "limit": 100},
    ),
    "changes_pending": Use(
        "the sequencer: changes not numbered yet, in transaction order",
        "feed",
        "number_pending",
        {"limit": 100},
    ),
    "changes_at": Use(
        "pruning changes older than the retention",
        "feed",
        "prune",
        {"before": datetime(2026, 1, 1, tzinfo=UTC), "limit": 100},
    ),
    "feed_state_pkey": Use("the feed's counters are one row", unique_only=True),
    "message_events_event_id": Use(
        "a repeated event_id finds the event it repeats", "events", "known", {"event_ids": ["e"]}
    ),
    "email_messages_search_vector": _search("zebra invoice"),
    "email_messages_search_addresses": _search("from:nobody@nowhere.example"),
    "email_messages_with_attachments": _search_ordered("has:attachment"),
    "email_messages_expiry": Use(
        "PurgeExpired: a tenant's messages by expiry",
        "governance",
        "expired",
        {"days": 30, "held_keys": [], "held_leads": [], "held_emails": [], "limit": 100},
    ),
    "email_messages_addresses": _erase_by_email("nobody@nowhere.example"),
    "legal_holds_pkey": Use("a hold is named by its id", unique_only=True),
    "legal_holds_in_force": Use(
        "the hold in force on a scope and value (placing, lifting)",
        "governance",
        "hold_in_force",
        {"scope": "lead", "value": "lead-1"},
    ),
    "retention_policies_pkey": Use("the tenant's retention policy", "governance", "get_policy", {}),
    "retention_pending_pkey": Use("a tenant is pending once", unique_only=True),
    "erasures_pkey": Use("an erasure is named by its id", unique_only=True),
    "erasures_unfinished": Use(
        "one unfinished erasure per subject: a second start finds the first",
        "governance",
        "start_erasure",
        {"subject_kind": "lead", "subject_hash": DIGEST, "requested_by": ""},
    ),
    "erasures_subject": Use(
        "EraseLead asked again answers the subject's last erasure",
        "governance",
        "last_erasure",
        {"subject_hash": DIGEST},
    ),
}


def _indexes_in(plan: Any) -> set[str]:
    """Index names a JSON plan uses: scans, and the arbiters of ON CONFLICT."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Index Name" in plan:
            found.add(plan["Index Name"])
        found.update(plan.get("Conflict Arbiter Indexes", ()))
        for value in plan.values():
            found |= _indexes_in(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= _indexes_in(item)
    return found


async def _fill(app: App) -> None:
    """Mail of two tenants as the service stores it: campaigns, leads, mailboxes, threads,
    replies, repeats and attachments, in realistic proportions."""
    other = str(uuid.uuid4())
    pdf = models.AttachmentInput(filename="deck.pdf", content=b"%PDF-1.7 " * 3000)

    async def one(i: int) -> None:
        tenant = TENANT if i % 4 else other
        stored = await app.messages.store_message(
            Caller(tenant),
            store_input(
                campaign_id=f"camp-{i % 12}",
                lead_id=f"lead-{i}",
                email_account_id=f"acct-{i % 7}",
                request_id=f"req-{i}" if i % 2 else "",
                attachments=(pdf,) if i % 50 == 0 else (),
            ),
        )
        for status in (models.MessageStatus.SENT, models.MessageStatus.DELIVERED)[: i % 3]:
            event = models.StatusEventInput(
                status, storage_key=stored.message.storage_key, event_id=f"{status}-{i}"
            )
            await app.events.record(Caller(tenant), event)

    for start in range(0, 1200, 100):
        await asyncio.gather(*(one(i) for i in range(start, start + 100)))


def _plans(url: str) -> dict[str, tuple[Use, str, set[str]]]:
    """Each use's statement and the indexes its plan uses, planned as the service's role on
    analysed tables."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")
        # GIN indexes keep new entries in a pending list, which the planner counts against
        # them, until (auto)vacuum merges it: merged here, as autovacuum would have.
        conn.execute(
            "SELECT gin_clean_pending_list(c.oid) FROM pg_class c"
            " JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin'"
        )
        conn.execute(f"SET ROLE {APP_ROLE}")
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (TENANT,))
        # Control tables hold a row or two here, where any plan reads them whole; the question
        # is which index serves the statement.
        conn.execute("SET enable_seqscan = off")
        found = {}
        for index, use in USES.items():
            if use.unique_only:
                continue
            statement = use.statement or queries.load(use.aggregate)[use.name]
            text = statement if isinstance(statement, str) else statement.as_string(conn)
            params = {"tenant_id": TENANT, **use.params}
            row = conn.execute(
                "EXPLAIN (FORMAT JSON) " + text, params if "%(" in text else None
            ).fetchone()
            assert row is not None
            found[index] = (use, text, _indexes_in(row[0]))
        return found


async def test_every_index_serves_a_statement_the_service_runs(app: App, database_url: str) -> None:
    """Every index of the schema has a named use, and EXPLAIN of that statement, on tables
    filled by the service and analysed, shows the index (for a uniqueness rule: the index is
    unique). The plans are printed (pytest -s) for docs/performance.md."""
    await _fill(app)
    with psycopg.connect(database_url) as conn:
        names = {
            r[0]
            for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        }
        unique = {
            r[0]
            for r in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indisunique"
            )
        }
    assert names == set(USES), (
        f"without a use: {sorted(names - set(USES))}; gone: {sorted(set(USES) - names)}"
    )
    for index, use in USES.items():
        if use.unique_only:
            assert index in unique, index
    unused = []
    for index, (use, text, used) in (await asyncio.to_thread(_plans, database_url)).items():
        print(f"{index:28} {use.why}: {sorted(used)}")
        if index not in used:
            unused.append(f"{index} ({use.why}) is not used by:\n{text}\nplan uses {used}")
    assert not unused, "\n\n".join(unused)

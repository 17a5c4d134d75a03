"""Seeding a million messages fast: COPY rows built by the service's own row code.

`seed` writes outbound campaign mail (and the replies it drew) straight into email_messages
and message_events with COPY, in the layout the service writes: the rows are
`service.store.rows.MessageRow`s and the column list is the service's insert list, so what
is measured afterwards runs on tables shaped exactly as production's. No content rows:
the lifecycle benchmark reads and writes metadata and events only.

Campaigns are interleaved (message i belongs to campaign i mod campaigns), as a platform
sending many campaigns at once writes them, so a campaign's rows are spread over the table
rather than packed together. Each message reached a status drawn at random, with per-status
times in order; replied ones have an inbound reply linked to them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import psycopg

from service.codec import searchtext
from service.store import rows

# Fractions of outbound messages that reached each status (of those that reached the one
# before): what cold email typically sees.
DELIVERED, OPENED, CLICKED, REPLIED, BOUNCED = 0.93, 0.45, 0.12, 0.06, 0.05
_STATUS_COLUMNS = ("sent_at", "delivered_at", "opened_at", "clicked_at", "replied_at")
_EVENT_COLUMNS = (
    "tenant_id",
    "storage_key",
    "event_id",
    "status",
    "occurred_at",
    "recorded_at",
    "source",
    "detail",
)
_REASONS = ("unknown_recipient", "mailbox_full", "policy", "dns", "other")
LEADS = 4000  # per campaign
# Words of the seeded bodies: every body has the common ones; a mid word in 1 of 100
# messages; the rare word and phrase in 1 of 100,000.
RARE_WORD = "zebrafish"
RARE_PHRASE = "purple elephant"
MID_WORD = "pricing"
_BODIES = (
    "Hi {first}, quick question: who handles outbound at {company}? We help teams like yours "
    "book more meetings. Worth a chat next week? Best, Sam",
    "Hi {first}, following up on my note about {company}. Teams we work with cut their "
    "research time in half. Open to a quick call? Sam",
    "Hi {first}, last one from me. If timing is off, no worries; happy to send a one-pager "
    "for {company} instead. Cheers, Sam",
)
START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 60


@dataclass(frozen=True)
class Seeded:
    """What seed wrote."""

    outbound: int
    inbound: int
    events: int


def campaign_id(index: int) -> str:
    """The id of campaign `index`."""
    return f"camp-{index:03d}"


def storage_key(index: int) -> str:
    """The storage key of outbound message `index`."""
    return f"email_seed{index:08d}"


def _template(tenant: str) -> rows.MessageRow:
    return rows.MessageRow(
        tenant_id=tenant,
        storage_key="",
        email_account_id="",
        campaign_id="",
        lead_id="",
        direction="outbound",
        message_type="email",
        status="sent",
        from_email="",
        from_name="Sam Carter",
        to_email="",
        recipients={},
        subject="",
        message_id_header="",
        in_reply_to="",
        references=[],
        thread_id="",
        parent_storage_key="",
        created_at=START,
        updated_at=START,
        sent_at=None,
        expires_at=None,
        archived_at=None,
        raw_size_bytes=2400,
        stored_size_bytes=700,
        content_hash=b"\x00" * 32,
        attachment_count=0,
        labels={},
        request_id=None,
        request_fingerprint=b"",
        ingest_hash=None,
        parse_status="structured",
        parse_warnings=None,
        sequence_step=1,
        delivered_at=None,
        opened_at=None,
        clicked_at=None,
        replied_at=None,
        bounced_at=None,
        failed_at=None,
        bounce=None,
    )


_COLUMNS = (*rows.MESSAGE_INSERT_COLUMNS, "created_at", "updated_at", "expires_at")
_JSON = {"recipients", "labels", "bounce", "parse_warnings"}


def _values(row: rows.MessageRow, body: str) -> tuple[object, ...]:
    """A row as COPY takes it, with the search columns the service's searchtext code builds
    from the subject and body."""
    values = vars(row) | {
        "search_vector": searchtext.document(row.subject, body),
        "search_addresses": searchtext.addresses(
            [[row.from_email, row.from_name]], row.recipients.get("to", []), []
        ),
    }
    return tuple(
        json.dumps(values[c]) if c in _JSON and values[c] is not None else values[c]
        for c in _COLUMNS
    )


def text_of(index: int, step: int, lead: str) -> tuple[str, str]:
    """The subject and body of outbound message `index` (deterministic)."""
    subject = f"Quick question about {lead}"
    body = _BODIES[step - 1].format(first=f"Lead{index % 997}", company=f"Company{index % 4999}")
    if index % 100 == 3:
        body += f" Our {MID_WORD} starts small."
    if index % 100_000 == 77:
        body += f" PS: a {RARE_WORD} and a {RARE_PHRASE} walk into a bar."
    return subject, body


def texts(start: int, stop: int) -> list[tuple[datetime, str, str, str]]:
    """(created_at, subject, body, sender) of outbound messages start..stop-1 as `seed`
    writes them with one campaign range (for references that store the same text)."""
    rng = random.Random(7 * 1_000_003 + start)
    template = _template("00000000-0000-4000-8000-000000000000")
    found = []
    campaigns = range(max(1, (stop - start) // 10_000))
    for index in range(start, stop):
        turn = index - start
        campaign = campaigns[turn % len(campaigns)]
        row, _, _ = _outbound(template, index, campaign, turn // len(campaigns), rng)
        subject, body = text_of(index, row.sequence_step, row.lead_id)
        found.append((row.created_at, subject, body, row.from_email))
    return found


def _outbound(
    template: rows.MessageRow, index: int, campaign: int, position: int, rng: random.Random
) -> tuple[rows.MessageRow, list[tuple[str, datetime]], rows.MessageRow | None]:
    """Message `index`, the `position`th of its campaign: the events it had, and the reply
    it drew (or None). A campaign's first 4,000 messages are step 1 (one per lead), the next
    4,000 the first follow-up, the rest the second."""
    lead = f"lead-{campaign:03d}-{position % LEADS:05d}"
    step = 1 + min(position // LEADS, 2)
    created = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
    sent = created + timedelta(seconds=rng.uniform(1, 600))
    times: dict[str, datetime | None] = dict.fromkeys(_STATUS_COLUMNS)
    times["sent_at"] = sent
    events = [("sent", sent)]
    status, bounced_at, bounce = "sent", None, None
    if rng.random() < BOUNCED:
        status, bounced_at = "bounced", sent + timedelta(seconds=rng.uniform(5, 300))
        hard = rng.random() < 0.7
        bounce = {
            "bounce_class": "hard" if hard else "soft",
            "status_code": "5.1.1" if hard else "4.2.2",
            "reason": rng.choice(_REASONS),
            "diagnostic": "550 5.1.1 user unknown",
            "failed_recipient": f"{lead}@example.com",
            "original_storage_key": "",
        }
        events.append(("bounced", bounced_at))
    else:
        at = sent
        for column, chance in zip(_STATUS_COLUMNS[1:4], (DELIVERED, OPENED, CLICKED), strict=True):
            if rng.random() >= chance:
                break
            at += timedelta(seconds=rng.uniform(10, 86400))
            times[column] = at
            status = column.removesuffix("_at")
            events.append((status, at))
        if times["delivered_at"] and rng.random() < REPLIED:
            at += timedelta(seconds=rng.uniform(60, 3 * 86400))
            times["replied_at"] = at
            status = "replied"
            events.append(("replied", at))
    key = storage_key(index)
    message_id = f"<{key}@mail.tryvectorpath.com>"
    to = f"{lead}@example.com"
    row = replace(
        template,
        storage_key=key,
        email_account_id=f"acct-{campaign % 20:02d}",
        campaign_id=campaign_id(campaign),
        lead_id=lead,
        status=status,
        from_email=f"sam{campaign % 20}@tryvectorpath.com",
        to_email=to,
        recipients={"to": [[to, ""]], "cc": [], "bcc": [], "reply_to": []},
        subject=f"Quick question about {lead}",
        message_id_header=message_id,
        thread_id=key,
        created_at=created,
        updated_at=created,
        sequence_step=step,
        bounced_at=bounced_at,
        bounce=bounce,
        **times,
    )
    reply = None
    if times["replied_at"] is not None:
        reply_key = f"email_seedr{index:08d}"
        reply = replace(
            row,
            storage_key=reply_key,
            direction="inbound",
            status="received",
            from_email=to,
            from_name="",
            to_email=row.from_email,
            recipients={"to": [[row.from_email, ""]], "cc": [], "bcc": [], "reply_to": []},
            subject=f"Re: {row.subject}",
            message_id_header=f"<{reply_key}@example.com>",
            in_reply_to=message_id,
            references=[message_id],
            parent_storage_key=key,
            created_at=times["replied_at"],
            updated_at=times["replied_at"],
            sent_at=times["replied_at"],
            delivered_at=None,
            opened_at=None,
            clicked_at=None,
            replied_at=None,
            bounced_at=None,
            bounce=None,
            parse_status="parsed",
        )
    return row, events, reply


def seed(
    url: str,
    tenant: str,
    start: int,
    stop: int,
    campaigns: range,
    seed: int = 7,
    *,
    changes: bool = False,
    rewrite: Callable[[rows.MessageRow], rows.MessageRow] | None = None,
) -> Seeded:
    """Outbound messages start..stop-1 (keys `storage_key(index)`), dealt in turn to the
    campaigns of the range, their replies and their events, by COPY; then ANALYZE, as
    autovacuum would after such growth. `rewrite`, when given, changes each message row
    (outbound and reply) just before it is written, e.g. to age it and give it an expiry."""
    change = rewrite or (lambda row: row)
    rng = random.Random(seed * 1_000_003 + start)
    template = _template(tenant)
    outbound = inbound = events = 0
    replies: list[rows.MessageRow] = []
    pending: list[tuple[object, ...]] = []
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            columns = ", ".join(f'"{c}"' for c in _COLUMNS)
            with cur.copy(f"COPY email_messages ({columns}) FROM STDIN") as copy:
                for index in range(start, stop):
                    turn = index - start
                    campaign = campaigns[turn % len(campaigns)]
                    position = turn // len(campaigns)
                    row, happened, reply = _outbound(template, index, campaign, position, rng)
                    _subject, body = text_of(index, row.sequence_step, row.lead_id)
                    copy.write_row(_values(change(row), body))
                    outbound += 1
                    if reply is not None:
                        replies.append(reply)
                    for n, (status, at) in enumerate(happened):
                        pending.append(
                            (
                                tenant,
                                row.storage_key,
                                f"esp-{index}-{n}",
                                status,
                                at,
                                at,
                                "caller",
                                '{"ip": "203.0.113.7"}',
                            )
                        )
                for reply in replies:
                    copy.write_row(_values(change(reply), "Sure, send it over."))
                    inbound += 1
            event_columns = ", ".join(_EVENT_COLUMNS)
            with cur.copy(f"COPY message_events ({event_columns}) FROM STDIN") as copy:
                for event in pending:
                    copy.write_row(event)
                    events += 1
            if changes:
                _copy_changes(cur, tenant, start, stop)
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE email_messages")
        conn.execute("ANALYZE message_events")
    return Seeded(outbound, inbound, events)


def _copy_changes(
    cur: psycopg.Cursor[tuple[object, ...]], tenant: str, start: int, stop: int
) -> None:
    """A 'created' change per outbound message, numbered as the sequencer would have."""
    cur.execute("SELECT last_sequence FROM feed_state")
    found = cur.fetchone()
    base = int(found[0]) if found else 0
    columns = "tenant_id, sequence, storage_key, kind, status, campaign_id"
    with cur.copy(f"COPY changes ({columns}) FROM STDIN") as copy:
        for n, index in enumerate(range(start, stop), 1):
            copy.write_row((tenant, base + n, storage_key(index), "created", "sent", ""))
    cur.execute("UPDATE feed_state SET last_sequence = %s", (base + stop - start,))

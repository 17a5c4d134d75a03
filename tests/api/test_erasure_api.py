"""EraseLead over a real gRPC channel to a real server on a real PostgreSQL: afterwards
nothing of the person is readable by any RPC, and nothing of them is left in any table;
other leads' data sharing their blobs is untouched; idempotent, resumable, refused under a
legal hold."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.core import governance
from service.store.governance import GovernanceRepository
from tests.api.test_ingest_api import ingest
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub

ALICE = "Alice.Smith@Example.COM"
# What the person is, as the test looks for it in every table afterwards.
TRACES = ("Alice.Smith", "lead-alice", "zanzibarquux", "Rue des Erasures")
SHARED_PDF = b"%PDF-1.7 shared terms and conditions " * 300
ALICE_PDF = b"%PDF-1.7 signed by Alice Smith, Rue des Erasures 7 " * 300


async def _store(stub: Stub, tenant: str, key: str, **fields: object) -> pb.Message:
    return (await stub.StoreMessage(store_request(tenant, storage_key=key, **fields))).message


async def _code(call: object) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call  # type: ignore[misc]
    return info.value.code(), info.value.details() or ""


async def _drain(call: AsyncIterator[object]) -> None:
    async for _ in call:
        pass


async def _mail(stub: Stub, tenant: str) -> dict[str, pb.Message]:
    """Alice's mail (by lead, to her, from her, cc'd to her) and others' mail."""
    stored = {
        "a-out": await _store(
            stub,
            tenant,
            "a-out",
            lead_id="lead-alice",
            to=[pb.Address(email=ALICE, name="Alice Smith")],
            subject="zanzibarquux proposal for Alice",
            text_body="Dear Alice, Rue des Erasures 7 is on our map. zanzibarquux",
            attachments=[
                pb.AttachmentInput(filename="terms.pdf", content=SHARED_PDF),
                pb.AttachmentInput(filename="alice-contract.pdf", content=ALICE_PDF),
            ],
        ),
        "b-cc": await _store(
            stub,
            tenant,
            "b-cc",
            lead_id="lead-bob",
            to=[pb.Address(email="bob@example.net", name="Bob")],
            cc=[pb.Address(email="Alice.Smith@example.com", name="Alice Smith")],
            subject="Intro, cc Alice",
        ),
        "b-own": await _store(
            stub,
            tenant,
            "b-own",
            lead_id="lead-bob",
            to=[pb.Address(email="bob@example.net", name="Bob")],
            subject="Terms for Bob",
            text_body="Hi Bob, the terms are attached.",
            attachments=[pb.AttachmentInput(filename="terms.pdf", content=SHARED_PDF)],
        ),
        # Another mailbox: the same domain, but the local part differs in case.
        "c-other": await _store(
            stub,
            tenant,
            "c-other",
            lead_id="lead-carol",
            to=[pb.Address(email="alice.smith@example.com", name="Namesake")],
            subject="Hello namesake",
        ),
    }
    await stub.UpdateMessageStatus(
        pb.UpdateMessageStatusRequest(tenant_id=tenant, storage_key="a-out", status=pb.SENT)
    )
    await stub.UpdateMessageStatus(
        pb.UpdateMessageStatusRequest(tenant_id=tenant, storage_key="a-out", status=pb.OPENED)
    )
    original = stored["a-out"].message_id_header
    reply = (
        f"From: Alice Smith <{ALICE}>\r\nTo: sam@acme.io\r\nSubject: Re: zanzibarquux\r\n"
        f"Message-ID: <reply-1@example.com>\r\nIn-Reply-To: <{original}>\r\n"
        f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\n\r\n"
        f"Yes, call me. Alice, Rue des Erasures 7\r\n"
    ).encode()
    response = await ingest(stub, tenant, reply, storage_key="a-reply")
    stored["a-reply"] = response.message
    return stored


def _rows_naming(database_url: str, tenant: str, needles: tuple[str, ...]) -> list[str]:
    """Every row of every table (as text) that contains one of the needles."""
    found = []
    with psycopg.connect(database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        for table in tables:
            for (text,) in conn.execute(f'SELECT t::text FROM "{table}" t'):
                if any(n in text for n in needles):
                    found.append(f"{table}: {text[:200]}")
    return found


async def test_after_erasure_nothing_of_the_person_is_readable_or_stored(
    stub: Stub, tenant: str, database_url: str
) -> None:
    mail = await _mail(stub, tenant)
    alice_digest = hashlib.sha256(ALICE_PDF).hexdigest()
    shared_digest = hashlib.sha256(SHARED_PDF).hexdigest()
    thread_id = mail["a-out"].thread_id
    before = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id="camp-1")
    )
    assert _rows_naming(database_url, tenant, ("lead-alice",))  # the scan does find things

    result = await stub.EraseLead(
        pb.EraseLeadRequest(tenant_id=tenant, email="Alice.Smith@example.com", requested_by="dpo")
    )
    erased = {"a-out", "a-reply", "b-cc"}
    assert result.erased_messages == 3
    assert result.erased_events >= 2  # SENT, OPENED (and the reply's REPLIED)
    assert result.erased_attachments == 2
    assert result.erased_changes >= 3
    assert result.freed_bytes > 0
    assert result.erasure_id

    # No RPC shows any of it.
    for key in erased:
        for call in (
            stub.GetMessage(pb.GetMessageRequest(tenant_id=tenant, storage_key=key)),
            stub.ListMessageEvents(pb.ListMessageEventsRequest(tenant_id=tenant, storage_key=key)),
            _drain(stub.GetRawMessage(pb.GetRawMessageRequest(tenant_id=tenant, storage_key=key))),
        ):
            code, _ = await _code(call)
            assert code == grpc.StatusCode.NOT_FOUND
    listed = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, page_size=100))
    assert {m.storage_key for m in listed.messages} == {"b-own", "c-other"}
    by_lead = await stub.ListMessages(
        pb.ListMessagesRequest(tenant_id=tenant, lead_id="lead-alice")
    )
    assert list(by_lead.messages) == []
    for query in ("zanzibarquux", "from:Alice.Smith", "Erasures", "filename:alice-contract"):
        page = await stub.SearchMessages(pb.SearchMessagesRequest(tenant_id=tenant, query=query))
        assert list(page.messages) == [], query
    code, _ = await _code(
        stub.GetThread(pb.GetThreadRequest(tenant_id=tenant, thread_id=thread_id))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await _code(
        _drain(
            stub.DownloadAttachment(
                pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=alice_digest)
            )
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    kinds: dict[str, set[int]] = {}
    for _ in range(100):
        page = await stub.ListChanges(pb.ListChangesRequest(tenant_id=tenant, page_size=1000))
        kinds = {}
        for c in page.changes:
            kinds.setdefault(c.storage_key, set()).add(c.kind)
        if all(kinds.get(key) == {pb.DELETED} for key in erased):
            break
        await asyncio.sleep(0.05)
    for key in erased:
        assert kinds.get(key) == {pb.DELETED}, key
    assert all(c.lead_id != "lead-alice" for c in page.changes)
    after = await stub.GetCampaignStats(
        pb.GetCampaignStatsRequest(tenant_id=tenant, campaign_id="camp-1")
    )
    assert after.total_messages == before.total_messages - 2  # a-out and b-cc (outbound)
    assert after.replied == 0
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.message_count == 2

    # Others' data sharing Alice's blobs is untouched.
    kept = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key="b-own", view=pb.FULL)
    )
    assert kept.text_body == "Hi Bob, the terms are attached."
    pieces = stub.DownloadAttachment(
        pb.DownloadAttachmentRequest(tenant_id=tenant, blob_sha256=shared_digest)
    )
    assert b"".join([p.data async for p in pieces]) == SHARED_PDF

    # And in the database: no row names her, refers to her messages (but DELETED changes),
    # or holds her blobs; the audit record keeps a keyed hash only.
    assert _rows_naming(database_url, tenant, TRACES) == []
    with psycopg.connect(database_url) as conn:
        for table in ("email_messages", "email_content", "attachments", "message_events"):
            left = conn.execute(
                f"SELECT count(*) FROM {table} WHERE storage_key = ANY(%s)",
                (list(erased),),
            ).fetchone()
            assert left == (0,), table
        kinds_left = conn.execute(
            "SELECT DISTINCT kind FROM changes WHERE storage_key = ANY(%s)", (list(erased),)
        ).fetchall()
        assert kinds_left == [("deleted",)]
        for table in ("blobs", "blob_chunks"):
            gone = conn.execute(
                f"SELECT count(*) FROM {table} WHERE sha256 = %s",
                (bytes.fromhex(alice_digest),),
            ).fetchone()
            assert gone == (0,), table
        audit = conn.execute(
            "SELECT subject_kind, length(subject_hash), requested_by, erased_messages,"
            " completed_at IS NOT NULL FROM erasures WHERE tenant_id = %s",
            (tenant,),
        ).fetchall()
        assert audit == [("email", 32, "dpo", 3, True)]

    # Asked again: the same erasure, the same answer.
    again = await stub.EraseLead(
        pb.EraseLeadRequest(tenant_id=tenant, email="Alice.Smith@EXAMPLE.com")
    )
    assert again == result


async def test_erasure_by_lead_id_takes_only_that_lead(stub: Stub, tenant: str) -> None:
    await _mail(stub, tenant)
    result = await stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, lead_id="lead-alice"))
    assert result.erased_messages == 2  # a-out and the reply, which inherited the lead
    listed = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))
    assert {m.storage_key for m in listed.messages} == {"b-cc", "b-own", "c-other"}


async def test_an_erasure_under_hold_is_refused_and_deletes_nothing(
    stub: Stub, tenant: str
) -> None:
    await _mail(stub, tenant)
    hold = await stub.SetLegalHold(
        pb.SetLegalHoldRequest(
            tenant_id=tenant, storage_key="a-reply", hold=True, reason="case 9", placed_by="gc"
        )
    )
    code, details = await _code(stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, email=ALICE)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert hold.hold_id in details
    assert "case 9" in details
    listed = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))
    assert len(listed.messages) == 5
    await stub.SetLegalHold(
        pb.SetLegalHoldRequest(
            tenant_id=tenant, lead_id="lead-alice", hold=True, reason="r", placed_by="p"
        )
    )
    await stub.SetLegalHold(
        pb.SetLegalHoldRequest(tenant_id=tenant, storage_key="a-reply", hold=False)
    )
    code, details = await _code(
        stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, lead_id="lead-alice"))
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "lead-alice" in details
    assert len((await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))).messages) == 5


async def test_an_erasure_cut_short_is_finished_by_asking_again(
    stub: Stub, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches of 2; the second batch's transaction fails: the first stays erased and
    counted, and asking again finishes the same erasure with the whole count."""
    for i in range(5):
        await _store(stub, tenant, f"l{i}", lead_id="lead-many")
    monkeypatch.setattr(governance, "ERASE_BATCH", 2)
    real = GovernanceRepository.count_erasure
    calls = 0

    async def failing(self: GovernanceRepository, erasure_id: str, **counts: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionError("the server went away")
        await real(self, erasure_id, **counts)

    monkeypatch.setattr(GovernanceRepository, "count_erasure", failing)
    code, _ = await _code(
        stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, lead_id="lead-many"))
    )
    assert code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNAVAILABLE)
    left = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))
    assert len(left.messages) == 3  # the first batch is gone, the failed one rolled back
    monkeypatch.setattr(GovernanceRepository, "count_erasure", real)
    result = await stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, lead_id="lead-many"))
    assert result.erased_messages == 5
    assert (await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))).messages == []


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({}, "lead_id or email"),
        ({"email": "not-an-address"}, "email"),
        ({"lead_id": "x" * 201}, "lead_id"),
        ({"lead_id": "l", "requested_by": "x" * 201}, "requested_by"),
    ],
)
async def test_bad_erasure_requests(
    stub: Stub, tenant: str, database_url: str, fields: dict[str, str], needle: str
) -> None:
    await _store(stub, tenant, "l-1", lead_id="l")
    code, details = await _code(stub.EraseLead(pb.EraseLeadRequest(tenant_id=tenant, **fields)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in details
    # Nothing written: the lead's mail is there, and no erasure was recorded.
    listed = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant))
    assert [m.storage_key for m in listed.messages] == ["l-1"]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM erasures").fetchone() == (0,)

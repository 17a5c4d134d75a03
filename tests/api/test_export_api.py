"""ExportMessages over real gRPC on a real PostgreSQL: an mbox of the exact original bytes,
selected by filters or a query, that imports into another tenant byte for byte."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc

from service.codec import mbox
from service.codec.blobs import CHUNK_SIZE
from tests.api.test_ingest_api import ingest, raw_of
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
# The multipart boundary the email package draws at random for each rendering.
BOUNDARY = re.compile(rb"={15}\d+==")


def awkward_mail() -> dict[str, bytes]:
    """Ingested mail an mbox gets wrong unless it is careful, by name."""
    big_body = b"".join(
        b"From line %d of a long letter\r\n>From quoted %d\r\n>>From twice\r\nplain\r\n" % (i, i)
        for i in range(12_000)
    )  # ~800 KiB: From lines fall on every side of the 256 KiB piece boundaries
    pdf = base64.encodebytes(bytes(range(256)) * 2000)
    return {
        "from-lines": (
            b"From: Jane <jane@example.com>\nTo: sam@acme.io\nSubject: From lines\n\n"
            b"From the start of a line\n>From already quoted\n>>>From deep\nx From not\n"
        ),
        "crlf": (b"From: jane@example.com\r\nSubject: crlf\r\n\r\nline one\r\nFrom two\r\n\r\n"),
        "no-final-newline": b"From: jane@example.com\nSubject: no newline\n\nlast line, no end",
        "ends-with-from": b"From: jane@example.com\nSubject: ends\n\nbye\n>From",
        "eight-bit": (
            b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.de>\nSubject: Gr\xfc\xdfe \xff\n"
            b"Content-Type: text/plain; charset=latin-1\n\nK\xf6ln \x80\x81\xfe\n"
        ),
        "big": (
            b"From: jane@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
            b"Content-Type: text/plain\r\n\r\n" + big_body + b"--b\r\n"
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + pdf.replace(b"\n", b"\r\n")
            + b"--b--\r\n"
        ),
    }


async def export(stub: Stub, request: pb.ExportMessagesRequest) -> list[pb.ExportChunk]:
    return [chunk async for chunk in stub.ExportMessages(request)]


def entries(chunks: list[pb.ExportChunk]) -> list[tuple[bytes, bytes]]:
    return list(mbox.messages(chunk.data for chunk in chunks))


async def test_ingested_mail_imports_into_another_tenant_byte_for_byte(
    stub: Stub, tenant: str
) -> None:
    """Every message of the export, read back with the codec and ingested into another
    tenant, gives GetRawMessage bytes identical to the original's; the stream comes in
    pieces of 256 KiB with messages_done counting up to the total."""
    mail = awkward_mail()
    for name, raw in mail.items():
        await ingest(stub, tenant, raw, email_account_id=f"acct-{name}")
    chunks = await export(stub, pb.ExportMessagesRequest(tenant_id=tenant))
    assert all(len(c.data) == CHUNK_SIZE for c in chunks[:-1])
    assert 0 < len(chunks[-1].data) <= CHUNK_SIZE
    done = [c.messages_done for c in chunks]
    assert done == sorted(done)
    assert done[-1] == len(mail)
    exported = entries(chunks)
    assert sorted(m for _, m in exported) == sorted(mail.values())

    other = str(uuid.uuid4())
    for _, raw in exported:
        response = await ingest(stub, other, raw)
        assert not response.deduplicated
        assert await raw_of(stub, other, response.storage_key) == raw


async def test_entries_are_newest_first_with_sender_and_time(stub: Stub, tenant: str) -> None:
    """Each entry starts with `From <sender> <created_at in UTC>`, newest message first; a
    message without a usable sender gets MAILER-DAEMON."""
    first = await ingest(stub, tenant, b"From: one@example.com\nSubject: 1\n\nbody\n")
    second = await ingest(stub, tenant, b"Subject: no sender\n\nbody\n", email_account_id="a2")
    lines = [
        line for line, _ in entries(await export(stub, pb.ExportMessagesRequest(tenant_id=tenant)))
    ]
    times = [r.message.created_at.ToDatetime(UTC).replace(microsecond=0) for r in (second, first)]
    assert lines == [
        b"From MAILER-DAEMON " + times[0].ctime().encode(),
        b"From one@example.com " + times[1].ctime().encode(),
    ]


async def test_structured_mail_exports_its_rendering(stub: Stub, tenant: str) -> None:
    """A StoreMessage message is exported as GetRawMessage renders it (the email package picks
    a new MIME boundary each time), and imports into another tenant as exactly those bytes."""
    stored = await stub.StoreMessage(store_request(tenant, text_body="Hi\nFrom me\n>From you"))
    rendering = await raw_of(stub, tenant, stored.storage_key)
    [(line, raw)] = entries(await export(stub, pb.ExportMessagesRequest(tenant_id=tenant)))
    assert line.startswith(b"From sam@acme.io ")
    assert BOUNDARY.sub(b"=boundary=", raw) == BOUNDARY.sub(b"=boundary=", rendering)
    assert b"\nFrom me" in raw
    other = str(uuid.uuid4())
    response = await ingest(stub, other, raw, direction=pb.OUTBOUND)
    assert await raw_of(stub, other, response.storage_key) == raw


async def test_filters_and_queries_select_the_messages(stub: Stub, tenant: str) -> None:
    """ListMessages filters and a SearchMessages query each export just what they select."""
    await stub.StoreMessage(store_request(tenant, campaign_id="spring", subject="Spring deal"))
    await stub.StoreMessage(store_request(tenant, campaign_id="autumn", subject="Autumn deal"))
    await ingest(stub, tenant, b"From: jane@example.com\nSubject: Invoice October\n\nhello\n")

    def subjects(chunks: list[pb.ExportChunk]) -> list[bytes]:
        return sorted(
            line.split(b": ", 1)[1]
            for _, raw in entries(chunks)
            for line in raw.splitlines()
            if line.startswith(b"Subject: ")
        )

    by_campaign = await export(
        stub,
        pb.ExportMessagesRequest(
            tenant_id=tenant, filters=pb.ListMessagesRequest(campaign_id="spring")
        ),
    )
    assert subjects(by_campaign) == [b"Spring deal"]
    inbound = await export(
        stub,
        pb.ExportMessagesRequest(
            tenant_id=tenant, filters=pb.ListMessagesRequest(direction=pb.INBOUND)
        ),
    )
    assert subjects(inbound) == [b"Invoice October"]
    by_query = await export(
        stub, pb.ExportMessagesRequest(tenant_id=tenant, query="deal -campaign:autumn")
    )
    assert subjects(by_query) == [b"Spring deal"]
    # Empty filters with a query are no filters at all.
    with_empty_filters = await export(
        stub,
        pb.ExportMessagesRequest(
            tenant_id=tenant, query="invoice", filters=pb.ListMessagesRequest()
        ),
    )
    assert subjects(with_empty_filters) == [b"Invoice October"]


async def test_another_tenants_mail_never_appears(stub: Stub, tenant: str) -> None:
    """A tenant's export holds its own mail only, and an empty selection is an empty stream."""
    other = str(uuid.uuid4())
    await ingest(stub, other, b"From: x@example.com\nSubject: secret\n\nnot yours\n")
    await stub.StoreMessage(store_request(other, subject="secret too"))
    for request in (
        pb.ExportMessagesRequest(tenant_id=tenant),
        pb.ExportMessagesRequest(tenant_id=tenant, query="secret"),
    ):
        chunks = await export(stub, request)
        assert b"".join(c.data for c in chunks) == b""
    assert len(entries(await export(stub, pb.ExportMessagesRequest(tenant_id=other)))) == 2


@pytest.mark.parametrize(
    ("request_fields", "named"),
    [
        ({"tenant_id": "not-a-uuid"}, "tenant_id"),
        ({"query": "deal", "filters": pb.ListMessagesRequest(campaign_id="spring")}, "query"),
        ({"query": 'subject:"unclosed'}, "query"),
        ({"filters": pb.ListMessagesRequest(campaign_id="x" * 10_000)}, "campaign_id"),
    ],
)
async def test_invalid_requests_are_invalid_argument(
    stub: Stub, tenant: str, request_fields: dict[str, object], named: str
) -> None:
    """A bad tenant, a query with filters, a malformed query or a bad filter is
    INVALID_ARGUMENT before any byte is sent."""
    await ingest(stub, tenant, b"Subject: deal\n\nbody\n")
    fields: dict[str, object] = {"tenant_id": tenant, **request_fields}
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await export(stub, pb.ExportMessagesRequest(**fields))  # type: ignore[arg-type]
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert named in (info.value.details() or "")


async def test_created_window_filters_apply(stub: Stub, tenant: str) -> None:
    """created_after / created_before bound the export like they bound ListMessages."""
    await ingest(stub, tenant, b"Subject: old\n\nbody\n")
    later = datetime.now(UTC)
    await ingest(stub, tenant, b"Subject: new\n\nbody\n", email_account_id="a2")
    window = pb.ListMessagesRequest()
    window.created_after.FromDatetime(later)
    chunks = await export(stub, pb.ExportMessagesRequest(tenant_id=tenant, filters=window))
    assert [raw for _, raw in entries(chunks)] == [b"Subject: new\n\nbody\n"]

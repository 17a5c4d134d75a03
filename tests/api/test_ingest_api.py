"""IngestRawMessage and GetRawMessage over real gRPC: exact bytes back, parsed fields, dedup."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.codec.blobs import CHUNK_SIZE
from service.core.gc import GarbageCollector
from service.server import EmailStoreServer
from tests.factories import store_request
from tests.mime_corpus import OUT_OF_OFFICE, PDF, bounce_for, corpus
from tests.unit.test_mime_split import mime_messages

Stub = pb_grpc.EmailStoreStub
CPYTHON_SAMPLES = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


async def _requests(
    meta: pb.RawMessageMetadata, raw: bytes, piece: int = 64 * 1024
) -> AsyncIterator[pb.IngestRawMessageRequest]:
    yield pb.IngestRawMessageRequest(metadata=meta)
    for start in range(0, len(raw), piece):
        yield pb.IngestRawMessageRequest(chunk=raw[start : start + piece])


async def ingest(stub: Stub, tenant: str, raw: bytes, **meta: object) -> pb.StoreMessageResponse:
    """Ingests raw bytes as an inbound message of mailbox acct-1 (unless told otherwise)."""
    fields: dict[str, object] = {
        "tenant_id": tenant,
        "email_account_id": "acct-1",
        "direction": pb.INBOUND,
    }
    fields.update(meta)
    return await stub.IngestRawMessage(_requests(pb.RawMessageMetadata(**fields), raw))  # type: ignore[arg-type]


async def _upload(items: list[pb.UploadBlobRequest]) -> AsyncIterator[pb.UploadBlobRequest]:
    for item in items:
        yield item


async def raw_of(stub: Stub, tenant: str, storage_key: str) -> bytes:
    """The bytes GetRawMessage streams back."""
    request = pb.GetRawMessageRequest(tenant_id=tenant, storage_key=storage_key)
    return b"".join([chunk.data async for chunk in stub.GetRawMessage(request)])


async def test_corpus_comes_back_byte_for_byte(stub: Stub, tenant: str) -> None:
    """Every awkward message of the corpus is stored and returned exactly."""
    for name, raw in corpus().items():
        response = await ingest(stub, tenant, raw, email_account_id=f"acct-{name}")
        assert not response.deduplicated, name
        assert response.message.raw_size_bytes == len(raw)
        assert response.message.content_hash == hashlib.sha256(raw).hexdigest()
        assert await raw_of(stub, tenant, response.storage_key) == raw, name


async def test_cpython_samples_come_back_byte_for_byte(stub: Stub, tenant: str) -> None:
    """The CPython test_email samples round-trip through the service (skipped when absent)."""
    files = sorted(CPYTHON_SAMPLES.glob("msg_*.txt")) if CPYTHON_SAMPLES.is_dir() else []
    if not files:
        pytest.skip(f"CPython's test_email data is not installed ({CPYTHON_SAMPLES})")
    for path in files:
        raw = path.read_bytes()
        response = await ingest(stub, tenant, raw, email_account_id=path.name)
        assert await raw_of(stub, tenant, response.storage_key) == raw, path.name


async def test_a_large_message_streams_back_in_full_chunks(stub: Stub, tenant: str) -> None:
    """A message with megabytes of attachments (base64 at 76 and at 64 columns, LF and CRLF,
    and a body kept verbatim) comes back exactly, rebuilt as it streams: every piece is 256 KiB
    but the last, whatever the sizes of the parts."""
    pdf = os.urandom(1_500_000)
    zip_ = os.urandom(700_001)
    b76 = base64.encodebytes(pdf).replace(b"\n", b"\r\n")
    encoded = base64.b64encode(zip_)
    b64 = b"\n".join(encoded[i : i + 64] for i in range(0, len(encoded), 64))
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: big\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
        b"--XX\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b76 + b"--XX\r\n"
        b"Content-Type: application/zip; name=b.zip\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + b64 + b"\n--XX\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nnot base64 at all!!\r\n--XX--\r\n"
    )
    response = await ingest(stub, tenant, raw)
    assert response.message.parse_status == "parsed"
    request = pb.GetRawMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    pieces = [chunk.data async for chunk in stub.GetRawMessage(request)]
    assert b"".join(pieces) == raw
    assert len(pieces) == -(-len(raw) // CHUNK_SIZE)
    assert all(len(piece) == CHUNK_SIZE for piece in pieces[:-1])


async def test_parsed_fields_and_threading(stub: Stub, tenant: str) -> None:
    """A reply: addresses, subject, bodies, Message-IDs; it joins the outbound message's thread."""
    outbound = await stub.StoreMessage(store_request(tenant, message_id_header="<email_1@acme.io>"))
    response = await ingest(stub, tenant, corpus()["plain crlf"])
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    assert got.from_address == pb.Address(email="jane@example.com", name="Jane")
    assert [a.email for a in got.to] == ["sam@acme.io"]
    assert got.subject == "Re: quick question"
    assert got.message_id_header == "<r1@example.com>"
    assert got.in_reply_to == "<email_1@acme.io>"
    assert got.text_body == "Sounds good, Tuesday?\r\n"
    assert got.direction == pb.INBOUND
    assert got.status == pb.RECEIVED
    assert got.parse_status == "parsed"
    assert got.thread_id == outbound.message.thread_id
    assert got.parent_storage_key == outbound.storage_key
    assert [h.name for h in got.headers][:3] == ["From", "To", "Subject"]


async def test_encoded_headers_and_attachments(stub: Stub, tenant: str) -> None:
    """RFC 2047 subjects and names, RFC 2231 file names, inline images with content ids."""
    messages = corpus()
    folded = await ingest(stub, tenant, messages["duplicate headers and folding"])
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=folded.storage_key)
    )
    assert got.subject == "café and naïve"
    assert got.from_address.name == "Jérôme"
    assert [h.value for h in got.headers if h.name == "Received"] == [
        "from a by b; Mon, 1 Jan 2024 00:00:00 +0000",
        "from c by d; Mon, 1 Jan 2024 00:00:01 +0000",
    ]
    names = await ingest(stub, tenant, messages["rfc 2231 and encoded-word filenames"])
    assert [a.filename for a in names.message.attachments] == ["€ rates.pdf", "été.pdf"]
    related = await ingest(stub, tenant, messages["alternative + related with inline image"])
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=related.storage_key)
    )
    assert got.text_body == "Hi Sam — see the logo below."
    assert got.html_body.startswith("<p>Hi Sam")
    [image] = got.attachments
    assert (image.mime_type, image.disposition, image.content_id) == (
        "image/png",
        "inline",
        "logo@x",
    )
    latin = await ingest(stub, tenant, messages["latin-1 8bit"])
    got = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=latin.storage_key)
    )
    assert got.text_body == "Café crème\r\n"


async def test_same_pdf_everywhere_is_stored_once(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """A PDF in two differently encoded replies and uploaded once: one blob, three references."""
    messages = corpus()
    one = await ingest(stub, tenant, messages["mixed with pdf (76 col base64)"])
    two = await ingest(stub, tenant, messages["odd base64 line length, LF"])
    pdf_sha = hashlib.sha256(PDF).hexdigest()
    assert one.message.attachments[0].sha256 == two.message.attachments[0].sha256 == pdf_sha
    missing = await stub.FindMissingBlobs(
        pb.FindMissingBlobsRequest(tenant_id=tenant, sha256=[pdf_sha])
    )
    assert list(missing.missing_sha256) == []
    # The sender uploads the same deck: same digest, nothing stored again.
    uploaded = await stub.UploadBlob(
        _upload(
            [
                pb.UploadBlobRequest(
                    tenant_id=tenant, upload_id=str(uuid.uuid4()), data=PDF, finish_write=True
                )
            ]
        )
    )
    assert uploaded.sha256 == pdf_sha
    got = b"".join(
        [
            c.data
            async for c in stub.DownloadAttachment(
                pb.DownloadAttachmentRequest(
                    tenant_id=tenant, storage_key=one.storage_key, attachment_id="1"
                )
            )
        ]
    )
    assert got == PDF
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT count(*), sum(refcount) FROM blobs WHERE sha256 = %s", (bytes.fromhex(pdf_sha),)
        ).fetchone()
    # One blob, referenced as an attachment and as a raw body by each message.
    assert rows == (1, 4)


async def test_usage_counts_an_ingested_attachment_once_per_message(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """An ingested attachment is referenced twice by its message (attachment and raw part),
    yet raw_bytes counts it once: one message saves nothing by dedup, a second with the same
    PDF saves the PDF."""
    messages = corpus()
    first = await ingest(stub, tenant, messages["mixed with pdf (76 col base64)"])
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert usage.saved_by_dedup_bytes == 0
    assert usage.raw_bytes == usage.unique_bytes
    second = await ingest(stub, tenant, messages["odd base64 line length, LF"])
    after = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert after.saved_by_dedup_bytes >= len(PDF)
    # Only the second message's own parts are new: the PDF is not counted again.
    assert after.unique_bytes - usage.unique_bytes <= after.raw_bytes - usage.raw_bytes - len(PDF)
    assert after.raw_bytes == (
        after.stored_bytes + after.saved_by_dedup_bytes + after.saved_by_compression_bytes
    )
    pdf_sha = hashlib.sha256(PDF).digest()
    query = "SELECT refcount, message_refs FROM blobs WHERE sha256 = %s"
    with psycopg.connect(database_url) as conn:
        assert conn.execute(query, (pdf_sha,)).fetchone() == (4, 2)
    await stub.DeleteMessage(
        pb.DeleteMessageRequest(tenant_id=tenant, storage_key=first.storage_key)
    )
    with psycopg.connect(database_url) as conn:
        assert conn.execute(query, (pdf_sha,)).fetchone() == (2, 1)
    await stub.DeleteMessage(
        pb.DeleteMessageRequest(tenant_id=tenant, storage_key=second.storage_key)
    )
    emptied = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert (emptied.raw_bytes, emptied.unique_bytes, emptied.saved_by_dedup_bytes) == (0, 0, 0)


async def test_resync_and_retries_are_deduplicated(stub: Stub, tenant: str) -> None:
    """The same bytes for the same mailbox, or the same request_id: the first message."""
    raw = corpus()["plain crlf"]
    first = await ingest(stub, tenant, raw)
    again = await ingest(stub, tenant, raw)
    assert again.deduplicated
    assert again.storage_key == first.storage_key
    other_mailbox = await ingest(stub, tenant, raw, email_account_id="acct-2")
    assert not other_mailbox.deduplicated
    retried = await ingest(stub, tenant, corpus()["no body"], request_id="r-1")
    repeat = await ingest(stub, tenant, corpus()["no body"], request_id="r-1")
    assert repeat.deduplicated
    assert repeat.storage_key == retried.storage_key


async def test_delete_releases_every_part(
    stub: Stub, tenant: str, server: EmailStoreServer
) -> None:
    """Deleting an ingested message releases its skeleton, bodies and attachments."""
    response = await ingest(stub, tenant, corpus()["alternative + related with inline image"])
    await stub.DeleteMessage(
        pb.DeleteMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    await GarbageCollector(server.db, grace_s=0).collect()
    usage = await stub.GetStorageUsage(pb.GetStorageUsageRequest(tenant_id=tenant))
    assert (usage.blob_count, usage.stored_bytes, usage.pending_gc_bytes) == (0, 0, 0)


async def test_structured_message_renders_as_rfc5322(stub: Stub, tenant: str) -> None:
    """GetRawMessage of a StoreMessage message is a well-formed MIME message with its parts."""
    stored = await stub.StoreMessage(
        store_request(
            tenant,
            attachments=[
                pb.AttachmentInput(filename="deck.pdf", mime_type="application/pdf", content=PDF)
            ],
        )
    )
    raw = await raw_of(stub, tenant, stored.storage_key)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Quick question, Jane"
    assert message["Message-ID"] == stored.message.message_id_header
    assert message["X-Campaign"] == "camp-1"
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    assert "Hi Jane" in body.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "deck.pdf"
    assert attachment.get_content() == PDF


async def test_structured_message_with_large_attachments_streams(
    stub: Stub, tenant: str, database_url: str
) -> None:
    """A StoreMessage message with megabytes of attachments (one uploaded and referenced by
    digest, one compressible, one inline) renders as it streams: pieces of 256 KiB but the
    last, and the attachments parse back to their bytes."""
    deck = os.urandom(3_000_001)
    logo = os.urandom(200_000)
    # Compressible: stored zstd-compressed chunk by chunk, decompressed as it streams.
    csv = b"".join(
        b"lead-%d,jane%d@example.com,Acme Corp,replied\r\n" % (i, i) for i in range(20_000)
    )
    upload_id = str(uuid.uuid4())
    uploaded = await stub.UploadBlob(
        _upload(
            [
                pb.UploadBlobRequest(
                    tenant_id=tenant,
                    upload_id=upload_id,
                    write_offset=offset,
                    data=deck[offset : offset + 1_048_576],
                    finish_write=offset + 1_048_576 >= len(deck),
                )
                for offset in range(0, len(deck), 1_048_576)
            ]
        )
    )
    stored = await stub.StoreMessage(
        store_request(
            tenant,
            attachments=[
                pb.AttachmentInput(
                    filename="deck.pdf", mime_type="application/pdf", blob_sha256=uploaded.sha256
                ),
                pb.AttachmentInput(filename="leads.csv", mime_type="text/csv", content=csv),
                pb.AttachmentInput(
                    filename="logo.png",
                    mime_type="image/png",
                    disposition="inline",
                    content_id="logo@acme",
                    content=logo,
                ),
            ],
        )
    )
    request = pb.GetRawMessageRequest(tenant_id=tenant, storage_key=stored.storage_key)
    pieces = [chunk.data async for chunk in stub.GetRawMessage(request)]
    raw = b"".join(pieces)
    assert len(raw) > 4 * len(deck) // 3
    assert all(len(piece) == CHUNK_SIZE for piece in pieces[:-1])
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Message-ID"] == stored.message.message_id_header
    parts = {part.get_filename(): part for part in message.iter_attachments()}
    assert parts["deck.pdf"].get_content() == deck
    assert parts["logo.png"].get_content() == logo
    assert parts["leads.csv"].get_payload(decode=True) == csv
    with psycopg.connect(database_url) as conn:
        codec = conn.execute(
            "SELECT codec FROM blobs WHERE sha256 = %s", (hashlib.sha256(csv).digest(),)
        ).fetchone()
    assert codec == ("zstd",)
    assert parts["logo.png"]["Content-ID"] == "<logo@acme>"


async def test_bad_ingest_requests(stub: Stub, tenant: str) -> None:
    """Metadata missing or wrong: INVALID_ARGUMENT; unknown keys: NOT_FOUND."""

    async def chunks_only() -> AsyncIterator[pb.IngestRawMessageRequest]:
        yield pb.IngestRawMessageRequest(chunk=b"From: a@b.co\r\n\r\nx")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.IngestRawMessage(chunks_only())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for meta in (
        {"tenant_id": "nope"},
        {"direction": pb.DIRECTION_UNSPECIFIED},
        {"storage_key": "has space"},
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await ingest(stub, tenant, b"From: a@b.co\r\n\r\nx", **meta)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, meta
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw_of(stub, tenant, "missing")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await raw_of(stub, str(uuid.uuid4()), "missing")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(raw=st.one_of(mime_messages(), st.binary(max_size=2000)))
async def test_generated_messages_come_back_byte_for_byte(
    stub: Stub, tenant: str, raw: bytes
) -> None:
    """GetRawMessage(IngestRawMessage(x)) == x for generated MIME trees and arbitrary bytes."""
    response = await ingest(stub, tenant, raw)
    assert await raw_of(stub, tenant, response.storage_key) == raw


async def test_bounces_and_auto_replies_are_recognised(stub: Stub, tenant: str) -> None:
    """A DSN becomes a BOUNCE threaded to the message it reports on; an out-of-office reply an
    AUTO_REPLY; an ordinary reply stays an EMAIL."""
    outbound = await stub.StoreMessage(store_request(tenant, message_id_header="<email_9@acme.io>"))
    bounce = await ingest(stub, tenant, bounce_for("<email_9@acme.io>"))
    assert bounce.message.message_type == pb.BOUNCE
    assert bounce.storage_key.startswith("bounce_")
    assert bounce.message.thread_id == outbound.message.thread_id
    assert bounce.message.parent_storage_key == outbound.storage_key
    assert await raw_of(stub, tenant, bounce.storage_key) == bounce_for("<email_9@acme.io>")
    away = await ingest(stub, tenant, OUT_OF_OFFICE)
    assert away.message.message_type == pb.AUTO_REPLY
    assert away.storage_key.startswith("autoreply_")
    reply = await ingest(stub, tenant, corpus()["plain crlf"])
    assert reply.message.message_type == pb.EMAIL
    page = await stub.ListMessages(pb.ListMessagesRequest(tenant_id=tenant, message_type=pb.BOUNCE))
    assert [m.storage_key for m in page.messages] == [bounce.storage_key]

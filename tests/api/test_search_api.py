"""SearchMessages over a real gRPC channel to a real server on a real PostgreSQL: mail stored
with StoreMessage and IngestRawMessage, found by the query language as a caller writes it."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import grpc
import psycopg
import pytest
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.api.test_ingest_api import ingest
from tests.factories import store_request

Stub = pb_grpc.EmailStoreStub
NOW = datetime.now(UTC)


def _ts(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def _raw_reply() -> bytes:
    """An out-of-office reply from Jane, with a German contract attached."""
    pdf = base64.b64encode(b"%PDF-1.4 contract").decode()
    return (
        "From: Jane Doe <jane@example.com>\r\n"
        "To: sam@acme.io\r\n"
        "Subject: Re: Invoice for October\r\n"
        f"Date: {format_datetime(NOW - timedelta(hours=1))}\r\n"
        "Message-ID: <reply-1@example.com>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n'
        "\r\n--b1\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        "Ich bin nicht im Büro. Ελληνικά κείμενα, Привет.\r\n"
        "--b1\r\n"
        'Content-Type: application/pdf; name="Vertrag_2026.pdf"\r\n'
        'Content-Disposition: attachment; filename="Vertrag_2026.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{pdf}\r\n"
        "--b1--\r\n"
    ).encode()


async def _corpus(stub: Stub, tenant: str) -> None:
    """The mail the searches below find (subjects name them), and another tenant's."""
    await stub.StoreMessage(
        store_request(
            tenant,
            subject="Invoice for October",
            text_body="Please find the invoice attached. Quick question: is the total right?",
            html_body="",
            from_address=pb.Address(email="billing@Acme.com", name="Acme Billing"),
            to=[pb.Address(email="jane@example.com", name="Jane Doe")],
            cc=[pb.Address(email="bob@partner.org", name="Bob")],
            campaign_id="camp-1",
            lead_id="lead-1",
            email_account_id="acct-1",
            sequence_step=1,
            status=pb.SENT,
            sent_at=_ts(NOW - timedelta(days=30)),
            attachments=[
                pb.AttachmentInput(
                    filename="Angebot_Q4.pdf", mime_type="application/pdf", content=b"%" * 5000
                )
            ],
        )
    )
    await stub.StoreMessage(
        store_request(
            tenant,
            subject="Résumé attached",
            text_body="Mein Lebenslauf für die Straße.",
            html_body="",
            from_address=pb.Address(email="hr@beispiel.de", name="Personal"),
            to=[pb.Address(email="100%_real@odd.example", name="")],
            campaign_id="camp-2",
            lead_id="lead-2",
            sequence_step=2,
        )
    )
    await stub.StoreMessage(
        store_request(
            tenant,
            subject="会議のお知らせ",
            text_body="明日東京都庁で会議があります。",
            html_body="",
            from_address=pb.Address(email="tanaka@example.jp", name="田中"),
            to=[pb.Address(email="jane@example.com", name="")],
            campaign_id="camp-3",
        )
    )
    await stub.StoreMessage(
        store_request(
            tenant,
            subject="Update",
            text_body="",
            html_body="<html><style>.pricing{}</style><p>Quarterly <b>pricing</b> update</p></html>",
            to=[pb.Address(email="1000xreal@odd.example", name="")],
            campaign_id="camp-3",
        )
    )
    await ingest(stub, tenant, _raw_reply())
    other = str(uuid.uuid4())
    await stub.StoreMessage(store_request(other, subject="Invoice for October"))


async def _subjects(stub: Stub, tenant: str, query: str) -> list[str]:
    found = await stub.SearchMessages(pb.SearchMessagesRequest(tenant_id=tenant, query=query))
    return [m.subject for m in found.messages]


CASES = {
    # free text: subject, body, attachment filenames; folded
    "invoice": {"Invoice for October", "Re: Invoice for October"},
    "INVOICE attached": {"Invoice for October"},
    "resume": {"Résumé attached"},
    "strasse": {"Résumé attached"},
    "lebenslauf fur": {"Résumé attached"},
    "buro": {"Re: Invoice for October"},
    "ελληνικα": {"Re: Invoice for October"},
    "привет": {"Re: Invoice for October"},
    # CJK: a word inside an unspaced sentence, a single character
    "都庁": {"会議のお知らせ"},
    "東京": {"会議のお知らせ"},
    "会議": {"会議のお知らせ"},
    "庁": {"会議のお知らせ"},
    "京都大学": set(),
    # filenames, of stored and ingested mail
    "angebot": {"Invoice for October"},
    "q4": {"Invoice for October"},
    "filename:angebot_q4.pdf": {"Invoice for October"},
    "filename:vertrag": {"Re: Invoice for October"},
    "filename:invoice": set(),
    # HTML-only mail by its text (not its styles)
    "pricing": {"Update"},
    '"quarterly pricing"': {"Update"},
    # phrases, subject:
    '"quick question"': {"Invoice for October"},
    '"question quick"': set(),
    "subject:invoice": {"Invoice for October", "Re: Invoice for October"},
    "subject:lebenslauf": set(),
    # addresses and names: substrings, literal, any case
    "from:acme.com": {"Invoice for October"},
    "from:ACME": {"Invoice for October", "Update"},  # Update is from sam@acme.io
    'from:"acme billing"': {"Invoice for October"},
    "from:jane": {"Re: Invoice for October"},
    "to:jane@example": {"Invoice for October", "会議のお知らせ"},
    "cc:partner": {"Invoice for October"},
    "cc:jane": set(),
    "to:100%_real": {"Résumé attached"},
    "to:%_": {"Résumé attached"},
    "to:0%": {"Résumé attached"},
    "to:0x": {"Update"},
    "to:odd.example": {"Résumé attached", "Update"},
    "to:odd_example": set(),
    "to:.*": set(),
    # exact ids, enums, steps
    "campaign:camp-1": {"Invoice for October"},
    "campaign:camp": set(),
    "lead:lead-2": {"Résumé attached"},
    "account:acct-1": {
        "Invoice for October",
        "Résumé attached",
        "会議のお知らせ",
        "Update",
        "Re: Invoice for October",
    },
    "status:sent": {"Invoice for October"},
    "status:received": {"Re: Invoice for October"},
    "type:auto_reply": {"Re: Invoice for October"},
    "direction:inbound": {"Re: Invoice for October"},
    "step:2": {"Résumé attached"},
    "has:attachment": {"Invoice for October", "Re: Invoice for October"},
    # dates (sent_at, else created_at) and sizes
    "before:7d": {"Invoice for October"},
    "after:7d invoice": {"Re: Invoice for October"},
    f"before:{(NOW - timedelta(days=10)).date().isoformat()}": {"Invoice for October"},
    "larger:4KB": {"Invoice for October"},
    "smaller:4KB has:attachment": {"Re: Invoice for October"},
    # negation, OR
    "invoice -has:attachment": set(),
    "invoice -status:sent": {"Re: Invoice for October"},
    "-invoice campaign:camp-3": {"会議のお知らせ", "Update"},
    '-"quick question" invoice': {"Re: Invoice for October"},
    "-from:acme invoice": {"Re: Invoice for October"},
    "resume OR pricing": {"Résumé attached", "Update"},
    "step:2 OR from:tanaka": {"Résumé attached", "会議のお知らせ"},
    "resume OR -campaign:camp-3 invoice": {"Invoice for October", "Re: Invoice for October"},
    "from:acme.com has:attachment -status:bounced invoice": {"Invoice for October"},
}


async def test_each_operator_and_text_form_finds_its_messages(stub: Stub, tenant: str) -> None:
    """Every query of CASES finds exactly its messages, of this tenant only."""
    await _corpus(stub, tenant)
    wrong = {}
    for query, expected in CASES.items():
        found = await _subjects(stub, tenant, query)
        assert len(found) == len(set(found)), query
        if set(found) != expected:
            wrong[query] = (sorted(found), sorted(expected))
    assert not wrong


async def test_results_are_newest_first_and_page_with_tokens(stub: Stub, tenant: str) -> None:
    """Seven matches in pages of three: each once, newest first; the token is bound to the
    query (another query with it is INVALID_ARGUMENT)."""
    for i in range(7):
        await stub.StoreMessage(store_request(tenant, subject=f"Zeppelin {i}"))
    await stub.StoreMessage(store_request(tenant, subject="Other mail"))
    request = pb.SearchMessagesRequest(tenant_id=tenant, query="zeppelin", page_size=3)
    pages = []
    while True:
        page = await stub.SearchMessages(request)
        pages.append([m.subject for m in page.messages])
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
        if len(pages) == 1:
            other = pb.SearchMessagesRequest(
                tenant_id=tenant, query="zeppelin 1", page_token=page.next_page_token
            )
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.SearchMessages(other)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [s for p in pages for s in p] == [f"Zeppelin {i}" for i in reversed(range(7))]


async def test_page_size_defaults_to_fifty(stub: Stub, tenant: str) -> None:
    """page_size 0 is 50, and a token leads to the rest."""
    for i in range(52):
        await stub.StoreMessage(store_request(tenant, subject=f"Bulk {i}"))
    page = await stub.SearchMessages(pb.SearchMessagesRequest(tenant_id=tenant, query="bulk"))
    assert len(page.messages) == 50
    rest = await stub.SearchMessages(
        pb.SearchMessagesRequest(tenant_id=tenant, query="bulk", page_token=page.next_page_token)
    )
    assert len(rest.messages) == 2
    assert not rest.next_page_token


async def test_archived_messages_are_not_found(stub: Stub, tenant: str, database_url: str) -> None:
    """A message with archived_at set is left out of every search."""
    kept = await stub.StoreMessage(store_request(tenant, subject="Walrus kept"))
    gone = await stub.StoreMessage(store_request(tenant, subject="Walrus archived"))
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE email_messages SET archived_at = now() WHERE storage_key = %s",
            (gone.storage_key,),
        )
    assert await _subjects(stub, tenant, "walrus") == ["Walrus kept"]
    assert kept.storage_key


@pytest.mark.parametrize(
    ("query", "token", "position"),
    [
        ("invoice status:bouncd", "status:bouncd", 8),
        ('from:acme "quick question', '"quick question', 10),
        ("invoice OR", "OR", 8),
        ("larger:huge", "larger:huge", 0),
    ],
)
async def test_a_malformed_query_is_invalid_argument_naming_token_and_position(
    stub: Stub, tenant: str, query: str, token: str, position: int
) -> None:
    """INVALID_ARGUMENT with a BadRequest field violation on `query` that names the token and
    its position."""
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.SearchMessages(pb.SearchMessagesRequest(tenant_id=tenant, query=query))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    (violation,) = bad_request.field_violations
    assert violation.field == "query"
    assert repr(token) in violation.description
    assert f"position {position}" in violation.description

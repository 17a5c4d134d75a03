"""The rendering plan of a structured message, with attachment bodies streamed into it, is the
email package's own rendering of the message with its bytes."""

from __future__ import annotations

import email
import email.policy
import hashlib
import random
from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec.mime import BodyEncoder, BodyRef, encode_body
from service.codec.render import _email, render_plan
from service.models import (
    Address,
    Attachment,
    Classification,
    Content,
    Direction,
    Envelope,
    Header,
    Message,
    MessageStatus,
    MessageType,
    Owner,
    Sizes,
    Thread,
    Timeline,
)


def render_message(message: Message, attachments: list[tuple[Attachment, bytes]]) -> bytes:
    """The whole rendering in memory: the plan with each attachment's bytes in its place."""
    assert message.content is not None
    plan = render_plan(message, message.content, [attachment for attachment, _ in attachments])
    return b"".join(
        piece
        if isinstance(piece, bytes)
        else encode_body(piece.stored(attachments[piece.index][1]))
        for piece in plan
    )


def _message(text: str, html: str, attachments: tuple[Attachment, ...]) -> Message:
    at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    return Message(
        tenant_id="t",
        storage_key="email_1",
        owner=Owner("acct", "camp", "lead"),
        kind=Classification(Direction.OUTBOUND, MessageType.EMAIL, MessageStatus.SENT),
        envelope=Envelope(
            from_address=Address("sdr@acme.example", "Ann SDR"),
            to=(Address("jane@lead.example", "Jane"),),
            bcc=(Address("crm@acme.example"),),
            subject="Quick question, Jane",
            message_id_header="<email_1@emailstore.invalid>",
        ),
        thread=Thread("th"),
        times=Timeline(created_at=at, updated_at=at, sent_at=at),
        size=Sizes(0, 0, ""),
        attachments=attachments,
        content=Content(headers=(Header("X-Campaign", "camp"),), text_body=text, html_body=html),
    )


def _attachment(i: int, data: bytes) -> Attachment:
    return Attachment(
        id=str(i + 1),
        filename=f"file-{i}.pdf",
        mime_type="application/pdf",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        disposition="attachment",
        content_id="",
    )


# Sizes around the 57-byte base64 line and its padding, and a few larger ones.
_DATA = st.one_of(
    st.binary(max_size=200),
    st.integers(0, 4).flatmap(lambda k: st.binary(min_size=57 * k, max_size=57 * k)),
    st.integers(1000, 20_000).map(lambda n: random.Random(n).randbytes(n)),
)


@given(
    datas=st.lists(_DATA, max_size=4),
    text=st.sampled_from(["", "Hi Jane,\r\nquick question.", "Café crème " * 40]),
    html=st.sampled_from(["", "<p>Hi Jane</p>"]),
    seed=st.integers(0, 2**32),
    piece=st.integers(1, 5000),
)
@settings(max_examples=60, deadline=None)
def test_plan_with_streamed_bodies_is_the_email_package_rendering(
    datas: list[bytes], text: str, html: str, seed: int, piece: int
) -> None:
    """Feeding each attachment's bytes, in pieces of any size, into its place in the plan gives
    byte for byte what the email package writes with the bytes themselves (same boundaries)."""
    attachments = tuple(_attachment(i, d) for i, d in enumerate(datas))
    message = _message(text, html, attachments)
    random.seed(seed)  # the email package draws MIME boundaries from `random`
    assert message.content is not None
    expected = _email(
        message, message.content, list(zip(attachments, datas, strict=True))
    ).as_bytes()
    random.seed(seed)
    plan = render_plan(message, message.content, attachments)
    out: list[bytes] = []
    for item in plan:
        if isinstance(item, bytes):
            out.append(item)
            continue
        assert isinstance(item, BodyRef)
        encoder: BodyEncoder = item.encoder()
        data = datas[item.index]
        out.extend(encoder.feed(data[i : i + piece]) for i in range(0, len(data), piece))
        out.append(encoder.finish())
    assert b"".join(out) == expected
    random.seed(seed)
    assert render_message(message, list(zip(attachments, datas, strict=True))) == expected


def test_rendering_parses_back() -> None:
    """The rendering is a MIME message with the headers, bodies and attachments, Bcc left out."""
    pdf = random.Random(1).randbytes(100_000)
    attachments = (_attachment(0, pdf), _attachment(1, b""))
    raw = render_message(
        _message("Hi Jane", "<p>Hi Jane</p>", attachments),
        [(attachments[0], pdf), (attachments[1], b"")],
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Quick question, Jane"
    assert parsed["X-Campaign"] == "camp"
    assert parsed["Bcc"] is None
    got = [(a.get_filename(), a.get_content()) for a in parsed.iter_attachments()]
    assert got == [("file-0.pdf", pdf), ("file-1.pdf", b"")]


def test_every_rendering_of_a_message_is_the_same_bytes() -> None:
    """Boundaries come from the message's key and content digest, not from `random`: two
    renderings (two exports) are equal, and another message gets other boundaries."""
    datas = [b"%PDF-1.7 deck", b"GIF89a"]
    attachments = tuple(_attachment(i, d) for i, d in enumerate(datas))
    message = _message("Hi", "<p>Hi</p>", attachments)
    pairs = list(zip(attachments, datas, strict=True))
    random.seed(1)
    first = render_message(message, pairs)
    random.seed(2)
    assert render_message(message, pairs) == first
    other = replace(message, storage_key="another-key")
    assert render_message(other, pairs) != first

"""Raw ingest of damaged real messages: whatever the bytes, stored and given back exactly.

Bit flips, truncations, removed boundaries, and the damage fuzzing once turned into INTERNAL
(a NUL in a header, an encoded word that decodes to a lone surrogate, a Date with a zone of
+2100): the message is stored and GetRawMessage gives the very bytes back, GetMessage reads it,
and whatever could not be represented is said in parse_warnings or a header's kept_raw flag.
"""

from __future__ import annotations

import os
import re

import grpc
from emailstore.v1 import emailstore_pb2 as pb
from emailstore.v1 import emailstore_pb2_grpc as pb_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.test_ingest_api import ingest, raw_of
from tests.mime_corpus import corpus

Stub = pb_grpc.EmailStoreStub

REPLY = (
    b"From: =?utf-8?q?J=C3=A9r=C3=B4me?= <jerome@example.fr>\r\nTo: sam@acme.io\r\n"
    b"Subject: =?utf-8?b?UmU6IHF1aWNrIHF1ZXN0aW9u?=\r\nDate: Tue, 3 Nov 2026 09:12:00 +0100\r\n"
    b"Message-ID: <reply-1@example.fr>\r\nIn-Reply-To: <email_1@acme.io>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="ALT"\r\n\r\n'
    b"--ALT\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nYes, Tuesday works.\r\n"
    b"--ALT\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Yes, Tuesday works.</p>\r\n"
    b"--ALT--\r\n"
)
SEEDS = [REPLY, *corpus().values()]
_BOUNDARY = re.compile(rb'boundary="?([^";\r\n]+)"?', re.IGNORECASE)


def _flip_bits(raw: bytes, positions: list[int], bits: list[int]) -> bytes:
    out = bytearray(raw)
    for position, bit in zip(positions, bits, strict=False):
        out[position % len(out)] ^= 1 << bit
    return bytes(out)


def _without_boundaries(raw: bytes, which: int) -> bytes:
    """Removes the delimiter lines of one declared boundary (or the declaration itself)."""
    found = _BOUNDARY.findall(raw)
    if not found:
        return raw
    boundary = found[which % len(found)]
    if which % 3 == 0:
        return raw.replace(b"boundary=", b"bounday=", 1)
    return re.sub(rb"(?m)^--" + re.escape(boundary) + rb"(--)?[ \t]*\r?$\n?", b"", raw)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A real message with one kind of damage."""
    raw = draw(st.sampled_from(SEEDS))
    kind = draw(st.sampled_from(["flip", "truncate", "boundary", "nul", "byte", "splice"]))
    if kind == "flip":
        n = draw(st.integers(1, 8))
        positions = draw(st.lists(st.integers(0, len(raw) - 1), min_size=n, max_size=n))
        bits = draw(st.lists(st.integers(0, 7), min_size=n, max_size=n))
        return _flip_bits(raw, positions, bits)
    if kind == "truncate":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "boundary":
        return _without_boundaries(raw, draw(st.integers(0, 8)))
    if kind in ("nul", "byte"):
        at = draw(st.integers(0, len(raw)))
        value = b"\x00" if kind == "nul" else bytes([draw(st.integers(0, 255))])
        return raw[:at] + value + raw[at:]
    header = draw(
        st.sampled_from(
            [
                b"Subject: a\x00b\r\n",
                b"Subject: =?utf-7?Q?+2DQ-?=\r\n",
                b"Subject: =?utf-8?b?AAA=?=\r\n",
                b"X-Note: =?unknown-8bit?q?=FF=FE?=\r\n",
                b"Date: Mon, 1 Jan 2024 00:00:00 +2100\r\n",
                b"Date: Fri, 31 Dec 9999 23:59:59 -1000\r\n",
                b"Date: yesterday-ish\r\n",
                b"From: \x00@\xff\r\n",
                b"Message-ID: <a\x00b@\xc3\xa9.x>\r\n",
                b"\xff\xfe: value\r\n",
            ]
        )
    )
    return header + raw


@settings(
    max_examples=int(os.environ.get("EMAILSTORE_FUZZ_EXAMPLES", "80")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=damaged())
async def test_damaged_messages_are_stored_exactly(stub: Stub, tenant: str, raw: bytes) -> None:
    """A damaged message is stored (or refused by a limit), comes back byte for byte, and
    reads back; parsing never answers INTERNAL."""
    try:
        response = await ingest(stub, tenant, raw, email_account_id="acct-fuzz")
    except grpc.aio.AioRpcError as exc:
        code, details = exc.code(), exc.details()
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, (code, details, raw)
        return
    assert await raw_of(stub, tenant, response.storage_key) == raw
    full = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    assert full.content_hash == response.message.content_hash


async def test_unrepresentable_header_is_kept_raw(stub: Stub, tenant: str) -> None:
    """A header whose decoded text holds a NUL is kept undecoded, flagged, and said."""
    raw = b"From: a@b.co\r\nSubject: =?utf-8?b?YQBi?=\r\nX-Id: 7\r\n\r\nbody\r\n"  # "a\0b"
    response = await ingest(stub, tenant, raw)
    full = await stub.GetMessage(
        pb.GetMessageRequest(tenant_id=tenant, storage_key=response.storage_key)
    )
    subject = next(h for h in full.headers if h.name == "Subject")
    assert subject.kept_raw
    assert subject.value == "=?utf-8?b?YQBi?="
    assert not next(h for h in full.headers if h.name == "X-Id").kept_raw
    assert full.subject == "a\ufffdb"
    assert any("Subject" in w and "undecoded" in w for w in full.parse_warnings)
    assert full.parse_status == "parsed"
    assert await raw_of(stub, tenant, response.storage_key) == raw


async def test_date_with_impossible_zone_is_left_unset(stub: Stub, tenant: str) -> None:
    """A Date with a +2100 zone leaves sent_at unset and says so; a normal one is in UTC."""
    bad = b"From: a@b.co\r\nDate: Mon, 1 Jan 2024 00:00:00 +2100\r\nSubject: x\r\n\r\nbody\r\n"
    response = await ingest(stub, tenant, bad)
    assert not response.message.HasField("sent_at")
    assert any("+2100" in w and "sent_at left unset" in w for w in response.message.parse_warnings)

    good = b"From: a@b.co\r\nDate: Mon, 1 Jan 2024 09:30:00 +0530\r\nSubject: y\r\n\r\nbody\r\n"
    response = await ingest(stub, tenant, good)
    assert response.message.sent_at.ToJsonString() == "2024-01-01T04:00:00Z"
    assert list(response.message.parse_warnings) == []

"""Byte-exact MIME splitting: every message comes back byte for byte; bodies dedup (pure)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec import mime
from service.codec.mime import (
    BodyEncoder,
    MimeLimitExceeded,
    MimeLimits,
    Skeleton,
    StoredBody,
    encode_body,
    reconstruct,
    split_message,
)
from tests.mime_corpus import PDF, corpus

CPYTHON_SAMPLES = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
CORPUS = corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_round_trips_exactly(name: str) -> None:
    """Each awkward shape of the project's corpus is reconstructed byte for byte."""
    raw = CORPUS[name]
    split = split_message(raw)
    assert reconstruct(split) == raw
    # The serialised skeleton plus the stored bodies is all the store keeps.
    rebuilt = Skeleton.rebuild(split.skeleton_bytes(), [b.data for b in split.bodies])
    assert hashlib.sha256(rebuilt).digest() == hashlib.sha256(raw).digest()


def test_cpython_test_email_samples_round_trip() -> None:
    """The CPython test_email sample messages all round-trip (skipped when not installed)."""
    files = sorted(CPYTHON_SAMPLES.glob("msg_*.txt")) if CPYTHON_SAMPLES.is_dir() else []
    if not files:
        pytest.skip(f"CPython's test_email data is not installed ({CPYTHON_SAMPLES})")
    for path in files:
        raw = path.read_bytes()
        assert reconstruct(split_message(raw)) == raw, path.name


def test_base64_attachment_is_kept_decoded_so_it_dedups() -> None:
    """The same PDF base64-encoded in two differently shaped messages: one decoded blob."""
    one = split_message(CORPUS["mixed with pdf (76 col base64)"])
    two = split_message(CORPUS["odd base64 line length, LF"])
    pdfs = [
        body
        for split in (one, two)
        for leaf, body in zip(split.leaves, split.bodies, strict=True)
        if leaf.content_type == "application/pdf"
    ]
    assert [p.form for p in pdfs] == ["base64", "base64"]
    assert pdfs[0].data == pdfs[1].data == PDF


def test_unreproducible_encoding_is_kept_verbatim() -> None:
    """Base64 with irregular lines cannot be re-encoded identically: kept as it came."""
    encoded = base64.b64encode(PDF)
    irregular = encoded[:50] + b"\r\n" + encoded[50:130] + b"\r\n" + encoded[130:] + b"\r\n"
    raw = (
        b"From: a@b.co\r\nContent-Transfer-Encoding: base64\r\nContent-Type: application/pdf\r\n\r\n"
        + irregular
    )
    split = split_message(raw)
    assert [b.form for b in split.bodies] == ["verbatim"]
    assert reconstruct(split) == raw


def test_structural_limits() -> None:
    """More parts or deeper nesting than allowed raises; the caller stores such mail raw."""
    many = (
        b"Content-Type: multipart/mixed; boundary=m\r\n\r\n"
        + b"".join(b"--m\r\n\r\npart\r\n" for _ in range(20))
        + b"--m--\r\n"
    )
    with pytest.raises(MimeLimitExceeded):
        split_message(many, MimeLimits(max_parts=10))
    deep = b""
    for level in range(6):
        deep += f"--d{level - 1}\r\n".encode() if level else b""
        deep += f"Content-Type: multipart/mixed; boundary=d{level}\r\n\r\n".encode()
    deep += b"--d5\r\n\r\nleaf\r\n"
    with pytest.raises(MimeLimitExceeded):
        split_message(deep, MimeLimits(max_depth=3))
    assert reconstruct(split_message(deep)) == deep


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_round_trip(raw: bytes) -> None:
    """Arbitrary bytes never crash the splitter and always come back exactly."""
    assert reconstruct(split_message(raw)) == raw


_eol = st.sampled_from([b"\r\n", b"\n"])
_boundary = st.text(alphabet="abcXYZ019'()+_,-./:=?", min_size=1, max_size=20).filter(
    lambda b: not b.endswith(" ")
)


@st.composite
def mime_messages(draw: st.DrawFn, depth: int = 0) -> bytes:
    """Random MIME trees: nested multiparts, encodings, line endings, sloppy endings."""
    eol = draw(_eol)
    if depth < 3 and draw(st.booleans()):
        boundary = draw(_boundary).encode()
        children = draw(st.lists(mime_messages(depth + 1), min_size=0, max_size=3))
        out = b'Content-Type: multipart/mixed; boundary="' + boundary + b'"' + eol + eol
        out += draw(st.binary(max_size=20)).replace(b"--", b"")  # preamble
        for child in children:
            out += eol + b"--" + boundary + eol + child
        if draw(st.booleans()):
            out += eol + b"--" + boundary + b"--" + eol
        out += draw(st.binary(max_size=20))  # epilogue, possibly garbage
        return out
    data = draw(st.binary(max_size=300))
    encoding = draw(st.sampled_from(["base64", "7bit", "quoted-printable", ""]))
    if encoding == "base64":
        width = draw(st.sampled_from([76, 64, 60]))
        encoded = base64.b64encode(data)
        body = eol.join(encoded[i : i + width] for i in range(0, len(encoded), width))
    else:
        body = data.replace(b"--", b"")
    header = b"Content-Type: application/octet-stream" + eol
    if encoding:
        header += b"Content-Transfer-Encoding: " + encoding.encode() + eol
    return header + eol + body


@settings(max_examples=150, deadline=None)
@given(mime_messages())
def test_generated_mime_round_trips(raw: bytes) -> None:
    """Generated multipart trees come back byte for byte."""
    assert reconstruct(split_message(raw)) == raw


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=600),
    form=st.sampled_from(["base64", "identity", "verbatim"]),
    line_length=st.sampled_from([0, 1, 3, 4, 57, 64, 76]),
    eol=st.sampled_from([b"\r\n", b"\n"]),
    final_eol=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=8),
)
def test_body_encoder_streams_what_encode_body_gives(
    data: bytes, form: str, line_length: int, eol: bytes, final_eol: bool, cuts: list[int]
) -> None:
    """A body fed to BodyEncoder in any pieces comes out exactly as encode_body makes it whole,
    whatever the line length and line ending."""
    encoder = BodyEncoder(form, line_length, eol, final_eol)
    bounds = [0, *sorted(c for c in cuts if c <= len(data)), len(data)]
    out = b"".join(encoder.feed(data[a:b]) for a, b in itertools.pairwise(bounds))
    out += encoder.finish()
    assert out == encode_body(StoredBody(data, form, line_length, eol.decode(), final_eol))


def _delimiters_by_pattern(raw: bytes, marker: bytes, start: int, end: int) -> list[Any]:
    """RFC 2046 delimiter lines as a regular expression says them (the earlier splitter)."""
    pattern = re.compile(rb"^" + re.escape(marker) + rb"(--)?[ \t]*(?:\r?\n|$)", re.MULTILINE)
    found = []
    for match in pattern.finditer(raw, start, end):
        found.append((match.start(), match.end(), bool(match.group(1))))
        if match.group(1):
            break
    return found


@settings(max_examples=3000)
@given(
    st.lists(st.sampled_from([b"--b", b"--", b"b", b"x", b" ", b"\t", b"\r", b"\n", b"\r\n"])),
    st.data(),
)
def test_delimiter_search_finds_what_the_rfc_2046_pattern_finds(
    pieces: list[bytes], data: st.DataObject
) -> None:
    """The boundary search finds exactly the delimiter lines the regular expression does, in
    any part of a message."""
    raw = b"".join(pieces)
    start = data.draw(st.integers(0, len(raw)))
    end = data.draw(st.integers(start, len(raw)))
    found = [tuple(d) for d in mime._delimiters(raw, b"--b", start, end)]
    assert found == _delimiters_by_pattern(raw, b"--b", start, end)

"""Byte-exact MIME splitting and reconstruction (pure).

Python's `email` parser decodes well but keeps no byte offsets, so it cannot give back the
original message. This splitter works on the raw bytes instead, as WildDuck's mailsplit does:
it records where every part's header block and body lie, so that the message becomes a
*skeleton* (the header blocks, boundary lines, preambles and epilogues, verbatim) plus one body
per leaf part. Each leaf body is kept in the form that dedups best while still reproducing the
original exactly:

* ``identity`` - 7bit/8bit/binary bodies: the bytes themselves;
* ``base64``   - the *decoded* bytes, when re-encoding them with the line length and line ending
  seen in the original gives back the original exactly (so the same PDF sent base64-encoded by
  5,000 repliers, or uploaded once with UploadBlob, is one blob);
* ``verbatim`` - the encoded bytes as they came, whenever re-encoding would not reproduce them
  (quoted-printable, odd base64 line lengths, garbage).

`reconstruct(skeleton, bodies)` is a concatenation. The splitter never raises on malformed
input: what it cannot understand stays verbatim in the skeleton. Only the structural limits
(parts, depth, header block size) raise `MimeLimitExceeded`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value
from typing import NamedTuple

SKELETON_MAGIC = b"EMAILSTORE-SKELETON-1\n"

# Header parsing only needs Content-Type and Content-Transfer-Encoding. compat32 is the fastest
# policy and never raises on malformed headers (it records defects instead).
_HEADER_PARSER = BytesHeaderParser(policy=compat32)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"[^\n]*\n|[^\n]+$")


class MimeLimitExceeded(Exception):
    """The message has more parts, deeper nesting or a larger header block than allowed."""


@dataclass(frozen=True)
class MimeLimits:
    """Structural limits: a hostile message cannot make the splitter work without bound."""

    max_parts: int = 1000
    max_depth: int = 20
    max_header_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class LeafPart:
    """One leaf of the MIME tree: where its headers and body are, and how it is encoded."""

    path: str  # "1", "1.2", ... ("" for a single-part message)
    header_start: int
    header_end: int  # end of the header block, blank line included
    body_start: int
    body_end: int
    content_type: str  # lowercase type/subtype ("text/plain" when absent)
    transfer_encoding: str  # lowercase, "" when absent
    headers: Message = field(repr=False, compare=False)


@dataclass(frozen=True)
class StoredBody:
    """How a leaf body is kept: the bytes to store, and how to turn them back into the original."""

    data: bytes
    form: str  # "identity", "base64" or "verbatim"
    line_length: int = 0  # base64: characters per line
    eol: str = ""  # base64: "\r\n" or "\n"
    final_eol: bool = False  # base64: whether the last line ends with eol


@dataclass(frozen=True)
class Skeleton:
    """The message without its leaf bodies: literal byte runs and references to bodies."""

    # ("lit", bytes) or ("body", index into the bodies list)
    segments: tuple[tuple[str, bytes | int], ...]

    def to_bytes(self, bodies: list[StoredBody]) -> bytes:
        """A self-describing serialisation: magic, a JSON index line, then the literal bytes."""
        index: list[list[object]] = []
        literals: list[bytes] = []
        for kind, value in self.segments:
            if kind == "lit":
                assert isinstance(value, bytes)
                index.append(["l", len(value)])
                literals.append(value)
            else:
                assert isinstance(value, int)
                body = bodies[value]
                index.append(["b", value, body.form, body.line_length, body.eol, body.final_eol])
        header = json.dumps(index, separators=(",", ":")).encode()
        return SKELETON_MAGIC + header + b"\n" + b"".join(literals)

    @staticmethod
    def plan(serialized: bytes) -> list[bytes | BodyRef]:
        """A serialised skeleton as the message's pieces in order: literal bytes, and
        references to bodies with how to encode each."""
        if not serialized.startswith(SKELETON_MAGIC):
            raise ValueError("not an EmailStore skeleton")
        rest = serialized[len(SKELETON_MAGIC) :]
        newline = rest.index(b"\n")
        index = json.loads(rest[:newline])
        literals = memoryview(rest)[newline + 1 :]
        pieces: list[bytes | BodyRef] = []
        offset = 0
        for entry in index:
            if entry[0] == "l":
                pieces.append(bytes(literals[offset : offset + entry[1]]))
                offset += entry[1]
            else:
                _, i, form, line_length, eol, final_eol = entry
                pieces.append(BodyRef(i, form, line_length, eol, final_eol))
        return pieces

    @staticmethod
    def rebuild(serialized: bytes, bodies: list[bytes]) -> bytes:
        """The original message from a serialised skeleton and the stored body bytes."""
        out: list[bytes] = []
        for piece in Skeleton.plan(serialized):
            if isinstance(piece, bytes):
                out.append(piece)
            else:
                out.append(encode_body(piece.stored(bodies[piece.index])))
        return b"".join(out)


@dataclass(frozen=True)
class BodyRef:
    """Where a leaf body goes in a skeleton: which body, and the form it is kept in."""

    index: int
    form: str
    line_length: int
    eol: str
    final_eol: bool

    def stored(self, data: bytes) -> StoredBody:
        """The body with these bytes."""
        return StoredBody(data, self.form, self.line_length, self.eol, self.final_eol)

    def encoder(self) -> BodyEncoder:
        """An encoder turning the stored bytes, fed in any pieces, into the original ones."""
        return BodyEncoder(self.form, self.line_length, self.eol.encode(), self.final_eol)


class BodyEncoder:
    """`encode_body` for a body that arrives in pieces: the same bytes out, a piece at a time,
    holding back at most a line of base64 and two input bytes."""

    def __init__(self, form: str, line_length: int, eol: bytes, final_eol: bool) -> None:
        if form not in ("identity", "verbatim", "base64"):
            raise ValueError(f"unknown body form {form!r}")
        self._base64 = form == "base64"
        self._line = line_length
        self._eol = eol
        self._final_eol = final_eol
        self._pending = b""  # input bytes not yet encoded (fewer than 3)
        self._text = b""  # base64 text not yet written out
        self._any = False  # some base64 text was produced

    def feed(self, data: bytes) -> bytes:
        """The output these bytes (after the earlier ones) make certain."""
        if not self._base64:
            return data
        buffered = self._pending + data if self._pending else data
        whole = len(buffered) // 3 * 3
        self._pending = buffered[whole:]
        if not whole:
            return b""
        self._any = True
        encoded = base64.b64encode(buffered if whole == len(buffered) else buffered[:whole])
        self._text = self._text + encoded if self._text else encoded
        if self._line <= 0:
            out, self._text = self._text, b""
            return out
        # A full line goes out once more text follows it: only the last line's end depends
        # on final_eol.
        lines = (len(self._text) - 1) // self._line
        if lines <= 0:
            return b""
        cut = lines * self._line
        out = self._eol.join(self._text[i : i + self._line] for i in range(0, cut, self._line))
        self._text = self._text[cut:]
        return out + self._eol

    def finish(self) -> bytes:
        """The rest of the output."""
        if not self._base64:
            return b""
        if self._pending:
            self._any = True
            self._text += base64.b64encode(self._pending)
            self._pending = b""
        text, self._text = self._text, b""
        if self._line <= 0:
            lines = [text] if text else []
        else:
            lines = [text[i : i + self._line] for i in range(0, len(text), self._line)]
        out = self._eol.join(lines)
        if self._final_eol and self._any:
            out += self._eol
        return out


@dataclass(frozen=True)
class SplitMessage:
    """A message split for storage: the skeleton, the leaves and how each body is kept."""

    skeleton: Skeleton
    leaves: tuple[LeafPart, ...]
    bodies: tuple[StoredBody, ...]

    def skeleton_bytes(self) -> bytes:
        """The skeleton, serialised."""
        return self.skeleton.to_bytes(list(self.bodies))


def encode_body(body: StoredBody) -> bytes:
    """The original bytes of a leaf body from its stored form."""
    encoder = BodyEncoder(body.form, body.line_length, body.eol.encode(), body.final_eol)
    return encoder.feed(body.data) + encoder.finish()


def store_body(encoded: bytes, transfer_encoding: str) -> StoredBody:
    """The best form to keep a leaf body in that still reproduces `encoded` exactly."""
    if transfer_encoding == "base64":
        stored = _try_base64(encoded)
        if stored is not None:
            return stored
        return StoredBody(encoded, "verbatim")
    if transfer_encoding in ("", "7bit", "8bit", "binary"):
        return StoredBody(encoded, "identity")
    return StoredBody(encoded, "verbatim")


def _try_base64(encoded: bytes) -> StoredBody | None:
    if not encoded:
        return StoredBody(b"", "base64", 76, "\r\n", False)
    first = encoded.split(b"\n", 1)[0]
    eol = "\r\n" if first.endswith(b"\r") else "\n"
    line_length = len(first.rstrip(b"\r"))
    final_eol = encoded.endswith(eol.encode())
    try:
        decoded = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        return None
    candidate = StoredBody(decoded, "base64", line_length, eol, final_eol)
    if encode_body(candidate) == encoded:
        return candidate
    return None


class _Splitter:
    def __init__(self, raw: bytes, limits: MimeLimits) -> None:
        self.raw = raw
        self.limits = limits
        self.segments: list[tuple[str, bytes | int]] = []
        self.leaves: list[LeafPart] = []
        self.bodies: list[StoredBody] = []
        self.parts = 0

    def literal(self, start: int, end: int) -> None:
        if end > start:
            if self.segments and self.segments[-1][0] == "lit":
                previous = self.segments[-1][1]
                assert isinstance(previous, bytes)
                self.segments[-1] = ("lit", previous + self.raw[start:end])
            else:
                self.segments.append(("lit", self.raw[start:end]))

    def part(self, start: int, end: int, path: str, depth: int) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise MimeLimitExceeded(f"more than {self.limits.max_parts} MIME parts")
        if depth > self.limits.max_depth:
            raise MimeLimitExceeded(f"MIME nesting deeper than {self.limits.max_depth}")
        raw = self.raw
        match = _HEADER_END.search(raw, start, end)
        if start < end and raw.startswith((b"\r\n", b"\n"), start, end):
            header_end = start  # no headers at all: the body starts after the blank line
            body_start = start + (2 if raw.startswith(b"\r\n", start) else 1)
        elif match is None:
            header_end = body_start = end  # headers only, no body
        else:
            header_end = body_start = match.end()
        if header_end - start > self.limits.max_header_bytes:
            raise MimeLimitExceeded(f"header block over {self.limits.max_header_bytes} bytes")
        headers = _HEADER_PARSER.parsebytes(raw[start:header_end])
        content_type = headers.get_content_type()
        boundary: object = None
        if headers.get_content_maintype() == "multipart":
            boundary = headers.get_param("boundary")
            if isinstance(boundary, tuple):  # RFC 2231 encoded parameter
                boundary = collapse_rfc2231_value(boundary)
        if (
            isinstance(boundary, str)
            and boundary
            and self._multipart(start, body_start, end, boundary, path, depth)
        ):
            return
        self.literal(start, body_start)
        encoding = str(headers.get("Content-Transfer-Encoding", "")).strip().lower()
        body = store_body(raw[body_start:end], encoding)
        self.segments.append(("body", len(self.bodies)))
        self.bodies.append(body)
        self.leaves.append(
            LeafPart(path, start, header_end, body_start, end, content_type, encoding, headers)
        )

    def _multipart(
        self, start: int, body_start: int, end: int, boundary: str, path: str, depth: int
    ) -> bool:
        """Splits a multipart body at its delimiter lines; False when there are none."""
        try:
            marker = b"--" + boundary.strip('"').encode("ascii")
        except UnicodeEncodeError:
            return False
        delimiters = _delimiters(self.raw, marker, body_start, end)
        if not delimiters or delimiters[0].closing:
            return False
        self.literal(start, body_start)
        position = body_start
        number = 0
        for i, delimiter in enumerate(delimiters):
            line_start = delimiter.start
            if i > 0:
                # The previous part ends before the line break that precedes this delimiter.
                part_end = line_start
                if part_end > position and self.raw[part_end - 1 : part_end] == b"\n":
                    part_end -= 1
                    if part_end > position and self.raw[part_end - 1 : part_end] == b"\r":
                        part_end -= 1
                number += 1
                self.part(
                    position, part_end, f"{path}.{number}" if path else str(number), depth + 1
                )
                position = part_end
            else:
                self.literal(position, line_start)  # the preamble
                position = line_start
            self.literal(position, delimiter.end)
            position = delimiter.end
        last = delimiters[-1]
        if not last.closing:
            # No closing delimiter: the last part runs to the end of the message.
            number += 1
            self.part(position, end, f"{path}.{number}" if path else str(number), depth + 1)
            position = end
        self.literal(position, end)  # the epilogue
        return True


class _Delimiter(NamedTuple):
    start: int  # where the line starts
    end: int  # after its line break
    closing: bool  # the close delimiter ("--" after the boundary)


def _delimiters(raw: bytes, marker: bytes, start: int, end: int) -> list[_Delimiter]:
    """The delimiter lines of a multipart body in raw[start:end], up to the closing one
    (RFC 2046): at the start of a line, the marker ("--" and the boundary), "--" to close,
    transport padding, then a line break or the end. A search for the marker, not a regular
    expression: each message has a boundary of its own, and compiling a pattern per message
    cost more than the rest of the split."""
    found: list[_Delimiter] = []
    at = raw.find(marker, start, end)
    while at != -1:
        if at == 0 or raw[at - 1] == 0x0A:  # at the start of a line
            i = at + len(marker)
            closing = raw.startswith(b"--", i, end)
            if closing:
                i += 2
            while i < end and raw[i] in (0x20, 0x09):
                i += 1
            if i == end or raw[i] == 0x0A:
                line_end = min(i + 1, end)
            elif raw[i] == 0x0D and i + 1 < end and raw[i + 1] == 0x0A:
                line_end = i + 2
            else:
                line_end = -1  # the marker goes on: another boundary, or text
            if line_end != -1:
                found.append(_Delimiter(at, line_end, closing))
                if closing:
                    break
        at = raw.find(marker, at + 1, end)
    return found


def split_message(raw: bytes, limits: MimeLimits | None = None) -> SplitMessage:
    """Splits raw RFC 5322 bytes into a skeleton and leaf bodies; see the module docstring."""
    splitter = _Splitter(raw, limits or MimeLimits())
    splitter.part(0, len(raw), "", 0)
    return SplitMessage(
        skeleton=Skeleton(tuple(splitter.segments)),
        leaves=tuple(splitter.leaves),
        bodies=tuple(splitter.bodies),
    )


def reconstruct(split: SplitMessage) -> bytes:
    """The original bytes, from the skeleton and the stored bodies."""
    return Skeleton.rebuild(split.skeleton_bytes(), [b.data for b in split.bodies])

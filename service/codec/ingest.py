"""Parsing of raw RFC 5322 messages for ingest (pure; runs in a worker process).

The byte-exact structure comes from `service.codec.mime`; the meaning (decoded headers,
addresses, bodies, attachment names) from the standard library's `email` package. Parsing uses
the `compat32` policy: it is the fastest policy and never raises on malformed input (it records
defects instead), which matters more here than the convenience of `policy.default`, whose
header objects can raise on access. Decoding is then done explicitly, field by field, with
fallbacks that never raise. Nothing is ever lost: whatever cannot be parsed is kept whole,
raw, with a status saying why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime

from service.codec.inbound import BounceReport, InboundMail, InboundPart, recognise
from service.codec.mime import (
    LeafPart,
    MimeLimitExceeded,
    MimeLimits,
    Skeleton,
    SplitMessage,
    StoredBody,
    split_message,
)
from service.models import Address, AttachmentData, Envelope, Header

_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]+>")
_FOLD = re.compile(r"\r?\n[ \t]")
_FALLBACK_CHARSETS = ("utf-8", "cp1252", "latin-1")
# What PostgreSQL text and jsonb cannot hold: NUL, and UTF-16 surrogates, which are not Unicode
# characters at all (compat32 keeps 8-bit header bytes as surrogates, and a decoder such as
# UTF-7 can produce lone ones).
_UNREPRESENTABLE = re.compile("[\x00\ud800-\udfff]")
# The surrogates compat32 stands raw 8-bit header bytes in for.
_EIGHT_BIT = re.compile("[\udc80-\udcff]")
# Real time zones lie between UTC-12:00 and UTC+14:00; a Date outside them is no time at all.
_MIN_OFFSET = timedelta(hours=-12)
_MAX_OFFSET = timedelta(hours=14)


def representable(text: str) -> str:
    """The text with NUL and surrogates replaced by U+FFFD, so that it can be stored."""
    return _UNREPRESENTABLE.sub("\ufffd", text) if _UNREPRESENTABLE.search(text) else text


def _bytes_as_text(value: str) -> str:
    """A raw (compat32) value as text: its 8-bit bytes read as UTF-8, storable."""
    if _EIGHT_BIT.search(value):
        value = value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    return representable(value)


@dataclass(frozen=True)
class ParsedRaw:
    """What ingest stores of a raw message: how to rebuild it, and what it says."""

    status: str  # "parsed", or "unparsed: <why>"
    raw_sha256: bytes  # of the whole message: its content hash and re-sync identity
    skeleton: bytes = field(repr=False)
    bodies: tuple[bytes, ...] = field(repr=False)  # the bytes each skeleton body refers to
    headers: tuple[Header, ...] = ()
    envelope: Envelope = field(default_factory=Envelope)
    date: datetime | None = None
    kind: str = "email"  # "email", "bounce" or "auto_reply" (service.codec.inbound's rules)
    # A bounce quotes the message it reports on: its Message-ID, to thread the bounce to it;
    # other mail stripped of In-Reply-To and References may quote the one it answers.
    original_message_id: str = ""
    bounce: BounceReport | None = None  # what a bounce says
    text: str = ""
    html: str = ""
    attachments: tuple[AttachmentData, ...] = ()
    # What parsing had to leave out or keep raw, e.g. a Date with an impossible time zone.
    warnings: tuple[str, ...] = ()


def unparsed(raw: bytes, why: str) -> ParsedRaw:
    """The message kept whole: a skeleton with one body, the raw bytes themselves."""
    whole = StoredBody(raw, "identity")
    skeleton = Skeleton((("body", 0),)).to_bytes([whole])
    return ParsedRaw(
        status=f"unparsed: {why}",
        raw_sha256=hashlib.sha256(raw).digest(),
        skeleton=skeleton,
        bodies=(raw,),
    )


def _text_of_header(value: str) -> str:
    """A header value unfolded and RFC 2047-decoded; 8-bit bytes read as UTF-8."""
    value = _FOLD.sub(" ", value).strip()
    if _EIGHT_BIT.search(value):
        # compat32 keeps raw 8-bit header bytes as surrogates: most are UTF-8, the rest
        # usually Windows-1252.
        data = value.encode("ascii", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("cp1252", "replace")
    if "=?" not in value:
        return value  # no encoded word (RFC 2047): decoding would give it back unchanged
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError, UnicodeError, AssertionError, TypeError):
        return value


def _header(name: str, value: str) -> Header:
    """A header decoded; kept raw (undecoded, storable) when the decoded text is not storable."""
    decoded = _text_of_header(value)
    clean_name = _bytes_as_text(name)
    if representable(decoded) is decoded:
        return Header(clean_name, decoded)
    return Header(clean_name, _bytes_as_text(_FOLD.sub(" ", value).strip()), kept_raw=True)


def _addresses(values: list[str]) -> tuple[Address, ...]:
    pairs = getaddresses([_text_of_header(v) for v in values])
    return tuple(
        Address(representable(email), representable(name)) for name, email in pairs if email
    )


def _date(raw_date: str) -> tuple[datetime | None, str]:
    """The Date header as UTC, or None with a warning saying why it cannot be used."""
    if not raw_date.strip():
        return None, ""
    shown = _bytes_as_text(raw_date.strip())[:80]
    try:
        date = parsedate_to_datetime(raw_date)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None, f"Date {shown!r} cannot be parsed; sent_at left unset"
    offset = date.utcoffset()
    if offset is None:
        return None, f"Date {shown!r} has no time zone; sent_at left unset"
    if not _MIN_OFFSET <= offset <= _MAX_OFFSET:
        return None, f"Date {shown!r} has a time zone outside -1200..+1400; sent_at left unset"
    try:
        return date.astimezone(UTC), ""
    except OverflowError:
        return None, f"Date {shown!r} is out of range; sent_at left unset"


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes to text in the declared charset, then fallbacks; never raises."""
    for candidate in (charset, *_FALLBACK_CHARSETS):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")  # unreachable: latin-1 decodes anything


def _transfer_decoded(encoded: bytes, body: StoredBody, encoding: str) -> bytes:
    if body.form == "base64":
        return body.data
    if encoding == "base64":
        try:
            return base64.b64decode(encoded, validate=False)
        except (binascii.Error, ValueError):
            return encoded
    if encoding == "quoted-printable":
        return quopri.decodestring(encoded)
    return encoded


def _is_attachment(leaf: LeafPart, headers: Message) -> bool:
    disposition = str(headers.get("Content-Disposition", "")).split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    # Text without a file name is a body; everything else is an attachment or inline part.
    return leaf.content_type not in ("text/plain", "text/html") or bool(headers.get_filename())


def _filename(headers: Message) -> str:
    try:
        name = headers.get_filename() or headers.get_param("name") or ""
    except (ValueError, LookupError, UnicodeError):
        name = ""
    if isinstance(name, tuple):  # an RFC 2231 value get_param did not collapse
        name = str(name[2])
    return representable(_text_of_header(str(name))) if name else ""


def parse_raw(raw: bytes, limits: MimeLimits | None = None) -> ParsedRaw:
    """Parses a raw message; any failure keeps it whole with a status saying why."""
    try:
        return _parse(raw, limits or MimeLimits())
    except MimeLimitExceeded as exc:
        return unparsed(raw, str(exc))
    except RecursionError:
        return unparsed(raw, "nesting too deep for the parser")
    except Exception as exc:  # the message is kept raw whatever the parser trips on
        return unparsed(raw, f"parser error: {type(exc).__name__}")


class _TopHeaders:
    """The top-level header block: its fields as parsed, and decoded."""

    def __init__(self, top: Message) -> None:
        self.message = top
        # raw_items(): the values as parsed, surrogates and all (get() would turn 8-bit bytes
        # into Header objects that print as replacement characters).
        self.raw = [(name, str(value)) for name, value in top.raw_items()]
        self.decoded = tuple(_header(name, value) for name, value in self.raw)
        self._by_name: dict[str, list[str]] = {}
        for name, value in self.raw:
            self._by_name.setdefault(name.lower(), []).append(value)

    def all(self, name: str) -> list[str]:
        """Every raw value of a field, in order."""
        return list(self._by_name.get(name.lower(), ()))

    def first(self, name: str) -> str:
        """The first raw value of a field, "" when absent."""
        values = self.all(name)
        return values[0] if values else ""

    def ids(self, name: str) -> list[str]:
        """The Message-IDs in a field's values."""
        return _MESSAGE_ID.findall(_bytes_as_text(" ".join(self.all(name))))

    def warnings(self) -> list[str]:
        """One per header kept raw."""
        return [
            f"header {h.name} (#{i + 1}) kept undecoded: its decoded value cannot be stored"
            for i, h in enumerate(self.decoded)
            if h.kept_raw
        ]


def _top_headers(raw: bytes, split: SplitMessage, limits: MimeLimits) -> _TopHeaders:
    """The top-level headers (of the first leaf, or parsed alone for a multipart message)."""
    if split.leaves and split.leaves[0].path == "":
        top, header_block = split.leaves[0].headers, raw[: split.leaves[0].header_end]
    else:
        header_block = raw[: _top_header_end(raw)]
        top = BytesHeaderParser(policy=compat32).parsebytes(header_block)
    if len(header_block) > limits.max_header_bytes:
        raise MimeLimitExceeded(f"header block over {limits.max_header_bytes} bytes")
    return _TopHeaders(top)


def _parts(raw: bytes, split: SplitMessage) -> tuple[str, str, list[AttachmentData]]:
    """The first text and HTML bodies, decoded to text, and the attachments and inline parts."""
    text = html = ""
    attachments: list[AttachmentData] = []
    for leaf, body in zip(split.leaves, split.bodies, strict=True):
        encoded = raw[leaf.body_start : leaf.body_end]
        decoded = _transfer_decoded(encoded, body, leaf.transfer_encoding)
        if not _is_attachment(leaf, leaf.headers):
            charset = leaf.headers.get_content_charset()
            if leaf.content_type == "text/plain" and not text:
                text = representable(decode_text(decoded, charset))
                continue
            if leaf.content_type == "text/html" and not html:
                html = representable(decode_text(decoded, charset))
                continue
        disposition = str(leaf.headers.get("Content-Disposition", "")).split(";")[0].strip()
        content_id = str(leaf.headers.get("Content-ID", "")).strip().strip("<>")
        attachments.append(
            AttachmentData(
                filename=_filename(leaf.headers),
                mime_type=_bytes_as_text(leaf.content_type),
                disposition="inline" if disposition.lower() == "inline" else "attachment",
                content_id=_bytes_as_text(_FOLD.sub("", content_id)),
                content=decoded,
                part_path=leaf.path or "1",
            )
        )
    return text, html, attachments


def _parse(raw: bytes, limits: MimeLimits) -> ParsedRaw:
    split = split_message(raw, limits)
    skeleton = split.skeleton_bytes()
    bodies = [b.data for b in split.bodies]
    # Nothing is stored unless it is certain to give back the very same bytes.
    raw_sha256 = hashlib.sha256(raw).digest()
    if hashlib.sha256(Skeleton.rebuild(skeleton, bodies)).digest() != raw_sha256:
        return unparsed(raw, "reconstruction check failed")
    top = _top_headers(raw, split, limits)
    text, html, attachments = _parts(raw, split)
    subject = representable(_text_of_header(top.first("Subject")))
    date, date_warning = _date(top.first("Date"))
    warnings = top.warnings() + ([date_warning] if date_warning else [])
    message_ids, in_reply_to = top.ids("Message-ID"), top.ids("In-Reply-To")
    senders = _addresses(top.all("From"))
    content_type = top.message.get_content_type()
    recognition = recognise(
        InboundMail(
            headers=top,
            content_type=content_type,
            report_type=str(top.message.get_param("report-type", "")).lower()
            if content_type == "multipart/report"
            else "",
            sender=senders[0].email if senders else "",
            sender_name=senders[0].name if senders else "",
            subject=subject,
            text=text,
            html=html,
            parts=tuple(InboundPart(a.mime_type, a.content or b"") for a in attachments),
        )
    )
    return ParsedRaw(
        status="parsed",
        raw_sha256=raw_sha256,
        skeleton=skeleton,
        bodies=tuple(bodies),
        headers=top.decoded,
        envelope=Envelope(
            from_address=senders[0] if senders else None,
            to=_addresses(top.all("To")),
            cc=_addresses(top.all("Cc")),
            bcc=_addresses(top.all("Bcc")),
            reply_to=_addresses(top.all("Reply-To")),
            subject=subject,
            message_id_header=message_ids[0] if message_ids else "",
            in_reply_to=in_reply_to[0] if in_reply_to else "",
            references=tuple(top.ids("References")),
        ),
        date=date,
        text=text,
        html=html,
        attachments=tuple(attachments),
        kind=recognition.kind,
        original_message_id=recognition.original_message_id,
        bounce=recognition.bounce,
        warnings=tuple(warnings),
    )


def _top_header_end(raw: bytes) -> int:
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    return min(ends) if ends else len(raw)

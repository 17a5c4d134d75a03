"""Request validation: pure functions from a request to a validated one, every broken rule
collected into one clear error (INVALID_ARGUMENT with a violation per field), configured
limits raised as RESOURCE_EXHAUSTED."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address as ParsedAddress

from service.config import Config
from service.errors import FieldViolation, InvalidArgument, ResourceExhausted
from service.models import (
    Address,
    AttachmentData,
    AttachmentInput,
    Caller,
    CampaignStatsInput,
    Envelope,
    Header,
    ListMessagesInput,
    MessageStatus,
    Owner,
    RawMessageInput,
    StatusEventInput,
    StoreMessageInput,
)

STORAGE_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,199}$")
REQUEST_ID_RE = re.compile(r"^[\x21-\x7e]{1,200}$")
HEADER_NAME_RE = re.compile(r"^[\x21-\x39\x3b-\x7e]{1,200}$")
MESSAGE_ID_RE = re.compile(r"^<[^<>\s\x00-\x1f\x7f]{1,995}>$")
MIME_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,62}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
LINE_BREAKS = re.compile(r"[\r\n\x00]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# The everyday address (dot-atom local part, dotted host name) matched without the full
# RFC 5322 parser, which costs far more; anything else still goes through the parser.
_SIMPLE_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

# RFC 6531: an internationalised local part is a dot-atom whose atoms may hold any non-ASCII
# character (UTF8-non-ascii) besides the ASCII atext.
_EAI_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
    r"(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+)*$"
)
_LDH_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")

MAX_ID_CHARS = 200
MAX_NAME_CHARS = 500
MAX_EMAIL_CHARS = 320
MAX_FILENAME_CHARS = 1000
MAX_REFERENCES = 1000
MAX_LABELS = 64
MAX_LABEL_VALUE_CHARS = 256
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_SEQUENCE_STEP = 1000
MAX_DETAIL_KEYS = 50
MAX_DETAIL_KEY_CHARS = 100
MAX_DETAIL_VALUE_CHARS = 2000
MAX_THREAD_MESSAGES = 1000
EVENT_STATUSES = frozenset(MessageStatus) - {MessageStatus.QUEUED}


class Violations:
    """Collects field violations and raises them together."""

    def __init__(self) -> None:
        self.items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        """Records that field breaks a rule."""
        self.items.append(FieldViolation(field, description))

    def raise_if_any(self) -> None:
        """Raises InvalidArgument naming the first violation (and carrying all of them)."""
        if self.items:
            first = self.items[0]
            more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
            raise InvalidArgument(
                f"{first.field}: {first.description}{more}", violations=self.items
            )


# ------------------------------------------------------------------ single fields


def caller(tenant_id: str, field: str = "tenant_id") -> Caller:
    """The caller of a request naming its tenant; InvalidArgument unless it is a UUID."""
    try:
        return Caller(str(uuid.UUID(tenant_id)))
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument(
            f"{field} must be a UUID, got {tenant_id[:60]!r}",
            violations=[FieldViolation(field, "must be a UUID")],
        ) from None


def storage_key(value: str, field: str = "storage_key") -> str:
    """A storage key as given; InvalidArgument unless it matches the key alphabet."""
    if not STORAGE_KEY_RE.match(value):
        raise InvalidArgument.field(
            field,
            "is required"
            if not value
            else "must be 1-200 characters of [A-Za-z0-9._:@+=-] starting with a letter or digit",
        )
    return value


_SHA256_RULE = "must be 64 hex characters (SHA-256)"


def _digest(value: str) -> bytes | None:
    """A hex SHA-256 (any case, surrounding spaces allowed) as bytes; None when it is not."""
    digest = value.strip().lower()
    return bytes.fromhex(digest) if SHA256_RE.match(digest) else None


def sha256(value: str, field: str) -> bytes:
    """A hex SHA-256 as bytes; InvalidArgument naming the field when it is not one."""
    digest = _digest(value)
    if digest is None:
        raise InvalidArgument.field(field, _SHA256_RULE)
    return digest


def page_size(value: int) -> int:
    """AIP-158: 0 means the default, larger than the maximum means the maximum."""
    if value < 0:
        raise InvalidArgument.field("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def check_id(v: Violations, field: str, value: str) -> None:
    """Free-form identifiers (campaign, lead, account, ...): bounded, no control characters."""
    if len(value) > MAX_ID_CHARS:
        v.add(field, f"must be at most {MAX_ID_CHARS} characters")
    elif _CONTROL.search(value):
        v.add(field, "must not contain control characters")


def check_owner(v: Violations, owner: Owner, prefix: str = "") -> None:
    """The mailbox, campaign and lead ids, and the sequence step."""
    check_id(v, f"{prefix}email_account_id", owner.email_account_id)
    check_id(v, f"{prefix}campaign_id", owner.campaign_id)
    check_id(v, f"{prefix}lead_id", owner.lead_id)
    if not 0 <= owner.sequence_step <= MAX_SEQUENCE_STEP:
        v.add(f"{prefix}sequence_step", f"must be 0-{MAX_SEQUENCE_STEP}")


def check_request_id(v: Violations, field: str, value: str) -> None:
    """An idempotency key: printable ASCII, no spaces."""
    if value and not REQUEST_ID_RE.match(value):
        v.add(field, "must be 1-200 printable ASCII characters without spaces")


def check_text_line(v: Violations, field: str, value: str, max_chars: int) -> None:
    """A single-line text (subject, display name): bounded, no CR, LF or NUL."""
    if len(value) > max_chars:
        v.add(field, f"must be at most {max_chars} characters")
    elif LINE_BREAKS.search(value):
        v.add(field, "must not contain CR, LF or NUL")


def check_message_id(v: Violations, field: str, value: str) -> None:
    """A Message-ID: '<local@domain>' without whitespace or control characters."""
    if value and not MESSAGE_ID_RE.match(value):
        v.add(field, "must look like <id@domain>, without whitespace")


def check_labels(v: Violations, labels: Mapping[str, str]) -> None:
    """Caller tags: bounded count, key alphabet and value length."""
    if len(labels) > MAX_LABELS:
        v.add("labels", f"at most {MAX_LABELS} labels")
        return
    for key, value in labels.items():
        if not LABEL_KEY_RE.match(key):
            v.add(f"labels[{key[:40]!r}]", "key must be 1-63 characters of [A-Za-z0-9_.:/-]")
        elif len(value) > MAX_LABEL_VALUE_CHARS or _CONTROL.search(value):
            v.add(
                f"labels[{key!r}]",
                f"value must be at most {MAX_LABEL_VALUE_CHARS} characters, no control characters",
            )


def check_limit(what: str, size: int, limit: int, env: str) -> None:
    """ResourceExhausted when size passes a configured limit."""
    if size > limit:
        raise ResourceExhausted(f"{what} is {size:,}, over the limit of {limit:,} ({env})")


def address(v: Violations, field: str, value: Address) -> Address | None:
    """An address as the standard library parses it; a violation (and None) when it does not."""
    check_text_line(v, f"{field}.name", value.name, MAX_NAME_CHARS)
    email = value.email.strip()
    if not email:
        v.add(f"{field}.email", "is required")
        return None
    if len(email) > MAX_EMAIL_CHARS or _CONTROL.search(email):
        v.add(f"{field}.email", f"is not a valid email address: {email[:60]!r}")
        return None
    if _SIMPLE_ADDRESS.match(email):
        return Address(email=email, name=value.name)
    if not email.isascii():
        # RFC 6531/6532 mail: kept exactly as given, once its parts are well formed.
        if _internationalised(email):
            return Address(email=email, name=value.name)
        v.add(f"{field}.email", f"is not a valid email address: {email[:60]!r}")
        return None
    try:
        parsed = ParsedAddress(addr_spec=email)
    except (HeaderParseError, ValueError, IndexError, TypeError):
        parsed = None
    if parsed is None or not parsed.username or not parsed.domain:
        v.add(f"{field}.email", f"is not a valid email address: {email[:60]!r}")
        return None
    return Address(email=parsed.addr_spec, name=value.name)


def _internationalised(email: str) -> bool:
    """An RFC 6531 address: a UTF-8 dot-atom local part, and a domain of LDH labels or
    Unicode labels that IDNA can encode (a U-label, written as the user writes it)."""
    local, at, domain = email.rpartition("@")
    if not at or not _EAI_LOCAL.match(local) or len(local.encode()) > 64:
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    for label in labels:
        try:
            ascii_label = label.encode("idna").decode("ascii") if not label.isascii() else label
        except UnicodeError:
            return False
        if not _LDH_LABEL.match(ascii_label):
            return False
    return True


def addresses(v: Violations, field: str, values: Iterable[Address]) -> tuple[Address, ...]:
    """Each address normalized; invalid ones are recorded and left out."""
    found = (address(v, f"{field}[{i}]", a) for i, a in enumerate(values))
    return tuple(a for a in found if a is not None)


# ------------------------------------------------------------------ whole requests


@dataclass(frozen=True)
class ValidStoreMessage:
    """A StoreMessage request with every rule checked and addresses normalized."""

    request: StoreMessageInput
    envelope: Envelope
    attachments: tuple[AttachmentData, ...]


def store_message(r: StoreMessageInput, config: Config) -> ValidStoreMessage:
    """Checks a StoreMessage request: InvalidArgument naming every broken rule, then
    ResourceExhausted for the first configured limit passed."""
    if r.storage_key:
        storage_key(r.storage_key)
    v = Violations()
    check_request_id(v, "request_id", r.request_id)
    check_owner(v, r.owner)
    if r.direction is None:
        v.add("direction", "is required: INBOUND or OUTBOUND")
    envelope = _envelope(v, r.envelope, config)
    header_bytes = _headers(v, r.content.headers)
    attachments = tuple(
        _attachment(v, f"attachments[{i}]", a, config) for i, a in enumerate(r.attachments)
    )
    check_labels(v, r.labels)
    v.raise_if_any()
    check_limit(
        "recipients (to + cc + bcc)",
        len(envelope.to) + len(envelope.cc) + len(envelope.bcc),
        config.max_recipients,
        "EMAILSTORE_MAX_RECIPIENTS",
    )
    check_limit(
        "attachments", len(attachments), config.max_attachments, "EMAILSTORE_MAX_ATTACHMENTS"
    )
    check_limit(
        "header block in bytes",
        header_bytes,
        config.max_header_bytes,
        "EMAILSTORE_MAX_HEADER_BYTES",
    )
    body_bytes = len(r.content.text_body.encode()) + len(r.content.html_body.encode())
    body_bytes += sum(len(a.content) for a in attachments if a.content is not None)
    check_limit(
        "message size in bytes",
        body_bytes,
        config.max_message_bytes,
        "EMAILSTORE_MAX_MESSAGE_BYTES",
    )
    return ValidStoreMessage(r, envelope, attachments)


def _envelope(v: Violations, e: Envelope, config: Config) -> Envelope:
    if e.from_address is None:
        v.add("from_address", "is required")
        sender = None
    else:
        sender = address(v, "from_address", e.from_address)
    if not (e.to or e.cc or e.bcc):
        v.add("to", "at least one recipient (to, cc or bcc) is required")
    check_text_line(v, "subject", e.subject, config.max_subject_chars)
    check_message_id(v, "message_id_header", e.message_id_header)
    check_message_id(v, "in_reply_to", e.in_reply_to)
    if len(e.references) > MAX_REFERENCES:
        v.add("references", f"at most {MAX_REFERENCES} entries")
    for i, ref in enumerate(e.references):
        check_message_id(v, f"references[{i}]", ref)
    return Envelope(
        from_address=sender,
        to=addresses(v, "to", e.to),
        cc=addresses(v, "cc", e.cc),
        bcc=addresses(v, "bcc", e.bcc),
        reply_to=addresses(v, "reply_to", e.reply_to),
        subject=e.subject,
        message_id_header=e.message_id_header,
        in_reply_to=e.in_reply_to,
        references=e.references,
    )


def _headers(v: Violations, headers: Sequence[Header]) -> int:
    """Checks the caller's headers; the size of the header block they make."""
    size = 0
    for i, header in enumerate(headers):
        if not HEADER_NAME_RE.match(header.name):
            v.add(f"headers[{i}].name", "must be 1-200 printable ASCII characters, no colon")
        if LINE_BREAKS.search(header.value):
            v.add(f"headers[{i}].value", "must not contain CR, LF or NUL")
        size += len(header.name) + len(header.value.encode()) + 4
    return size


def _attachment(v: Violations, field: str, a: AttachmentInput, config: Config) -> AttachmentData:
    check_text_line(v, f"{field}.filename", a.filename, MAX_FILENAME_CHARS)
    mime_type = (a.mime_type or "application/octet-stream").lower()
    if not MIME_TYPE_RE.match(mime_type) or len(mime_type) > 255:
        v.add(f"{field}.mime_type", "must be type/subtype, e.g. application/pdf")
    disposition = (a.disposition or "attachment").lower()
    if disposition not in ("attachment", "inline"):
        v.add(f"{field}.disposition", "must be 'attachment' or 'inline'")
    content_id = a.content_id.strip().removeprefix("<").removesuffix(">")
    if content_id and not MESSAGE_ID_RE.match(f"<{content_id}>"):
        v.add(f"{field}.content_id", "must not contain whitespace or angle brackets")
    digest = None
    if a.content is not None:
        check_limit(
            f"{field} size in bytes",
            len(a.content),
            config.max_attachment_bytes,
            "EMAILSTORE_MAX_ATTACHMENT_BYTES",
        )
    elif a.blob_sha256:
        digest = _digest(a.blob_sha256)
        if digest is None:
            v.add(f"{field}.blob_sha256", _SHA256_RULE)
    else:
        v.add(field, "content or blob_sha256 is required")
    return AttachmentData(a.filename, mime_type, disposition, content_id, a.content, digest)


def raw_metadata(meta: RawMessageInput, raw_size: int, config: Config) -> None:
    """Checks the metadata and size of an IngestRawMessage stream."""
    v = Violations()
    check_owner(v, meta.owner, "metadata.")
    if meta.direction is None:
        v.add("metadata.direction", "is required: INBOUND or OUTBOUND")
    check_request_id(v, "metadata.request_id", meta.request_id)
    check_labels(v, meta.labels)
    v.raise_if_any()
    if meta.storage_key:
        storage_key(meta.storage_key, "metadata.storage_key")
    check_limit(
        "raw message size in bytes",
        raw_size,
        config.max_message_bytes,
        "EMAILSTORE_MAX_MESSAGE_BYTES",
    )


def list_messages(request: ListMessagesInput) -> int:
    """Checks a ListMessages request; the page size to use."""
    size = page_size(request.page_size)
    f = request.filter
    v = Violations()
    for field in ("campaign_id", "lead_id", "email_account_id", "thread_id"):
        check_id(v, field, getattr(f, field))
    if f.created_after and f.created_before and f.created_after >= f.created_before:
        v.add("created_before", "must be later than created_after")
    v.raise_if_any()
    return size


def status_event(event: StatusEventInput, field_prefix: str = "") -> None:
    """Checks a status event: the message named by key or Message-ID, a status events can
    report, the event id and the detail's bounds."""
    v = Violations()
    f = field_prefix
    if event.storage_key:
        if not STORAGE_KEY_RE.match(event.storage_key):
            v.add(f"{f}storage_key", "must be 1-200 characters of [A-Za-z0-9._:@+=-]")
    elif not event.message_id_header:
        v.add(f"{f}storage_key", "is required (or message_id_header)")
    check_message_id(v, f"{f}message_id_header", event.message_id_header)
    if event.status not in EVENT_STATUSES:
        v.add(
            f"{f}status",
            "must be SENT, DELIVERED, OPENED, CLICKED, REPLIED, BOUNCED, FAILED or RECEIVED",
        )
    check_request_id(v, f"{f}event_id", event.event_id)
    if len(event.detail) > MAX_DETAIL_KEYS:
        v.add(f"{f}detail", f"at most {MAX_DETAIL_KEYS} keys")
    else:
        for key, value in event.detail.items():
            if not key or len(key) > MAX_DETAIL_KEY_CHARS or _CONTROL.search(key):
                v.add(
                    f"{f}detail[{key[:40]!r}]",
                    f"key must be 1-{MAX_DETAIL_KEY_CHARS} characters, no control characters",
                )
            elif len(value) > MAX_DETAIL_VALUE_CHARS or "\x00" in value:
                v.add(
                    f"{f}detail[{key!r}]",
                    f"value must be at most {MAX_DETAIL_VALUE_CHARS} characters, no NUL",
                )
    v.raise_if_any()


def campaign_stats(request: CampaignStatsInput) -> None:
    """Checks a GetCampaignStats request."""
    v = Violations()
    if not request.campaign_id:
        v.add("campaign_id", "is required")
    check_id(v, "campaign_id", request.campaign_id)
    if (
        request.created_after
        and request.created_before
        and request.created_after >= request.created_before
    ):
        v.add("created_before", "must be later than created_after")
    v.raise_if_any()


def thread_id(value: str) -> str:
    """A thread id as given; InvalidArgument when missing or not an id."""
    v = Violations()
    if not value:
        v.add("thread_id", "is required")
    check_id(v, "thread_id", value)
    v.raise_if_any()
    return value

"""Request validation: every rule a caller can break, collected into one clear error."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from email.errors import HeaderParseError
from email.headerregistry import Address as ParsedAddress

from service.errors import FieldViolation, InvalidArgument, ResourceExhausted
from service.models import Address

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

MAX_ID_CHARS = 200
MAX_NAME_CHARS = 500
MAX_EMAIL_CHARS = 320
MAX_FILENAME_CHARS = 1000
MAX_REFERENCES = 1000
MAX_LABELS = 64
MAX_LABEL_VALUE_CHARS = 256


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


def tenant_id(value: str, field: str = "tenant_id") -> str:
    """The tenant id in canonical form; InvalidArgument unless it is a UUID."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidArgument(
            f"{field} must be a UUID, got {value[:60]!r}",
            violations=[FieldViolation(field, "must be a UUID")],
        ) from None


def storage_key(value: str, field: str = "storage_key") -> str:
    """A storage key as given; InvalidArgument unless it matches the key alphabet."""
    if not STORAGE_KEY_RE.match(value):
        description = (
            "is required"
            if not value
            else "must be 1-200 characters of [A-Za-z0-9._:@+=-] starting with a letter or digit"
        )
        raise InvalidArgument(
            f"{field} {description}", violations=[FieldViolation(field, description)]
        )
    return value


def check_id(v: Violations, field: str, value: str) -> None:
    """Free-form identifiers (campaign, lead, account): bounded, no control characters."""
    if len(value) > MAX_ID_CHARS:
        v.add(field, f"must be at most {MAX_ID_CHARS} characters")
    elif _CONTROL.search(value):
        v.add(field, "must not contain control characters")


def check_text_line(v: Violations, field: str, value: str, max_chars: int) -> None:
    """A single-line text (subject, display name): bounded, no CR, LF or NUL."""
    if len(value) > max_chars:
        v.add(field, f"must be at most {max_chars} characters")
    elif LINE_BREAKS.search(value):
        v.add(field, "must not contain CR, LF or NUL")


def normalize_address(v: Violations, field: str, address: Address) -> Address | None:
    """Parses an address with the standard library; records a violation when it does not."""
    check_text_line(v, f"{field}.name", address.name, MAX_NAME_CHARS)
    email = address.email.strip()
    if not email:
        v.add(f"{field}.email", "is required")
        return None
    if len(email) > MAX_EMAIL_CHARS or _CONTROL.search(email):
        v.add(f"{field}.email", f"is not a valid email address: {email[:60]!r}")
        return None
    if _SIMPLE_ADDRESS.match(email):
        return Address(email=email, name=address.name)
    try:
        parsed = ParsedAddress(addr_spec=email)
    except (HeaderParseError, ValueError, IndexError, TypeError):
        parsed = None
    if parsed is None or not parsed.username or not parsed.domain:
        v.add(f"{field}.email", f"is not a valid email address: {email[:60]!r}")
        return None
    return Address(email=parsed.addr_spec, name=address.name)


def normalize_addresses(
    v: Violations, field: str, addresses: Iterable[Address]
) -> tuple[Address, ...]:
    """Each address normalized; invalid ones are recorded and left out."""
    result = []
    for i, address in enumerate(addresses):
        normalized = normalize_address(v, f"{field}[{i}]", address)
        if normalized is not None:
            result.append(normalized)
    return tuple(result)


def check_message_id(v: Violations, field: str, value: str) -> None:
    """A Message-ID: '<local@domain>' without whitespace."""
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

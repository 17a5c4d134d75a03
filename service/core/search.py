"""SearchMessages: the query language, parsed into a typed query, and the use case.

A query is terms separated by spaces, all of which must match (AND); ``OR`` between two terms
makes either do; ``-`` before a term negates it. A term is a word, a ``"quoted phrase"``, or
``operator:value`` (the value quoted when it holds spaces: ``from:"Jane Doe"``):

- free text and phrases match the subject, the body (text, or the HTML's text) and the
  attachment filenames, folded as `service.codec.searchtext` folds them (case, accents,
  width; CJK as bigrams); a word that folds into several lexemes (``e-mail``, ``東京都``) is
  a phrase; ``subject:`` and ``filename:`` match in that field only;
- ``from: to: cc:`` match a substring of an address or display name, literally and without
  regard to case;
- ``campaign: lead: account:`` the exact id; ``status: type: direction:`` an enum name in
  lower case (``status:bounced``, ``type:auto_reply``, ``direction:inbound``); ``step:`` a
  sequence step; ``has:attachment``;
- ``before: after:`` the message's date (``sent_at``, else ``created_at``): a day
  ``2026-11-03`` (UTC; ``after:`` includes it, ``before:`` does not), a time with its zone
  ``2026-11-03T09:30:00+01:00``, or a time ago ``36h``, ``7d``, ``2w``;
- ``larger: smaller:`` the raw size: ``2MB``, ``500KB``, ``1GB``, ``1.5M`` or bytes (binary
  units, KB = 1024).

A word that looks like an operator but names none (``http://acme.com``) is free text. What
cannot be parsed is INVALID_ARGUMENT naming the token and its position (0-based, in
characters), as a field violation on ``query``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from opentelemetry import trace

from service.codec.searchtext import Lexeme, query_lexemes
from service.core import validation
from service.core.page_tokens import PagePosition, PageTokens
from service.core.ports import Transactions
from service.errors import InvalidArgument
from service.models import (
    Caller,
    Direction,
    MessagePage,
    MessageStatus,
    MessageType,
    SearchMessagesInput,
)

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
MAX_LEXEMES = 128

Weight = Literal["", "A", "B"]  # any field; the subject; attachment filenames
AddressKind = Literal["f", "t", "c"]
EqualColumn = Literal[
    "campaign_id",
    "lead_id",
    "email_account_id",
    "status",
    "message_type",
    "direction",
    "sequence_step",
]


@dataclass(frozen=True)
class TextTerm:
    """Matches when one of the phrases is in the field: each phrase its lexemes at their
    offsets (one lexeme: a word)."""

    phrases: tuple[tuple[Lexeme, ...], ...]
    weight: Weight = ""


@dataclass(frozen=True)
class AddressTerm:
    """A substring (lower-cased) of an address or display name of a kind: from, to, cc."""

    kind: AddressKind
    value: str


@dataclass(frozen=True)
class EqualTerm:
    """A column equal to a value."""

    column: EqualColumn
    value: str | int


@dataclass(frozen=True)
class AttachmentTerm:
    """The message has attachments."""


@dataclass(frozen=True)
class DateTerm:
    """The message's date (sent_at, else created_at) before `at` (exclusive), or at or
    after it."""

    before: bool
    at: datetime


@dataclass(frozen=True)
class SizeTerm:
    """The raw size larger (or smaller) than `size` bytes."""

    larger: bool
    size: int


Term = TextTerm | AddressTerm | EqualTerm | AttachmentTerm | DateTerm | SizeTerm


@dataclass(frozen=True)
class Condition:
    """A term, or its negation."""

    term: Term
    negated: bool = False


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: every clause must hold, a clause when one of its conditions does."""

    clauses: tuple[tuple[Condition, ...], ...]


# ------------------------------------------------------------------------ parser


@dataclass(frozen=True)
class _Token:
    start: int
    raw: str
    negated: bool
    operator: str  # "" for free text and phrases
    value: str
    quoted: bool


OPERATORS = frozenset(
    {
        "from",
        "to",
        "cc",
        "subject",
        "campaign",
        "lead",
        "account",
        "status",
        "direction",
        "type",
        "step",
        "has",
        "filename",
        "before",
        "after",
        "larger",
        "smaller",
    }
)
_OPERATOR = re.compile(r"([A-Za-z]+):")
_DAY = re.compile(r"^(\d{4})[-/](\d{2})[-/](\d{2})$")
_AGO = re.compile(r"^(\d{1,6})([hdw])$", re.IGNORECASE)
_SIZE = re.compile(r"^(\d{1,15}(?:\.\d{1,6})?)(b|k|kb|kib|m|mb|mib|g|gb|gib)?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_AGO_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
_EQUAL_OPERATORS: dict[str, EqualColumn] = {
    "campaign": "campaign_id",
    "lead": "lead_id",
    "account": "email_account_id",
}
_ENUMS: dict[str, tuple[EqualColumn, tuple[str, ...]]] = {
    "status": ("status", tuple(s.value for s in MessageStatus)),
    "type": ("message_type", tuple(t.value for t in MessageType)),
    "direction": ("direction", tuple(d.value for d in Direction)),
}
_ADDRESS_KINDS: dict[str, AddressKind] = {"from": "f", "to": "t", "cc": "c"}


class _Fail(Exception):
    def __init__(self, start: int, raw: str, why: str) -> None:
        super().__init__(why)
        self.start, self.raw, self.why = start, raw, why


def _error(start: int, raw: str, why: str) -> InvalidArgument:
    shown = raw if len(raw) <= 60 else raw[:57] + "..."
    return InvalidArgument.field("query", f"{why}: {shown!r} at position {start}")


def _tokens(text: str) -> list[_Token | int]:
    """The query's tokens in order; an int is an OR at that position."""
    found: list[_Token | int] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if negated:
            i += 1
        operator, quoted = "", False
        match = _OPERATOR.match(text, i)
        if match and match[1].lower() in OPERATORS:
            operator = match[1].lower()
            i = match.end()
        if i < n and text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise _Fail(i, text[start:], "unterminated quote")
            value, quoted, i = text[i + 1 : close], True, close + 1
        else:
            end = i
            while end < n and not text[end].isspace():
                end += 1
            value, i = text[i:end], end
        raw = text[start:i]
        if raw == "OR":
            found.append(start)
        else:
            found.append(_Token(start, raw, negated, operator, value, quoted))
    return found


def _text(token: _Token, weight: Weight) -> TextTerm:
    filename = weight == "B"
    phrases = [tuple(query_lexemes(token.value))]
    split = tuple(query_lexemes(token.value, filename=True))
    if (filename or token.operator == "") and split and split != phrases[0]:
        phrases.append(split)  # camelCase, as filenames are split
    phrases = [p for p in phrases if p]
    if not phrases:
        raise _Fail(token.start, token.raw, "has no letters or digits to search for")
    return TextTerm(tuple(phrases), weight)


def _date(token: _Token, now: datetime) -> datetime:
    value = token.value.strip()
    if day := _DAY.match(value):
        try:
            return datetime(int(day[1]), int(day[2]), int(day[3]), tzinfo=UTC)
        except ValueError:
            raise _Fail(token.start, token.raw, "is not a real day") from None
    if ago := _AGO.match(value):
        try:
            return now - int(ago[1]) * _AGO_UNITS[ago[2].lower()]
        except OverflowError:
            raise _Fail(token.start, token.raw, "is too long ago") from None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or "T" not in value.upper():
        raise _Fail(
            token.start,
            token.raw,
            "needs a day (2026-11-03), a time with its zone (2026-11-03T09:30:00Z) or a time "
            "ago (36h, 7d, 2w)",
        )
    return at


def _size(token: _Token) -> int:
    match = _SIZE.match(token.value.strip())
    if match is None:
        raise _Fail(token.start, token.raw, "needs a size: 2MB, 500KB, 1GB or bytes")
    unit = (match[2] or "").lower()[:1]
    size = int(float(match[1]) * _UNITS[unit])
    if size >= 2**63:
        raise _Fail(token.start, token.raw, "is too large")
    return size


def _term(token: _Token, now: datetime) -> Term:
    op, value = token.operator, token.value
    if not op:
        return _text(token, "")
    if not value.strip():
        raise _Fail(token.start, token.raw, f"{op}: needs a value")
    if op == "subject":
        return _text(token, "A")
    if op == "filename":
        return _text(token, "B")
    if op in _ADDRESS_KINDS:
        return AddressTerm(_ADDRESS_KINDS[op], " ".join(value.split()).lower())
    if op in _EQUAL_OPERATORS:
        if len(value) > validation.MAX_ID_CHARS:
            raise _Fail(token.start, token.raw, "is too long for an id")
        return EqualTerm(_EQUAL_OPERATORS[op], value)
    if op in _ENUMS:
        column, names = _ENUMS[op]
        if value not in names:
            raise _Fail(token.start, token.raw, f"{op}: is one of {', '.join(names)}")
        return EqualTerm(column, value)
    if op == "step":
        if not value.isdigit() or int(value) > validation.MAX_SEQUENCE_STEP:
            raise _Fail(
                token.start, token.raw, f"step: is a number 0..{validation.MAX_SEQUENCE_STEP}"
            )
        return EqualTerm("sequence_step", int(value))
    if op == "has":
        if value.lower() != "attachment":
            raise _Fail(token.start, token.raw, "has: knows only has:attachment")
        return AttachmentTerm()
    if op in ("before", "after"):
        return DateTerm(op == "before", _date(token, now))
    return SizeTerm(op == "larger", _size(token))


def parse(text: str, now: datetime | None = None) -> SearchQuery:
    """The query `text` means; InvalidArgument (a violation on `query` naming the token and
    its position) when it means nothing. `now` is what relative dates count back from."""
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidArgument.field(
            "query", f"is {len(text)} characters long; at most {MAX_QUERY_CHARS}"
        )
    if not text.strip():
        raise InvalidArgument.field("query", "is required")
    now = now or datetime.now(UTC)
    try:
        tokens = _tokens(text)
        clauses: list[list[Condition]] = []
        joining = False
        terms = lexemes = 0
        for i, token in enumerate(tokens):
            if isinstance(token, int):
                if not clauses or joining:
                    raise _Fail(token, "OR", "needs a term before it")
                if i + 1 == len(tokens):
                    raise _Fail(token, "OR", "needs a term after it")
                joining = True
                continue
            terms += 1
            if terms > MAX_TERMS:
                raise _Fail(token.start, token.raw, f"is one term too many (at most {MAX_TERMS})")
            term = _term(token, now)
            if isinstance(term, TextTerm):
                lexemes += sum(len(p) for p in term.phrases)
                if lexemes > MAX_LEXEMES:
                    raise _Fail(
                        token.start, token.raw, f"makes more than {MAX_LEXEMES} words to search"
                    )
            condition = Condition(term, token.negated)
            if joining:
                clauses[-1].append(condition)
                joining = False
            else:
                clauses.append([condition])
    except _Fail as fail:
        raise _error(fail.start, fail.raw, fail.why) from None
    return SearchQuery(tuple(tuple(c) for c in clauses))


# ---------------------------------------------------------------------- use case


class SearchService:
    """SearchMessages: a page of the tenant's unarchived messages matching a query, newest
    first."""

    def __init__(self, db: Transactions, tokens: PageTokens) -> None:
        self.db = db
        self.tokens = tokens

    async def search(self, caller: Caller, request: SearchMessagesInput) -> MessagePage:
        """Parses the query and reads one page; the page token is bound to the query text."""
        size = validation.page_size(request.page_size)
        query = parse(request.query)
        scope = "search:" + hashlib.sha256(request.query.encode()).hexdigest()[:32]
        after = None
        if request.page_token:
            position = self.tokens.decode(request.page_token, caller.tenant_id, scope)
            after = (position.created_at, position.storage_key)
        async with self.db.statement(caller, "search_messages") as tx:
            found, windows = await tx.search.search(query, after, size + 1)
        trace.get_current_span().set_attribute("emailstore.search_windows", windows)
        messages = tuple(found[:size])
        token = ""
        if len(found) > size:
            last = messages[-1]
            token = self.tokens.encode(
                caller.tenant_id, scope, PagePosition(last.times.created_at, last.storage_key)
            )
        return MessagePage(messages=messages, next_page_token=token)

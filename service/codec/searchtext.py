"""Text as search lexemes: what SearchMessages indexes at write time and matches queries by.

PostgreSQL's own text search is not used to split or normalise words: the embedded server
has no `unaccent`, its parsers know nothing of CJK, and what a stored vector holds must not
depend on the server's configuration. So the service does it, here, for documents and
queries alike:

- **Folding**: Unicode NFKC, case folding, then NFKD with every non-spacing mark removed and
  NFC again: ``Résumé`` and ``resume`` are one word, Greek loses its tonos (``ά`` is alpha), ``ß``
  folds to ``ss``, full-width letters to ASCII. The kana voicing marks are kept (``が`` is
  not ``か``), and NFC puts Hangul syllables back together.
- **Words** are runs of letters, digits and marks (Latin, German, Cyrillic, Greek, Arabic...
  are words as they are spaced); anything else separates them.
- **CJK** (Han, Hiragana, Katakana, Hangul), written without spaces, has no words to find:
  each run becomes its overlapping bigrams (``東京都庁`` → 東京, 京都, 都庁, at consecutive
  positions), the way Lucene's CJK analyser does, and its last character alone too, at the
  last bigram's position, so that a single-character query (a prefix match) finds a
  character at the end of a run; a one-character run is itself. A query makes the same
  bigrams and asks for them adjacent (a phrase), so a word is found inside an unspaced
  sentence. Dictionary segmentation (MeCab and the like) would be more precise, at the price
  of a large dependency and of choosing one language: bigrams are language-free and never
  miss a word, only sometimes find a word across two (``京都`` in ``東京都庁``).
- **Attachment filenames** are split into words, and camelCase too (``Angebot_Q4.pdf`` →
  angebot, q4, pdf; ``QuarterlyReport.xlsx`` → quarterly, report, xlsx, and the whole
  quarterlyreport at the first one's position).
- Lexemes over MAX_LEXEME_CHARS characters are dropped (encoded data, not words).

`document` makes a `tsvector` *literal* (quoted lexemes with positions and weights: subject
A, filenames B, body D), which the database stores as it is: the type's input function does
nothing more, so no text search configuration is involved. Queries are made of the same
lexemes (`query_lexemes`) and compiled, quoted, into a `tsquery` literal by the store.

The input is bounded (MAX_INPUT_CHARS of subject and body), as is the vector (MAX_VECTOR_BYTES
of lexemes; PostgreSQL's limit is 1 MB), and positions follow PostgreSQL's limits (at most
16383; at most 256 positions per lexeme, the first ones kept).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from service.codec.inbound import html_as_text

MAX_INPUT_CHARS = 256 * 1024
MAX_LEXEME_CHARS = 100
MAX_VECTOR_BYTES = 512 * 1024
MAX_POSITION = 16383
MAX_POSITIONS_PER_LEXEME = 256
# Positions left free between fields, so that a phrase never spans the subject and a body.
FIELD_GAP = 8
# The search_addresses column: at most this many addresses of each kind.
MAX_ADDRESSES = 200

SUBJECT, FILENAME, BODY = "A", "B", "D"

_KANA_VOICING = (0x3099, 0x309A)
# Han (with radicals, iteration and numeral marks, compatibility ideographs), Hiragana,
# Katakana (with its extensions and half-width forms), Hangul (jamo and syllables).
_CJK_RANGES = (
    (0x1100, 0x11FF),
    (0x2E80, 0x2FDF),
    (0x3005, 0x3007),
    (0x3021, 0x3029),
    (0x3038, 0x303B),
    (0x3040, 0x30FF),
    (0x3130, 0x318F),
    (0x31F0, 0x31FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xA960, 0xA97F),
    (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF),
    (0xFF66, 0xFF9F),
    (0x20000, 0x3134F),
)
# Code points whose category decides: planes 0-3 (where letters are) and the variation
# selectors of plane 14.
_SCANNED = (range(0x40000), range(0xE0100, 0xE01F0))


def _char_class(points: Iterable[int]) -> str:
    """A regex character class body for these code points, as ranges."""
    ranges: list[tuple[int, int]] = []
    for cp in sorted(points):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return "".join(
        re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
        for a, b in ranges
    )


@cache
def _tables() -> tuple[dict[int, None], re.Pattern[str]]:
    """The marks to remove after NFKD, and the pattern of tokens (CJK runs, words); built on
    first use from the Unicode database (some 50 ms)."""
    cjk = {cp for a, b in _CJK_RANGES for cp in range(a, b + 1)}
    drop: dict[int, None] = {}
    word: list[int] = []
    for block in _SCANNED:
        for cp in block:
            category = unicodedata.category(chr(cp))
            if category == "Mn" and cp not in _KANA_VOICING:
                drop[cp] = None
            if category[0] in "LNM" and cp not in cjk:
                word.append(cp)
    pattern = re.compile(f"([{_char_class(cjk)}]+)|([{_char_class(word)}]+)")
    return drop, pattern


def fold(text: str) -> str:
    """Text folded for search: NFKC, case folded, non-spacing marks removed (NFKD), NFC."""
    if text.isascii():
        return text.lower()
    drop, _ = _tables()
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    if decomposed.isascii():
        return decomposed
    return unicodedata.normalize("NFC", decomposed.translate(drop))


@dataclass(frozen=True)
class Lexeme:
    """A lexeme of a query, at its offset from the term's first one; `prefix` for a single
    CJK character, which matches the bigrams it starts (and itself)."""

    text: str
    offset: int
    prefix: bool = False


_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")


def _tokens(folded: str) -> list[tuple[str, bool]]:
    """Folded text as (token, is_cjk) in order."""
    if folded.isascii():
        return [(word, False) for word in _ASCII_WORD.findall(folded)]
    _, pattern = _tables()
    return [(cjk or word, bool(cjk)) for cjk, word in pattern.findall(folded)]


def _stream(folded: str, start: int, weight: str) -> list[tuple[str, int, str]]:
    """The (lexeme, position, weight) of folded running text, positions from `start`."""
    out: list[tuple[str, int, str]] = []
    position = start
    for token, cjk in _tokens(folded):
        if not cjk:
            if len(token) <= MAX_LEXEME_CHARS:
                out.append((token, position, weight))
            position += 1
        elif len(token) == 1:
            out.append((token, position, weight))
            position += 1
        else:
            for i in range(len(token) - 1):
                out.append((token[i : i + 2], position + i, weight))
            out.append((token[-1], position + len(token) - 2, weight))
            position += len(token) - 1
    return out


def text_lexemes(text: str) -> list[str]:
    """The lexemes of running text, in order (words, CJK bigrams and trailing characters)."""
    return [lexeme for lexeme, _, _ in _stream(fold(text), 1, BODY)]


def _camel_parts(word: str) -> list[str]:
    """A word split where its case changes: fooBar → foo, Bar; PDFReport → PDF, Report."""
    if len(word) < 2:
        return [word]
    parts: list[str] = []
    current = word[0]
    for previous, char, following in zip(word[:-1], word[1:], [*word[2:], ""], strict=True):
        boundary = (previous.islower() and char.isupper()) or (
            previous.isupper() and char.isupper() and following.islower()
        )
        if boundary:
            parts.append(current)
            current = char
        else:
            current += char
    parts.append(current)
    return parts


def _filename_stream(name: str, start: int, *, joined: bool) -> list[tuple[str, int, str]]:
    """The lexemes of a filename: its words, split at case changes too, and (`joined`) each
    split word whole as well, at its first part's position."""
    out: list[tuple[str, int, str]] = []
    position = start
    for token, cjk in _tokens(unicodedata.normalize("NFKC", name)):
        if cjk:
            found = _stream(fold(token), position, FILENAME)
            out.extend(found)
            position = max(p for _, p, _ in found) + 1
            continue
        parts = _camel_parts(token)
        if joined and len(parts) > 1 and len(token) <= MAX_LEXEME_CHARS:
            out.append((fold(token), position, FILENAME))
        for part in parts:
            for lexeme, _, _ in _stream(fold(part), 0, FILENAME):
                if len(lexeme) <= MAX_LEXEME_CHARS:
                    out.append((lexeme, position, FILENAME))
                position += 1
    return out


def filename_lexemes(name: str) -> list[str]:
    """The lexemes of an attachment filename, in order (the split words only)."""
    return [lexeme for lexeme, _, _ in _filename_stream(name, 1, joined=False)]


def _quote(lexeme: str) -> str:
    if lexeme.isalnum():  # what words and bigrams are: nothing to escape
        return f"'{lexeme}'"
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def body_text(text_body: str, html_body: str) -> str:
    """The body a message is searched by: its text, or its HTML as text when it has none."""
    if text_body.strip():
        return text_body
    if not html_body:
        return ""
    return html_as_text(_without_invisible(html_body[: 2 * MAX_INPUT_CHARS]))


def _without_invisible(markup: str) -> str:
    """HTML without its style and script elements (no words a reader sees), in linear time
    whatever the markup (an unclosed one runs to the end)."""
    lower = markup.lower()
    kept: list[str] = []
    at = 0
    while True:
        starts = [(i, tag) for tag in ("style", "script") if (i := lower.find("<" + tag, at)) >= 0]
        if not starts:
            kept.append(markup[at:])
            return " ".join(kept)
        start, tag = min(starts)
        kept.append(markup[at:start])
        end = lower.find("</" + tag, start)
        if end < 0:
            return " ".join(kept)
        close = lower.find(">", end)
        at = len(markup) if close < 0 else close + 1


def document(subject: str, body: str, filenames: Sequence[str] = ()) -> str:
    """The tsvector literal of a message: subject (weight A), attachment filenames (B) and
    body (D), the subject and body bounded to MAX_INPUT_CHARS together."""
    subject = subject[:MAX_INPUT_CHARS]
    body = body[: MAX_INPUT_CHARS - len(subject)]
    entries = _stream(fold(subject), 1, SUBJECT)
    position = (entries[-1][1] if entries else 0) + FIELD_GAP
    for name in filenames:
        found = _filename_stream(name, position, joined=True)
        entries.extend(found)
        if found:
            position = found[-1][1] + FIELD_GAP
    entries.extend(_stream(fold(body), position, BODY))
    # lexeme -> its "positionWeight" entries; a lexeme's positions only grow (entries come in
    # position order), so a repeat of the last is the only duplicate to skip.
    positions: dict[str, list[str]] = {}
    last: dict[str, int] = {}
    size = 0
    for lexeme, at, weight in entries:
        held = positions.get(lexeme)
        if held is None:
            size += (len(lexeme) if lexeme.isascii() else len(lexeme.encode())) + 8
            if size > MAX_VECTOR_BYTES:
                continue
            held = positions[lexeme] = []
        at = min(at, MAX_POSITION)
        if len(held) < MAX_POSITIONS_PER_LEXEME and last.get(lexeme) != at:
            held.append(f"{at}{weight}")
            last[lexeme] = at
            size += 2
    return " ".join(f"{_quote(lexeme)}:{','.join(held)}" for lexeme, held in positions.items())


def query_lexemes(text: str, *, filename: bool = False) -> list[Lexeme]:
    """The lexemes a query term is matched by, in order, with their offsets (a term of
    several is a phrase): folded as documents are, CJK as bigrams; `filename` splits as
    filenames are."""
    stream = _filename_stream(text, 0, joined=False) if filename else _stream(fold(text), 0, BODY)
    if not filename:
        # A lone CJK character is a prefix of the bigrams it starts; the last character of
        # a run (also indexed alone) is dropped from the query, its bigram holds it.
        tokens = _tokens(fold(text))
        if len(tokens) == 1 and tokens[0][1] and len(tokens[0][0]) == 1:
            return [Lexeme(tokens[0][0], 0, prefix=True)]
    found: list[Lexeme] = []
    seen: set[int] = set()
    for lexeme, at, _ in stream:
        if at in seen:  # the last character of a CJK run: its bigram is enough
            continue
        seen.add(at)
        found.append(Lexeme(lexeme, at, prefix=_is_lone_cjk(lexeme)))
    return found


def _is_lone_cjk(lexeme: str) -> bool:
    if len(lexeme) != 1:
        return False
    _, pattern = _tables()
    match = pattern.fullmatch(lexeme)
    return match is not None and bool(match.group(1))


def addresses(
    sender: Sequence[Sequence[str]], to: Sequence[Sequence[str]], cc: Sequence[Sequence[str]]
) -> str:
    """The search_addresses column of (email, name) pairs: one line per address and per
    display name, prefixed by its kind (f: from, t: to, c: cc), lower-cased, between
    newlines; matched by a regular expression on a line of its kind (`address_pattern`)
    through a trigram index."""
    lines = [""]
    for kind, entries in (("f", sender), ("t", to), ("c", cc)):
        for entry in entries[:MAX_ADDRESSES]:
            for value in entry:
                value = " ".join(value.split()).lower()
                if value:
                    lines.append(f"{kind}:{value}")
    lines.append("")
    return "\n".join(lines) if len(lines) > 2 else ""


def address_pattern(kind: str, value: str) -> str:
    """A PostgreSQL (ARE) regular expression matching `value` literally, as a substring of
    an address or name of this kind in the search_addresses column. Every ASCII character
    other than a letter or digit is escaped (a backslash before one stands for itself in an
    ARE; before a letter or digit it would be an escape, so those are left alone)."""
    literal = "".join(
        "\\" + c if c.isascii() and not c.isalnum() else c for c in " ".join(value.split()).lower()
    )
    return f"\\n{kind}:[^\\n]*{literal}"

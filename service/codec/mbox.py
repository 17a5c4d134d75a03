"""mbox (mboxrd) writing and reading, streaming, in bounded memory: pure functions, no I/O.

The convention, chosen so that a message comes back byte for byte:

- An entry is ``From <sender> <asctime>\\n``, then the message with mboxrd quoting, then
  exactly one ``\\n``.
- Quoting: every line of the message that matches ``^>*From `` gets one more ``>`` in front.
  A line is what follows a ``\\n`` (or the start of the message) up to the next ``\\n``, so a
  CRLF line is quoted like an LF one and its CR stays; a lone CR is not a line break. The last
  line is quoted too, whether or not it ends with a newline.
- The message bytes are otherwise untouched: CRLF stays CRLF, 8-bit bytes stay.
- Reading: a line that starts with ``From `` (no ``>``) begins an entry; a line matching
  ``^>+From `` loses one ``>``; and exactly one ``\\n`` is removed from the end of each entry
  (before the next ``From `` line, or at the end of the file).

A message that ends with a newline is therefore followed by the usual blank line. One that
does not (rare, but it happens) is followed by a single ``\\n``, which ends its last line: the
next ``From `` line still starts a line, every mbox reader finds it, and this reader removes
the ``\\n`` again, so such a message also round-trips exactly. A reader that expects the blank
line (Python's ``mailbox``) sees that one message with an extra ``\\n`` at its end.

The reverse edge, for files written by other programs: Python's ``mailbox`` follows every
message with a blank line, as this module does, and reads back exactly; a file whose last
message is not followed by a blank line loses the final ``\\n`` of that message here, since
the rule above cannot tell it from an exported message without one.

Both directions hold a few bytes of an unfinished line at most: a run of ``>`` at the start of
a line is passed on as it arrives except for its last ``>`` (adding or removing a ``>`` at the
end of the run gives the same bytes as at its start), so memory does not depend on the length
of lines or messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeAlias

FROM = b"From "
# What follows each message: the reader removes exactly this.
END_OF_ENTRY = b"\n"
# The sender of an entry whose message has no usable address (the traditional placeholder).
NO_SENDER = "MAILER-DAEMON"
# At most this much of a `From ` line is kept by the reader (it is the reader's only state
# that grows with the input, and nothing needs more).
MAX_FROM_LINE = 1000

# Lines that need one more `>` when written: the lookahead leaves the match empty, so `sub`
# inserts the `>` at the start of the line.
_NEEDS_QUOTE = re.compile(rb"^(?=>*From )", re.MULTILINE)
# Lines the reader acts on: a quoted `From ` (drop one `>`) or an entry's `From ` line.
_SPECIAL = re.compile(rb"^(?:>+From |From )", re.MULTILINE)
_SENDER = re.compile(r"[^\s\x00-\x1f\x7f]{1,500}")


def from_line(sender: str, created_at: datetime) -> bytes:
    """The `From ` line that starts an entry: the envelope sender (MAILER-DAEMON when there
    is none or it would not fit on the line) and the time in UTC, asctime style."""
    who = sender if _SENDER.fullmatch(sender) else NO_SENDER
    when = created_at.astimezone(UTC).ctime() if created_at.tzinfo else created_at.ctime()
    return f"From {who} {when}\n".encode()


def _undecided(line_start: bytes) -> bool:
    """Whether the first bytes of a line could still turn out to be `>*From `."""
    rest = line_start.lstrip(b">")
    return len(rest) < len(FROM) and FROM.startswith(rest)


def _quote_run(line_start: bytes) -> tuple[bytes, bytes]:
    """An undecided line start split into what can go now and what must wait: all of a run
    of `>` but the last (the same bytes whichever `>` of the run is added or removed)."""
    run = len(line_start) - len(line_start.lstrip(b">"))
    if run <= 1:
        return b"", line_start
    return line_start[: run - 1], line_start[run - 1 :]


class Quoter:
    """mboxrd quoting of one message's bytes, fed in pieces split anywhere."""

    def __init__(self) -> None:
        # The start of a line that may still need a `>` (at most a `>` and 4 bytes).
        self._pending = b""
        # Whether the next byte fed continues a line whose start has been decided.
        self._mid_line = False

    def feed(self, data: bytes) -> bytes:
        """The quoted bytes that can be given out after these."""
        if not data:
            return b""
        out: list[bytes] = []
        if self._mid_line:
            newline = data.find(b"\n")
            if newline < 0:
                return data
            out.append(data[: newline + 1])
            data = data[newline + 1 :]
            self._mid_line = False
        buf = self._pending + data if self._pending else data
        tail_at = buf.rfind(b"\n") + 1
        tail = buf[tail_at:]
        if _undecided(tail):
            out.append(_NEEDS_QUOTE.sub(b">", buf[:tail_at]))
            ready, self._pending = _quote_run(tail)
            out.append(ready)
        else:
            out.append(_NEEDS_QUOTE.sub(b">", buf))
            self._pending = b""
            self._mid_line = True
        return b"".join(out)

    def finish(self) -> bytes:
        """The rest, at the end of the message (an unfinished `From` is not quoted)."""
        rest, self._pending, self._mid_line = self._pending, b"", False
        return rest


def quote(message: bytes) -> bytes:
    """A whole message quoted (for tests and small messages)."""
    quoter = Quoter()
    return quoter.feed(message) + quoter.finish()


def entry(sender: str, created_at: datetime, message: bytes) -> bytes:
    """One whole mbox entry (for tests and small messages)."""
    return from_line(sender, created_at) + quote(message) + END_OF_ENTRY


@dataclass(frozen=True)
class MessageStart:
    """An entry begins; its `From ` line without the newline (at most MAX_FROM_LINE bytes)."""

    from_line: bytes


@dataclass(frozen=True)
class MessageEnd:
    """The entry's message is complete."""


MboxEvent: TypeAlias = MessageStart | MessageEnd | bytes
END = MessageEnd()


class Reader:
    """Splits an mbox fed in pieces split anywhere into events: MessageStart, the message's
    bytes (unquoted, in pieces), MessageEnd. Bytes before the first `From ` line are
    ignored."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        # The start of a line that may still be a `From ` line or a quoted one.
        self._pending = b""
        # The newline that ended the previous line, not given out yet: it is dropped when
        # the next line is a `From ` line or the input ends.
        self._held_newline = False
        # Inside a line whose start has been decided (its bytes go straight out).
        self._mid_line = False
        # Inside an entry's `From ` line: its bytes so far.
        self._from: bytearray | None = None
        self._in_message = False

    def feed(self, data: bytes) -> list[MboxEvent]:
        """The events these bytes complete."""
        events: list[MboxEvent] = []
        if not data:
            return events
        if self._from is not None:
            newline = data.find(b"\n")
            if newline < 0:
                self._keep_from(data)
                return events
            self._keep_from(data[:newline])
            self._start(events, bytes(self._from))
            data = data[newline + 1 :]
        elif self._mid_line:
            newline = data.find(b"\n")
            if newline < 0:
                self._give(events, data)
                return events
            self._give(events, data[:newline])
            self._held_newline = True
            self._mid_line = False
            data = data[newline + 1 :]
        buf = self._pending + data if self._pending else data
        self._pending = b""
        tail_at = buf.rfind(b"\n") + 1
        tail = buf[tail_at:]
        undecided = _undecided(tail)
        end = tail_at if undecided else len(buf)
        pos = 0  # given out (or dropped) up to here
        for match in _SPECIAL.finditer(buf, 0, end):
            at = match.start()
            if buf[at] == 0x3E:  # ">": a quoted line, one `>` less
                self._give(events, buf[pos:at])
                pos = at + 1
                continue
            # An entry's `From ` line: the newline before it ends the previous entry.
            if at > pos:
                self._give(events, buf[pos : at - 1])
            self._held_newline = False
            if self._in_message:
                events.append(END)
            newline = buf.find(b"\n", at)
            if newline < 0:  # the line goes on in the next piece (it is the tail)
                self._in_message = False
                self._from = bytearray()
                self._keep_from(buf[at:])
                return events
            self._start(events, buf[at:newline])
            pos = newline + 1
        if undecided:
            if tail_at > pos:
                self._give(events, buf[pos : tail_at - 1])
                self._held_newline = True
            ready, self._pending = _quote_run(tail)
            if ready:  # a line of `>`: not a `From ` line, so the newline before it stays
                self._give(events, ready)
        else:
            self._give(events, buf[pos:])
            self._mid_line = True
        return events

    def finish(self) -> list[MboxEvent]:
        """The last events, at the end of the input."""
        events: list[MboxEvent] = []
        if self._from is not None:
            self._start(events, bytes(self._from))
        if self._in_message:
            if self._pending:  # an unfinished line: no final newline to drop
                self._give(events, self._pending)
            events.append(END)
        self._reset()  # ready for another input
        return events

    def _give(self, events: list[MboxEvent], data: bytes) -> None:
        """Gives out the held newline and then `data`, as part of the current message."""
        if self._in_message:
            if self._held_newline:
                events.append(b"\n")
            if data:
                events.append(data)
        self._held_newline = False

    def _start(self, events: list[MboxEvent], line: bytes) -> None:
        events.append(MessageStart(line[:MAX_FROM_LINE]))
        self._from = None
        self._in_message = True
        self._held_newline = False
        self._mid_line = False

    def _keep_from(self, data: bytes) -> None:
        assert self._from is not None
        room = MAX_FROM_LINE - len(self._from)
        if room > 0:
            self._from += data[:room]


def messages(pieces: Iterable[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Each entry of an mbox as (From line, message), whole (for tests and small files)."""
    reader = Reader()
    line = b""
    body: list[bytes] = []

    def complete(events: list[MboxEvent]) -> Iterator[tuple[bytes, bytes]]:
        nonlocal line
        for event in events:
            if isinstance(event, MessageStart):
                line = event.from_line
                body.clear()
            elif isinstance(event, MessageEnd):
                yield line, b"".join(body)
            else:
                body.append(event)

    for piece in pieces:
        yield from complete(reader.feed(piece))
    yield from complete(reader.finish())

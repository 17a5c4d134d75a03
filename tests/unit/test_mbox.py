"""The mbox codec: mboxrd quoting and reading, byte-exact, streaming, in bounded memory."""

from __future__ import annotations

import mailbox
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec import mbox

WHEN = datetime(2026, 11, 3, 14, 2, 1, tzinfo=UTC)

# Fragments that make the interesting cases likely: From lines, quote runs, both line ends.
FRAGMENTS = st.sampled_from(
    [b"From ", b"From", b">", b">>", b">From ", b"\n", b"\r\n", b"\r", b"F", b"x", b" ", b"\xff"]
)
MESSAGE = st.one_of(
    st.lists(FRAGMENTS, max_size=40).map(b"".join),
    st.binary(max_size=200),
)


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    """`data` cut at the given positions (any order, repeats give empty pieces)."""
    start = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts):
        yield data[start:cut]
        start = cut
    yield data[start:]


def quoted_in_pieces(message: bytes, cuts: list[int]) -> bytes:
    quoter = mbox.Quoter()
    return b"".join(quoter.feed(p) for p in split(message, cuts)) + quoter.finish()


def write(messages: list[bytes], cuts: list[int]) -> bytes:
    """An mbox of these messages, each quoted in pieces cut at the same positions."""
    return b"".join(
        mbox.from_line("sam@acme.io", WHEN) + quoted_in_pieces(m, cuts) + mbox.END_OF_ENTRY
        for m in messages
    )


def read(data: bytes, cuts: list[int]) -> list[bytes]:
    return [m for _, m in mbox.messages(split(data, cuts))]


@given(
    st.lists(MESSAGE, max_size=6),
    st.lists(st.integers(min_value=0), max_size=12),
    st.lists(st.integers(min_value=0), max_size=30),
)
@settings(max_examples=600)
def test_write_then_read_gives_the_messages_back(
    messages: list[bytes], write_cuts: list[int], read_cuts: list[int]
) -> None:
    """Any bytes, split anywhere when written and when read, come back exactly: with or
    without a final newline, CRLF, lone CR, `From ` and `>From ` lines, 8-bit bytes."""
    assert read(write(messages, write_cuts), read_cuts) == messages


@given(MESSAGE, st.lists(st.integers(min_value=0), max_size=20))
def test_quoting_does_not_depend_on_where_pieces_end(message: bytes, cuts: list[int]) -> None:
    """Quoting a message in pieces gives the bytes quoting it whole gives."""
    assert quoted_in_pieces(message, cuts) == mbox.quote(message)


@given(st.lists(MESSAGE, max_size=6))
def test_only_entries_start_with_from(messages: list[bytes]) -> None:
    """After quoting, the only lines starting with `From ` are the entries' own."""
    data = write(messages, [])
    lines = data.split(b"\n")
    assert sum(line.startswith(b"From ") for line in lines) == len(messages)


def test_mboxrd_quoting_by_example() -> None:
    """Each `>*From ` line gets one more `>`, others stay; the last line counts too."""
    message = b"From a\n>From b\n>>From c\nFrom\nx From d\n Fromage\r\nFrom e\r\n>From f"
    assert mbox.quote(message) == (
        b">From a\n>>From b\n>>>From c\nFrom\nx From d\n Fromage\r\n>From e\r\n>>From f"
    )


def test_entries_by_example() -> None:
    """A message ending in a newline is followed by a blank line, one without by a newline."""
    assert mbox.entry("", WHEN, b"Subject: a\n\nbody\n") == (
        b"From MAILER-DAEMON Tue Nov  3 14:02:01 2026\nSubject: a\n\nbody\n\n"
    )
    assert mbox.entry("sam@acme.io", WHEN, b"Subject: a\r\n\r\nno end") == (
        b"From sam@acme.io Tue Nov  3 14:02:01 2026\nSubject: a\r\n\r\nno end\n"
    )


def test_from_line_sender_and_time() -> None:
    """The sender must fit on the line (else MAILER-DAEMON); the time is shown in UTC."""
    paris = WHEN.astimezone(timezone(timedelta(hours=1)))
    assert mbox.from_line("jürgen@exämple.de", paris) == (
        "From jürgen@exämple.de Tue Nov  3 14:02:01 2026\n".encode()
    )
    for odd in ("", '"john doe"@example.com', "a\nb@c", "x" * 600):
        assert mbox.from_line(odd, WHEN).startswith(b"From MAILER-DAEMON Tue")


def test_reader_keeps_from_lines_and_skips_a_preamble() -> None:
    """Bytes before the first `From ` line are not a message; each From line is reported."""
    data = b"junk\n\nFrom a@b Mon Jan  1 00:00:00 2026\r\nhi\n\nFrom MAILER-DAEMON x\nyo\n\n"
    assert list(mbox.messages([data])) == [
        (b"From a@b Mon Jan  1 00:00:00 2026\r", b"hi\n"),
        (b"From MAILER-DAEMON x", b"yo\n"),
    ]
    assert list(mbox.messages([b"no from line at all\n"])) == []
    assert list(mbox.messages([])) == []


def test_a_truncated_file_ends_its_last_message() -> None:
    """A file cut inside a From line or a line start still ends its last message."""
    assert read(b"From a\nx\n\nFrom b", []) == [b"x\n", b""]
    assert read(b"From a\nx\nFro", [5, 9]) == [b"x\nFro"]


@given(st.lists(MESSAGE.map(lambda m: m.replace(b"From ", b"Frum ") + b"\n"), max_size=5))
def test_python_mailbox_reads_the_export(messages: list[bytes]) -> None:
    """Python's mailbox finds the same messages, exactly, when they end with a newline and
    have no `From ` lines to unquote (it does not unquote)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.mbox"
        path.write_bytes(write(messages, []))
        box = mailbox.mbox(path, create=False)
        try:
            assert [box.get_bytes(key) for key in box.iterkeys()] == messages
        finally:
            box.close()


def test_python_mailbox_written_file_reads_back() -> None:
    """A file Python's mailbox wrote (a blank line after each message) reads back exactly."""
    bodies = [b"Subject: one\n\n>From first\n", b"Subject: two\n\nsecond\n"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "python.mbox"
        box = mailbox.mbox(path)
        try:
            for body in bodies:
                box.add(mbox.quote(body))  # Python's mailbox does not quote `>From `
            box.flush()
        finally:
            box.close()
        assert read(path.read_bytes(), [7, 30]) == bodies


def test_a_last_message_without_a_blank_line_loses_its_final_newline() -> None:
    """The documented edge for files written elsewhere: the final newline is the separator."""
    assert read(b"From a\none\n\nFrom b\ntwo\n", []) == [b"one\n", b"two"]


def test_memory_stays_bounded_whatever_the_line() -> None:
    """A 4 MiB line of `>` (or of anything) is passed on as it arrives, both ways: at most a
    few bytes wait for the next piece."""
    for line in (b">" * (4 << 20), b"x" * (4 << 20)):
        quoter, reader = mbox.Quoter(), mbox.Reader()
        reader.feed(mbox.from_line("", WHEN))
        fed = given_out = read_out = 0
        for start in range(0, len(line), 64 * 1024):
            piece = line[start : start + 64 * 1024]
            fed += len(piece)
            quoted = quoter.feed(piece)
            given_out += len(quoted)
            read_out += sum(len(e) for e in reader.feed(quoted) if isinstance(e, bytes))
            assert fed - given_out <= 5
            assert fed - read_out <= 10
        rest = quoter.finish()
        events = reader.feed(rest + mbox.END_OF_ENTRY) + reader.finish()
        tail = b"".join(e for e in events if isinstance(e, bytes))
        assert given_out + len(rest) == len(line)
        assert read_out + len(tail) == len(line)
        assert events[-1] == mbox.END
